//! Background jobs through the SQLite task queue: run, retried, buried.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use commerce_core::Error;
use commerce_core::services::{BackgroundJob, JobQueue, JobRegistry, Worker};
use commerce_plugins::sqlite::SqliteDatabase;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Greet {
    name: String,
    fail_times: u32,
}

#[derive(Clone, Default)]
struct Seen {
    runs: Arc<AtomicU32>,
    names: Arc<std::sync::Mutex<Vec<String>>>,
}

impl BackgroundJob for Greet {
    const NAME: &'static str = "greet";
    const MAX_ATTEMPTS: u32 = 2;
    type Context = Seen;

    async fn run(self, seen: Seen) -> commerce_core::Result<()> {
        let run = seen.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run <= self.fail_times {
            return Err(Error::Conflict("not yet".into()));
        }
        seen.names.lock().unwrap().push(self.name);
        Ok(())
    }
}

async fn queue() -> (JobQueue, Arc<SqliteDatabase>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let database = Arc::new(SqliteDatabase::connect(&url, 4).await.unwrap());
    database.migrate().await.unwrap();
    (JobQueue::new(database.clone()), database, dir)
}

#[tokio::test]
async fn a_queued_job_runs_with_its_context() {
    let (jobs, _db, _dir) = queue().await;
    let seen = Seen::default();
    let mut registry = JobRegistry::default();
    registry.register::<Greet>(seen.clone()).unwrap();
    assert!(
        registry.register::<Greet>(seen.clone()).is_err(),
        "names are unique"
    );

    jobs.enqueue(&Greet {
        name: "ann".into(),
        fail_times: 0,
    })
    .await
    .unwrap();
    let worker = Worker::new(jobs, registry);
    assert!(worker.run_one().await.unwrap());
    assert!(!worker.run_one().await.unwrap(), "completed tasks are gone");
    assert_eq!(*seen.names.lock().unwrap(), ["ann"]);
}

#[tokio::test]
async fn a_failing_job_is_retried_later_then_buried() {
    let (jobs, db, _dir) = queue().await;
    let seen = Seen::default();
    let mut registry = JobRegistry::default();
    registry.register::<Greet>(seen.clone()).unwrap();
    jobs.enqueue(&Greet {
        name: "bob".into(),
        fail_times: 5,
    })
    .await
    .unwrap();
    let worker = Worker::new(jobs, registry);

    assert!(worker.run_one().await.unwrap());
    assert!(
        !worker.run_one().await.unwrap(),
        "the retry waits for its backoff"
    );
    let (attempts, buried): (i64, bool) =
        sqlx::query_as("SELECT attempts, buried_at IS NOT NULL FROM tasks")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((attempts, buried), (1, false));

    // Make it due now; its second failure is its last.
    sqlx::query("UPDATE tasks SET run_at = '2000-01-01T00:00:00Z'")
        .execute(db.pool())
        .await
        .unwrap();
    assert!(worker.run_one().await.unwrap());
    let (attempts, buried, error): (i64, bool, String) =
        sqlx::query_as("SELECT attempts, buried_at IS NOT NULL, last_error FROM tasks")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((attempts, buried), (2, true));
    assert!(error.contains("not yet"), "{error}");
    assert!(seen.names.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_task_without_a_handler_is_not_lost_silently() {
    let (jobs, db, _dir) = queue().await;
    jobs.enqueue(&Greet {
        name: "orphan".into(),
        fail_times: 0,
    })
    .await
    .unwrap();
    let worker = Worker::new(jobs, JobRegistry::default());
    assert!(worker.run_one().await.unwrap());
    let last_error: Option<String> = sqlx::query_scalar("SELECT last_error FROM tasks")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(last_error.is_some_and(|e| e.contains("handler")));
}
