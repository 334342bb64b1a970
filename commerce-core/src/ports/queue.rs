//! A durable queue of background tasks.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{TaskId, Timestamp};
use crate::error::Result;

/// A task to run later.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// The job's persisted name (`BackgroundJob::NAME`), which picks its handler.
    pub job: String,
    /// The job's arguments, as JSON.
    pub payload: serde_json::Value,
    /// Not before this moment.
    pub run_at: Timestamp,
    /// How many times it may be tried before it is given up on.
    pub max_attempts: u32,
}

/// A task a worker has claimed for a while.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTask {
    /// Its id.
    pub id: TaskId,
    /// The job's persisted name.
    pub job: String,
    /// The job's arguments.
    pub payload: serde_json::Value,
    /// How many times it has been claimed, this time included.
    pub attempt: u32,
    /// How many times it may be tried in all.
    pub max_attempts: u32,
}

impl ClaimedTask {
    /// This claim of the task, for recording its outcome.
    pub fn claim(&self) -> TaskClaim {
        TaskClaim {
            id: self.id,
            attempt: self.attempt,
        }
    }
}

/// One claim of a task: the task, and the attempt the claim began. Outcomes are recorded for
/// a claim, so that a worker whose lease ran out, the task since claimed again by another,
/// changes nothing when it reports late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskClaim {
    /// The task.
    pub id: TaskId,
    /// The attempt this claim began ([`ClaimedTask::attempt`]).
    pub attempt: u32,
}

/// Tasks of one job that no worker has taken for a long while: see [`TaskQueue::stranded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrandedJob {
    /// The job's persisted name.
    pub job: String,
    /// How many of its tasks are stranded.
    pub tasks: u64,
    /// When the longest-waiting of them fell due.
    pub oldest_due: Timestamp,
}

/// A task given up on, kept with its last error: see [`TaskQueue::bury`].
#[derive(Debug, Clone, PartialEq)]
pub struct BuriedTask {
    /// Its id.
    pub id: TaskId,
    /// The job's persisted name.
    pub job: String,
    /// The job's arguments.
    pub payload: serde_json::Value,
    /// How many times it was claimed.
    pub attempts: u32,
    /// Why its last attempt failed.
    pub last_error: Option<String>,
    /// When it was given up on.
    pub buried_at: Timestamp,
}

/// A queue of tasks that survives restarts.
///
/// Delivery is at least once: a task claimed by a worker that dies becomes claimable again when
/// its lease runs out, so handlers must be idempotent. Every outcome (`complete`, `retry`,
/// `bury`) names the claim it is for, and changes nothing unless that claim is the task's
/// latest.
#[async_trait]
pub trait TaskQueue: Send + Sync + 'static {
    /// Adds a task.
    async fn enqueue(&self, task: NewTask) -> Result<TaskId>;

    /// Claims the oldest due task of one of `jobs` for `lease`; no other worker gets it until
    /// the lease runs out or the task is retried. Concurrent claims never return the same task.
    ///
    /// `jobs` are the persisted names the caller can run. Tasks of other jobs are left as
    /// they are, their attempts uncounted: during a rolling deploy, the tasks of a job only the
    /// new version knows wait for an instance of it rather than being tried and given up on by
    /// the old ones.
    async fn claim(
        &self,
        jobs: &[&str],
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<ClaimedTask>>;

    /// Claims up to `limit` due tasks of `jobs`, oldest first, as [`claim`](Self::claim)
    /// claims one.
    ///
    /// The default claims them one by one; a backend that can claim several in one statement
    /// overrides it, so that a busy worker pays one round trip per batch, not per task.
    async fn claim_many(
        &self,
        jobs: &[&str],
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedTask>> {
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            match self.claim(jobs, now, lease).await? {
                Some(task) => claimed.push(task),
                None => break,
            }
        }
        Ok(claimed)
    }

    /// Removes a task that ran successfully under `claim`.
    async fn complete(&self, claim: TaskClaim) -> Result<()>;

    /// Removes tasks that ran successfully under these claims. The default completes them one
    /// by one; a backend that can delete several in one statement overrides it.
    async fn complete_many(&self, claims: &[TaskClaim]) -> Result<()> {
        for claim in claims {
            self.complete(*claim).await?;
        }
        Ok(())
    }

    /// Makes a task that failed under `claim` claimable again at `run_at`, recording why it
    /// failed.
    async fn retry(&self, claim: TaskClaim, run_at: Timestamp, error: &str) -> Result<()>;

    /// Gives up on a task that failed under `claim`, keeping it with its last error for
    /// inspection.
    async fn bury(&self, claim: TaskClaim, error: &str) -> Result<()>;

    /// The tasks of jobs other than `jobs` that have been due for longer than `due_for` at
    /// `now`, unclaimed (never claimed, or their last lease run out) and not buried, counted
    /// per job in name order.
    ///
    /// A worker claims only the jobs it knows, so these are tasks no worker that knows them
    /// has come for: a job whose workers are down, or one that no deployed version has any
    /// more. Left alone they wait for ever, and every claim reads past them.
    async fn stranded(
        &self,
        jobs: &[&str],
        now: Timestamp,
        due_for: Duration,
    ) -> Result<Vec<StrandedJob>>;

    /// Buried tasks, the most recently buried first, at most `limit` of them.
    async fn buried(&self, limit: usize) -> Result<Vec<BuriedTask>>;

    /// Gives the buried tasks among `ids` `attempts` more tries, the first at `run_at`, and
    /// returns how many there were; other ids are passed over. What buried a task is usually
    /// fixed outside the shop (a mail server's credentials), after which an operator brings
    /// its tasks back.
    ///
    /// Attempts go on counting from where they stopped, never from zero, and the requeue
    /// itself takes a number, so that an outcome reported late for any of the task's earlier
    /// claims, the one that buried it included, changes nothing: the next claim's attempt is
    /// two past the last one's.
    async fn requeue(&self, ids: &[TaskId], run_at: Timestamp, attempts: u32) -> Result<u64>;

    /// Deletes the buried tasks among `ids` and returns how many there were; other ids are
    /// passed over, so a task that was requeued meanwhile is kept. For tasks no fix will let
    /// succeed: a mail to an address that no longer exists.
    async fn discard(&self, ids: &[TaskId]) -> Result<u64>;

    /// Waits until a task may have become due, or `timeout` has passed: an idle worker calls
    /// this between claims.
    ///
    /// Returning early is a hint, not a promise: the caller must still [`claim`](Self::claim),
    /// which may find nothing, and a task may become due without an early return, so callers
    /// keep `timeout` short enough to serve as a poll. The default sleeps for `timeout`; a
    /// backend that can hear of new tasks (PostgreSQL's LISTEN/NOTIFY) returns as soon as one
    /// is enqueued or retried by any process. Never fails: a backend that cannot listen now
    /// falls back to sleeping.
    async fn wait_for_tasks(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }
}
