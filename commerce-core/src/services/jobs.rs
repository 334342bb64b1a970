//! Background jobs: typed work items run by a worker from the task queue.
//!
//! A job is a serialisable struct with a persisted [`BackgroundJob::NAME`] and a typed context
//! (the ports it needs). Names are written by hand, never derived from the type name, so that
//! renaming a struct does not orphan the tasks already queued under the old name.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::domain::TaskId;
use crate::error::{Error, Result};
use crate::ports::{ClaimedTask, NewTask, StrandedJob, TaskQueue};

/// The most tasks a worker claims at once.
pub const BATCH: usize = 32;

/// How long a task of a job the worker does not know may have been due before the worker
/// warns of it, and how often it looks: long enough for any rolling deploy to have brought up
/// the instances that run it.
const STRANDED_AFTER: Duration = Duration::from_secs(60 * 60);

/// A unit of background work.
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + 'static {
    /// The persisted name that routes queued tasks to this job. Never change it once shipped.
    const NAME: &'static str;
    /// How many times it is tried before it is buried.
    const MAX_ATTEMPTS: u32 = 5;
    /// What the job needs to run: the ports it uses, nothing more.
    type Context: Clone + Send + Sync + 'static;

    /// Does the work. Must be idempotent: delivery is at least once.
    fn run(self, context: Self::Context) -> impl Future<Output = Result<()>> + Send;
}

type Handler = Arc<dyn Fn(serde_json::Value) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// The jobs a worker can run, by persisted name.
#[derive(Clone, Default)]
pub struct JobRegistry {
    handlers: HashMap<&'static str, Handler>,
}

impl JobRegistry {
    /// Registers `J` with its context. Fails when another job already uses `J::NAME`.
    pub fn register<J: BackgroundJob>(&mut self, context: J::Context) -> Result<(), String> {
        if self.handlers.contains_key(J::NAME) {
            return Err(format!(
                "two jobs are registered under the name {:?}",
                J::NAME
            ));
        }
        let handler: Handler = Arc::new(move |payload| {
            let context = context.clone();
            Box::pin(async move {
                // Worth retrying: during a rolling deploy, an instance of the other version
                // may read what this one cannot.
                let job: J = serde_json::from_value(payload)
                    .map_err(|e| Error::unavailable("job payload", e))?;
                job.run(context).await
            })
        });
        self.handlers.insert(J::NAME, handler);
        Ok(())
    }

    /// The names of the registered jobs.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }
}

/// Enqueues typed jobs and wakes this process's worker.
#[derive(Clone)]
pub struct JobQueue {
    queue: Arc<dyn TaskQueue>,
    wake: Arc<Notify>,
}

impl JobQueue {
    /// A queue over the task-queue port.
    pub fn new(queue: Arc<dyn TaskQueue>) -> Self {
        Self {
            queue,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues `job` to run as soon as a worker is free.
    pub async fn enqueue<J: BackgroundJob>(&self, job: &J) -> Result<TaskId> {
        let payload = serde_json::to_value(job).map_err(|e| Error::backend("job payload", e))?;
        let id = self
            .queue
            .enqueue(NewTask {
                job: J::NAME.to_owned(),
                payload,
                run_at: Utc::now(),
                max_attempts: J::MAX_ATTEMPTS,
            })
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Hurries this process's worker, e.g. after a task was queued inside a store's own
    /// transaction rather than through [`enqueue`](Self::enqueue).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The port underneath.
    pub fn port(&self) -> &Arc<dyn TaskQueue> {
        &self.queue
    }
}

/// Claims tasks and runs their jobs until told to stop.
pub struct Worker {
    queue: JobQueue,
    registry: JobRegistry,
    /// The registry's job names: what the worker claims.
    jobs: Vec<&'static str>,
    /// How long a claimed task stays invisible to other workers.
    lease: Duration,
    /// How often an idle worker looks for tasks queued by other processes, at the latest.
    idle_poll: Duration,
}

impl Worker {
    /// A worker for these jobs.
    pub fn new(queue: JobQueue, registry: JobRegistry) -> Self {
        let mut jobs: Vec<_> = registry.names().collect();
        jobs.sort_unstable();
        Self {
            queue,
            jobs,
            registry,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
        }
    }

    /// Claims tasks for `lease` at a time (default one minute): how long a claimed task stays
    /// invisible to other workers, and so, with a quarter kept back for recording outcomes,
    /// how long a job may run before it is stopped and retried.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The longest a job may run. Every job of a batch must end, and its outcome be recorded,
    /// while the batch's lease holds: past it another worker may claim the task and run it a
    /// second time (a second confirmation mail), and this worker's late outcome would be
    /// recorded over that worker's claim.
    fn time_limit(&self) -> Duration {
        self.lease * 3 / 4
    }

    /// Runs until `shutdown` completes; the batch in progress is finished first, and no other
    /// claimed. Hourly, and once at the start, warns of [stranded tasks](Self::stranded_tasks).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        use futures::FutureExt as _;
        tokio::pin!(shutdown);
        let mut next_stranded_check = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_stranded_check {
                self.warn_of_stranded_tasks().await;
                next_stranded_check += STRANDED_AFTER;
            }
            match self.run_batch().await {
                Ok(0) => {}
                // Checked between full batches too: with a backlog, or retries falling due
                // every few seconds, a batch may never come back empty.
                Ok(_) if shutdown.as_mut().now_or_never().is_some() => return,
                Ok(_) => continue,
                Err(error) => tracing::warn!(%error, "task queue unavailable"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.queue.wake.notified() => {}
                () = self.queue.port().wait_for_tasks(self.idle_poll) => {}
            }
        }
    }

    /// Claims up to [`BATCH`] due tasks of the registered jobs and runs them side by side;
    /// answers how many ran (zero when none was due).
    ///
    /// A busy queue thus costs two statements per batch (claim and complete) rather than two
    /// per task, and slow jobs (mail over the network) overlap. Failures are retried or
    /// buried one by one, which is rare enough not to matter.
    pub async fn run_batch(&self) -> Result<usize> {
        let port = self.queue.port();
        let tasks = port
            .claim_many(&self.jobs, Utc::now(), self.lease, BATCH)
            .await?;
        let time_limit = self.time_limit();
        let outcomes = futures::future::join_all(tasks.iter().map(|task| {
            let job = match self.registry.handlers.get(task.job.as_str()) {
                Some(handler) => handler(task.payload.clone()),
                // Only from a queue that ignored the names it was asked for.
                None => Box::pin(async { Err(Error::NotFound("job handler")) }),
            };
            async move {
                // Stopped, the job may have done part of its work: jobs are idempotent, as a
                // crashed worker's are run again too.
                tokio::time::timeout(time_limit, job)
                    .await
                    .unwrap_or_else(|_| Err(Error::unavailable("worker", "job ran out of time")))
            }
        }))
        .await;
        let mut done = Vec::with_capacity(tasks.len());
        let mut failed = Vec::new();
        for (task, outcome) in tasks.iter().zip(outcomes) {
            match outcome {
                Ok(()) => done.push(task.claim()),
                Err(error) => failed.push((task, error)),
            }
        }
        // Successes first: were they left for after a failure's record, one that could not be
        // written would have them run again, and their mails sent twice, once the lease ran out.
        if !done.is_empty() {
            port.complete_many(&done).await?;
        }
        let mut first_error = None;
        for (task, error) in failed {
            if let Err(unrecorded) = self.failed(task, &error).await {
                first_error.get_or_insert(unrecorded);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(tasks.len()),
        }
    }

    /// Tasks of jobs this worker does not run that have been due for over an hour: no worker
    /// that runs them is up, or no deployed version has their job any more. They wait until
    /// one is, or until someone deletes them.
    pub async fn stranded_tasks(&self) -> Result<Vec<StrandedJob>> {
        self.queue
            .port()
            .stranded(&self.jobs, Utc::now(), STRANDED_AFTER)
            .await
    }

    async fn warn_of_stranded_tasks(&self) {
        // An unavailable queue is reported by the claims that follow.
        let Ok(stranded) = self.stranded_tasks().await else {
            return;
        };
        for job in stranded {
            tracing::warn!(
                job = %job.job,
                tasks = job.tasks,
                oldest_due = %job.oldest_due,
                "tasks of a job this worker does not run have waited over an hour; \
                 start a worker that runs it, or delete them"
            );
        }
    }

    async fn failed(&self, task: &ClaimedTask, error: &Error) -> Result<()> {
        let port = self.queue.port();
        let message = with_causes(error);
        if !error.may_pass_on_retry() {
            // A mail server's permanent refusal, say: asking again would only be refused again.
            tracing::error!(job = %task.job, task = %task.id, error = %message, "task failed in a way no retry can fix");
            return port.bury(task.claim(), &message).await;
        }
        if task.attempt >= task.max_attempts {
            tracing::error!(job = %task.job, task = %task.id, error = %message, "task failed for the last time");
            return port.bury(task.claim(), &message).await;
        }
        // Exponential backoff: 2 s, 4 s, 8 s, … capped at an hour.
        let delay = 2u64.saturating_pow(task.attempt).min(3600);
        tracing::warn!(job = %task.job, task = %task.id, attempt = task.attempt, error = %message, "task failed, retrying");
        let run_at = Utc::now() + chrono::Duration::seconds(delay as i64);
        port.retry(task.claim(), run_at, &message).await
    }
}

/// An error and its causes, as in `smtp is unavailable: connection refused`: what a task's
/// record and the log keep, for whoever looks into a failing job.
fn with_causes(error: &Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
