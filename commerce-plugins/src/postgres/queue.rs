//! The task queue, in the same database as the data it concerns, with wake-ups by
//! LISTEN/NOTIFY.
//!
//! `enqueue` and `retry` notify the [`CHANNEL`] in the statement that writes the task, so the
//! notification is sent when (and only if) the write commits. One listener connection per
//! [`PostgresDatabase`] relays notifications to the workers waiting in
//! [`TaskQueue::wait_for_tasks`]; a worker that misses one (the listener was reconnecting)
//! still finds the task at its next poll.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use commerce_core::domain::{TaskId, Timestamp};
use commerce_core::ports::{BuriedTask, ClaimedTask, NewTask, StrandedJob, TaskClaim, TaskQueue};
use commerce_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{BACKEND, PostgresDatabase, db_error};
use crate::rows::{BuriedRow, MOST_ATTEMPTS, StrandedRow, due_before};

/// The channel `enqueue` and `retry` notify. Shared by every shop on one database, which is
/// harmless: a spurious wake-up costs one claim that finds nothing.
pub(super) const CHANNEL: &str = "commerce_tasks";

/// How long the listener waits before reconnecting at first; doubled up to a minute while the
/// database stays away.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(60);

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    job: String,
    payload: serde_json::Value,
    attempts: i32,
    max_attempts: i32,
    run_at: Timestamp,
}

/// A claim's attempt as the `INTEGER` column holds it.
fn attempt(claim: &TaskClaim) -> i32 {
    i32::try_from(claim.attempt).unwrap_or(i32::MAX)
}

#[async_trait]
impl TaskQueue for PostgresDatabase {
    async fn enqueue(&self, task: NewTask) -> Result<TaskId> {
        // pg_notify in the same statement: one round trip, and the notification is delivered
        // at commit, when a woken worker can already see the row.
        let id: i64 = sqlx::query_scalar(
            "WITH task AS (
                 INSERT INTO tasks (job, payload, run_at, max_attempts, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id)
             SELECT id FROM task, pg_notify($6, '')",
        )
        .bind(&task.job)
        .bind(&task.payload)
        .bind(task.run_at)
        .bind(i32::try_from(task.max_attempts).unwrap_or(i32::MAX))
        .bind(Utc::now())
        .bind(CHANNEL)
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
        // SKIP LOCKED: a worker passes over rows another worker is claiming right now instead
        // of waiting for them, and the row locks keep two workers from taking the same task.
        let mut rows = sqlx::query_as::<_, ClaimedRow>(
            "UPDATE tasks SET attempts = attempts + 1, locked_until = $2
             WHERE id IN (
                 SELECT id FROM tasks
                 WHERE buried_at IS NULL AND run_at <= $1
                   AND (locked_until IS NULL OR locked_until <= $1)
                   AND job = ANY($4)
                 ORDER BY run_at, id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, job, payload, attempts, max_attempts, run_at",
        )
        .bind(now)
        .bind(locked_until)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(jobs)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        // RETURNING follows no particular order.
        rows.sort_by_key(|row| (row.run_at, row.id));
        Ok(rows
            .into_iter()
            .map(|row| ClaimedTask {
                id: TaskId(row.id),
                job: row.job,
                payload: row.payload,
                attempt: u32::try_from(row.attempts).unwrap_or(0),
                max_attempts: u32::try_from(row.max_attempts).unwrap_or(0),
            })
            .collect())
    }

    async fn complete(&self, claim: TaskClaim) -> Result<()> {
        self.complete_many(&[claim]).await
    }

    async fn complete_many(&self, claims: &[TaskClaim]) -> Result<()> {
        sqlx::query(
            "DELETE FROM tasks t USING UNNEST($1::BIGINT[], $2::INTEGER[]) AS claim (id, attempt)
             WHERE t.id = claim.id AND t.attempts = claim.attempt",
        )
        .bind(claims.iter().map(|claim| claim.id.0).collect::<Vec<_>>())
        .bind(claims.iter().map(attempt).collect::<Vec<_>>())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn retry(&self, claim: TaskClaim, run_at: Timestamp, error: &str) -> Result<()> {
        sqlx::query(
            "WITH task AS (
                 UPDATE tasks SET run_at = $2, locked_until = NULL, last_error = $3
                 WHERE id = $1 AND attempts = $5 RETURNING id)
             SELECT id FROM task, pg_notify($4, '')",
        )
        .bind(claim.id.0)
        .bind(run_at)
        .bind(error)
        .bind(CHANNEL)
        .bind(attempt(&claim))
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
        .bind(attempt(&claim))
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
               AND job <> ALL($1)
             GROUP BY job ORDER BY job",
        )
        .bind(jobs)
        .bind(due_before)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(StrandedJob::from).collect())
    }

    async fn buried(&self, limit: usize) -> Result<Vec<BuriedTask>> {
        let rows: Vec<BuriedRow> = sqlx::query_as(
            "SELECT id, job, payload::text AS payload, attempts::bigint AS attempts, last_error,
                 buried_at
             FROM tasks WHERE buried_at IS NOT NULL ORDER BY buried_at DESC, id DESC LIMIT $1",
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
        // Notifies as `retry` does: the tasks may be due at once.
        let requeued: i64 = sqlx::query_scalar(
            "WITH requeued AS (
                 UPDATE tasks SET buried_at = NULL, run_at = $2,
                     attempts = LEAST(attempts::bigint + 1, $4)::integer,
                     max_attempts = LEAST(attempts::bigint + 1 + $3, $4)::integer
                 WHERE buried_at IS NOT NULL AND id = ANY($1) RETURNING id)
             SELECT count(*) FROM requeued, pg_notify($5, '')",
        )
        .bind(&ids)
        .bind(run_at)
        .bind(i64::from(attempts))
        .bind(MOST_ATTEMPTS)
        .bind(CHANNEL)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(u64::try_from(requeued).unwrap_or(0))
    }

    async fn discard(&self, ids: &[TaskId]) -> Result<u64> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let discarded =
            sqlx::query("DELETE FROM tasks WHERE buried_at IS NOT NULL AND id = ANY($1)")
                .bind(&ids)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(discarded.rows_affected())
    }

    async fn wait_for_tasks(&self, timeout: Duration) {
        // Registered before the listener may start, so a notification relayed in between
        // still wakes this waiter.
        let woken = self.wakeups.notify.notified();
        self.wakeups.start();
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(timeout) => {}
        }
    }
}

/// Relays notifications on [`CHANNEL`] to waiting workers.
///
/// The listener starts with the first wait, so a process that never runs a worker (a CLI
/// command, a test) opens no extra connection. It has a connection of its own, outside the
/// pool, because it holds it for as long as it listens. It stops when the last clone of its
/// [`PostgresDatabase`] is dropped, and is started again by the next wait if it ever ended
/// otherwise (its runtime shut down).
pub(super) struct TaskWakeups {
    options: Arc<PgConnectOptions>,
    notify: Arc<Notify>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl TaskWakeups {
    /// Wake-ups for the database these options connect to; nothing happens until a wait.
    pub(super) fn new(options: Arc<PgConnectOptions>) -> Self {
        Self {
            options,
            notify: Arc::new(Notify::new()),
            listener: Mutex::new(None),
        }
    }

    /// Starts the listener unless it runs already. Must be called within a tokio runtime.
    fn start(&self) {
        // Poisoned only if a panic interrupted this very function; the handle is still sound.
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_none_or(JoinHandle::is_finished) {
            *listener = Some(tokio::spawn(relay(
                PgConnectOptions::clone(&self.options),
                self.notify.clone(),
            )));
        }
    }
}

impl Drop for TaskWakeups {
    fn drop(&mut self) {
        let listener = self.listener.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(listener) = listener {
            listener.abort();
        }
    }
}

impl fmt::Debug for TaskWakeups {
    // By hand: the connect options hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskWakeups")
            .field("channel", &CHANNEL)
            .finish_non_exhaustive()
    }
}

/// Listens on [`CHANNEL`] forever, waking every waiter on each notification, reconnecting with
/// a growing delay while the database is away.
async fn relay(options: PgConnectOptions, notify: Arc<Notify>) {
    // A pool of one is how PgListener reconnects; no idle or lifetime limit, since the one
    // connection is meant to stay open.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut delay = RECONNECT_DELAY;
    loop {
        match listen(&pool).await {
            Ok(mut listener) => {
                delay = RECONNECT_DELAY;
                // Tasks enqueued while nobody listened went unannounced: let waiters look.
                notify.notify_waiters();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => notify.notify_waiters(),
                        // The connection was lost and has been re-established; notifications
                        // sent meanwhile are gone, so waiters look for themselves.
                        Ok(None) => notify.notify_waiters(),
                        Err(error) => {
                            tracing::warn!(%error, "task queue listener lost its connection");
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?delay, "task queue listener cannot connect");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
    }
}

async fn listen(pool: &sqlx::PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.map_err(db_error)?;
    listener.listen(CHANNEL).await.map_err(db_error)?;
    Ok(listener)
}
