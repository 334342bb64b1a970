//! The task queue, in the same database as the data it concerns.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use commerce_core::domain::{TaskId, Timestamp};
use commerce_core::ports::{ClaimedTask, NewTask, TaskQueue};
use commerce_core::{Error, Result};

use super::{BACKEND, SqliteDatabase, db_error};

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    job: String,
    payload: String,
    attempts: i64,
    max_attempts: i64,
}

#[async_trait]
impl TaskQueue for SqliteDatabase {
    async fn enqueue(&self, task: NewTask) -> Result<TaskId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tasks (job, payload, run_at, max_attempts, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&task.job)
        .bind(task.payload.to_string())
        .bind(task.run_at)
        .bind(i64::from(task.max_attempts))
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(TaskId(id))
    }

    async fn claim(&self, now: Timestamp, lease: Duration) -> Result<Option<ClaimedTask>> {
        let locked_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        // A single UPDATE is atomic in SQLite: two workers can never claim one task.
        let row = sqlx::query_as::<_, ClaimedRow>(
            "UPDATE tasks SET attempts = attempts + 1, locked_until = $2
             WHERE id = (
                 SELECT id FROM tasks
                 WHERE buried_at IS NULL AND run_at <= $1
                   AND (locked_until IS NULL OR locked_until <= $1)
                 ORDER BY run_at, id LIMIT 1)
             RETURNING id, job, payload, attempts, max_attempts",
        )
        .bind(now)
        .bind(locked_until)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| {
            Ok(ClaimedTask {
                id: TaskId(row.id),
                job: row.job,
                payload: serde_json::from_str(&row.payload)
                    .map_err(|e| Error::backend(BACKEND, e))?,
                attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                max_attempts: u32::try_from(row.max_attempts).unwrap_or(u32::MAX),
            })
        })
        .transpose()
    }

    async fn complete(&self, id: TaskId) -> Result<()> {
        sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn retry(&self, id: TaskId, run_at: Timestamp, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET run_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1",
        )
        .bind(id.0)
        .bind(run_at)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn bury(&self, id: TaskId, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET buried_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1",
        )
        .bind(id.0)
        .bind(Utc::now())
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
