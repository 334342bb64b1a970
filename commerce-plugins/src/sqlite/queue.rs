//! The task queue, in the same database as the data it concerns.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use commerce_core::domain::{TaskId, Timestamp};
use commerce_core::ports::{BuriedTask, ClaimedTask, NewTask, StrandedJob, TaskClaim, TaskQueue};
use commerce_core::{Error, Result};

use super::{BACKEND, SqliteDatabase, db_error};
use crate::rows::{BuriedRow, MOST_ATTEMPTS, StrandedRow, due_before};

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    job: String,
    payload: String,
    attempts: i64,
    max_attempts: i64,
    run_at: Timestamp,
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

    async fn claim(
        &self,
        jobs: &[&str],
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<ClaimedTask>> {
        Ok(self
            .claim_many(jobs, now, lease, 1)
            .await?
            .into_iter()
            .next())
    }

    async fn claim_many(
        &self,
        jobs: &[&str],
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedTask>> {
        let locked_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        // A single UPDATE is atomic in SQLite: two workers can never claim one task.
        let mut rows = sqlx::query_as::<_, ClaimedRow>(
            "UPDATE tasks SET attempts = attempts + 1, locked_until = $2
             WHERE id IN (
                 SELECT id FROM tasks
                 WHERE buried_at IS NULL AND run_at <= $1
                   AND (locked_until IS NULL OR locked_until <= $1)
                   AND job IN (SELECT value FROM json_each($4))
                 ORDER BY run_at, id LIMIT $3)
             RETURNING id, job, payload, attempts, max_attempts, run_at",
        )
        .bind(now)
        .bind(locked_until)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(serde_json::to_string(jobs).map_err(|e| Error::backend(BACKEND, e))?)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        // RETURNING follows no particular order.
        rows.sort_by_key(|row| (row.run_at, row.id));
        rows.into_iter()
            .map(|row| {
                Ok(ClaimedTask {
                    id: TaskId(row.id),
                    job: row.job,
                    payload: serde_json::from_str(&row.payload)
                        .map_err(|e| Error::backend(BACKEND, e))?,
                    attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                    max_attempts: u32::try_from(row.max_attempts).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn complete(&self, claim: TaskClaim) -> Result<()> {
        self.complete_many(&[claim]).await
    }

    async fn complete_many(&self, claims: &[TaskClaim]) -> Result<()> {
        // One statement whatever the number: SQLite has no arrays, but reads JSON ones.
        let claims: Vec<[i64; 2]> = claims
            .iter()
            .map(|claim| [claim.id.0, i64::from(claim.attempt)])
            .collect();
        sqlx::query(
            "DELETE FROM tasks WHERE (id, attempts) IN (
                 SELECT value ->> 0, value ->> 1 FROM json_each($1))",
        )
        .bind(serde_json::json!(claims).to_string())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn retry(&self, claim: TaskClaim, run_at: Timestamp, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET run_at = $2, locked_until = NULL, last_error = $3
             WHERE id = $1 AND attempts = $4",
        )
        .bind(claim.id.0)
        .bind(run_at)
        .bind(error)
        .bind(i64::from(claim.attempt))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn bury(&self, claim: TaskClaim, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET buried_at = $2, locked_until = NULL, last_error = $3
             WHERE id = $1 AND attempts = $4",
        )
        .bind(claim.id.0)
        .bind(Utc::now())
        .bind(error)
        .bind(i64::from(claim.attempt))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn stranded(
        &self,
        jobs: &[&str],
        now: Timestamp,
        due_for: Duration,
    ) -> Result<Vec<StrandedJob>> {
        let Some(due_before) = due_before(now, due_for) else {
            return Ok(Vec::new());
        };
        let rows: Vec<StrandedRow> = sqlx::query_as(
            "SELECT job, COUNT(*) AS tasks, MIN(run_at) AS oldest_due FROM tasks
             WHERE buried_at IS NULL AND run_at <= $2
               AND (locked_until IS NULL OR locked_until <= $3)
               AND job NOT IN (SELECT value FROM json_each($1))
             GROUP BY job ORDER BY job",
        )
        .bind(serde_json::to_string(jobs).map_err(|e| Error::backend(BACKEND, e))?)
        .bind(due_before)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(StrandedJob::from).collect())
    }

    async fn buried(&self, limit: usize) -> Result<Vec<BuriedTask>> {
        let rows: Vec<BuriedRow> = sqlx::query_as(
            "SELECT id, job, payload, attempts, last_error, buried_at FROM tasks
             WHERE buried_at IS NOT NULL ORDER BY buried_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|row| row.into_task().map_err(|e| Error::backend(BACKEND, e)))
            .collect()
    }

    async fn requeue(&self, ids: &[TaskId], run_at: Timestamp, attempts: u32) -> Result<u64> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let requeued = sqlx::query(
            "UPDATE tasks SET buried_at = NULL, run_at = $2, attempts = attempts + 1,
                 max_attempts = MIN(attempts + 1 + $3, $4)
             WHERE buried_at IS NOT NULL AND id IN (SELECT value FROM json_each($1))",
        )
        .bind(serde_json::json!(ids).to_string())
        .bind(run_at)
        .bind(i64::from(attempts))
        .bind(MOST_ATTEMPTS)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(requeued.rows_affected())
    }

    async fn discard(&self, ids: &[TaskId]) -> Result<u64> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let discarded = sqlx::query(
            "DELETE FROM tasks
             WHERE buried_at IS NOT NULL AND id IN (SELECT value FROM json_each($1))",
        )
        .bind(serde_json::json!(ids).to_string())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(discarded.rows_affected())
    }
}
