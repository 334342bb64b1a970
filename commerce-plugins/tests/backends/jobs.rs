//! Background jobs through the SQLite task queue: run in batches, retried, buried; and the
//! order confirmation a checkout queues.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use commerce_core::Error;
use commerce_core::domain::{Currency, OrderId, OrderItem};
use commerce_core::ports::{
    Mailer, NewOrder, NewTask, OrderStore, OutgoingMail, PlaceOrderOutcome,
};
use commerce_core::services::jobs::BATCH;
use commerce_core::services::orders::{
    ConfirmationContext, PlacedLine, PlacedOrder, SendOrderConfirmation,
};
use commerce_core::services::{BackgroundJob, JobQueue, JobRegistry, Worker};
use commerce_core::testkit::orders::{product, user};
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

/// The one task queued: its attempts so far, whether it is buried, and its last error.
async fn the_task(db: &SqliteDatabase) -> (i64, bool, Option<String>) {
    sqlx::query_as("SELECT attempts, buried_at IS NOT NULL, last_error FROM tasks")
        .fetch_one(db.pool())
        .await
        .unwrap()
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

    for name in ["ann", "bob", "cyd"] {
        jobs.enqueue(&Greet {
            name: name.into(),
            fail_times: 0,
        })
        .await
        .unwrap();
    }
    let worker = Worker::new(jobs, registry);
    assert_eq!(worker.run_batch().await.unwrap(), 3, "one batch takes all");
    assert_eq!(
        worker.run_batch().await.unwrap(),
        0,
        "completed tasks are gone"
    );
    let mut names = seen.names.lock().unwrap().clone();
    names.sort();
    assert_eq!(names, ["ann", "bob", "cyd"]);
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
    // In the same batch: its success is recorded whatever befalls the other.
    jobs.enqueue(&Greet {
        name: "cyd".into(),
        fail_times: 0,
    })
    .await
    .unwrap();
    let worker = Worker::new(jobs, registry);

    assert_eq!(worker.run_batch().await.unwrap(), 2);
    assert_eq!(
        worker.run_batch().await.unwrap(),
        0,
        "the retry waits for its backoff"
    );
    let (attempts, buried, _) = the_task(&db).await;
    assert_eq!((attempts, buried), (1, false));

    // Make it due now; its second failure is its last.
    sqlx::query("UPDATE tasks SET run_at = '2000-01-01T00:00:00Z'")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(worker.run_batch().await.unwrap(), 1);
    let (attempts, buried, error) = the_task(&db).await;
    let error = error.unwrap();
    assert_eq!((attempts, buried), (2, true));
    assert!(error.contains("not yet"), "{error}");
    assert_eq!(*seen.names.lock().unwrap(), ["cyd"]);
}

/// A job whose every run meets a refusal no retry can fix, as a mail server's 550.
#[derive(Serialize, Deserialize)]
struct MailUnknownRecipient;

impl BackgroundJob for MailUnknownRecipient {
    const NAME: &'static str = "mail-unknown-recipient";
    type Context = Seen;

    async fn run(self, seen: Seen) -> commerce_core::Result<()> {
        seen.runs.fetch_add(1, Ordering::SeqCst);
        Err(Error::backend("smtp", "550 5.1.1 no such mailbox"))
    }
}

#[tokio::test]
async fn a_failure_no_retry_can_fix_is_buried_at_once() {
    let (jobs, db, _dir) = queue().await;
    let seen = Seen::default();
    let mut registry = JobRegistry::default();
    registry
        .register::<MailUnknownRecipient>(seen.clone())
        .unwrap();
    jobs.enqueue(&MailUnknownRecipient).await.unwrap();
    let worker = Worker::new(jobs, registry);

    assert_eq!(worker.run_batch().await.unwrap(), 1);
    let (attempts, buried, error) = the_task(&db).await;
    let error = error.unwrap();
    assert_eq!(
        (attempts, buried),
        (1, true),
        "one of five attempts, then buried"
    );
    assert!(
        error.contains("smtp") && error.contains("550 5.1.1"),
        "{error}"
    );
    assert_eq!(seen.runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_payload_this_version_cannot_read_is_retried() {
    let (jobs, db, _dir) = queue().await;
    let mut registry = JobRegistry::default();
    registry.register::<Greet>(Seen::default()).unwrap();
    // Queued by a version whose job has other fields.
    jobs.port()
        .enqueue(NewTask {
            job: "greet".into(),
            payload: serde_json::json!({"greeting": "hello"}),
            run_at: chrono::Utc::now(),
            max_attempts: 2,
        })
        .await
        .unwrap();
    let worker = Worker::new(jobs, registry);

    assert_eq!(worker.run_batch().await.unwrap(), 1);
    let (attempts, buried, _) = the_task(&db).await;
    assert_eq!((attempts, buried), (1, false));
}

/// During a rolling deploy, an instance of the old version leaves the tasks of a job only the
/// new version knows for an instance that can run them, instead of trying and burying them.
#[tokio::test]
async fn a_task_of_a_job_this_worker_does_not_know_waits_for_one_that_does() {
    let (jobs, db, _dir) = queue().await;
    jobs.enqueue(&Greet {
        name: "ann".into(),
        fail_times: 0,
    })
    .await
    .unwrap();
    let mut old_jobs = JobRegistry::default();
    old_jobs
        .register::<MailUnknownRecipient>(Seen::default())
        .unwrap();
    let old_version = Worker::new(jobs.clone(), old_jobs);
    for _ in 0..3 {
        assert_eq!(old_version.run_batch().await.unwrap(), 0);
    }
    let (attempts, buried, error) = the_task(&db).await;
    assert_eq!(
        (attempts, buried, error),
        (0, false, None),
        "left untouched"
    );

    let seen = Seen::default();
    let mut registry = JobRegistry::default();
    registry.register::<Greet>(seen.clone()).unwrap();
    let new_version = Worker::new(jobs, registry);
    assert_eq!(new_version.run_batch().await.unwrap(), 1);
    assert_eq!(*seen.names.lock().unwrap(), ["ann"]);
}

/// A task no running worker knows is not buried, but it is not kept quiet either: after an
/// hour the workers that pass it over report it.
#[tokio::test]
async fn a_task_no_worker_knows_is_reported_after_an_hour() {
    let (jobs, _db, _dir) = queue().await;
    let due = |minutes_ago| NewTask {
        job: "retired".into(),
        payload: serde_json::json!({}),
        run_at: chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        max_attempts: 5,
    };
    jobs.port().enqueue(due(5)).await.unwrap();
    let mut registry = JobRegistry::default();
    registry.register::<Greet>(Seen::default()).unwrap();
    let worker = Worker::new(jobs.clone(), registry);
    assert!(worker.stranded_tasks().await.unwrap().is_empty(), "not yet");

    jobs.port().enqueue(due(90)).await.unwrap();
    jobs.port().enqueue(due(61)).await.unwrap();
    let stranded = worker.stranded_tasks().await.unwrap();
    assert_eq!(stranded.len(), 1, "{stranded:?}");
    assert_eq!(
        (stranded[0].job.as_str(), stranded[0].tasks),
        ("retired", 2)
    );
}

/// The mail transport is the one thing replaced here: it records instead of sending.
#[derive(Default)]
struct Outbox(std::sync::Mutex<Vec<OutgoingMail>>);

#[async_trait::async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: &OutgoingMail) -> commerce_core::Result<()> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

#[tokio::test]
async fn an_order_confirmation_says_what_was_ordered() {
    let (jobs, db, _dir) = queue().await;
    let ann = user(&*db, "ann").await;
    let teapot = product(&*db, "Teapot", 1500, 5).await;
    let outbox = Arc::new(Outbox::default());
    let mut registry = JobRegistry::default();
    registry
        .register::<SendOrderConfirmation>(ConfirmationContext {
            orders: db.clone(),
            users: db.clone(),
            mailer: outbox.clone(),
            currency: Currency::USD,
        })
        .unwrap();

    // As checkout queues it: the order travels with the task.
    jobs.enqueue(&SendOrderConfirmation {
        order: OrderId(41),
        placed: Some(PlacedOrder {
            customer: ann,
            lines: vec![PlacedLine {
                product_name: "Teapot".into(),
                quantity: 2,
                unit_price_minor: 1500,
            }],
            total_minor: 3000,
            currency: "USD".into(),
        }),
    })
    .await
    .unwrap();
    // As earlier versions queued it, with the id alone: the order is read when it runs.
    let placed = db
        .place_order(NewOrder {
            user_id: ann,
            items: vec![OrderItem {
                product_id: teapot.id,
                product_name: "Teapot".into(),
                unit_price_minor: 1500,
                quantity: 1,
            }],
            subtotal_minor: 1500,
            total_minor: 1500,
            currency: "USD".into(),
            shipping_address: None,
            note: String::new(),
            cart_items: Vec::new(),
            idempotency: None,
            notification: NewTask {
                job: SendOrderConfirmation::NAME.into(),
                payload: serde_json::json!({}),
                run_at: chrono::Utc::now(),
                max_attempts: 1,
            },
        })
        .await
        .unwrap();
    let PlaceOrderOutcome::Placed(order) = placed else {
        panic!("not placed: {placed:?}");
    };

    let worker = Worker::new(jobs, registry);
    assert_eq!(worker.run_batch().await.unwrap(), 2);
    let sent = outbox.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|mail| mail.to == "ann@example.com"));
    let body_of = |order: String| {
        let subject = format!("Your order #{order} is confirmed");
        sent.iter()
            .find(|mail| mail.subject == subject)
            .map(|mail| mail.text_body.clone())
            .unwrap_or_else(|| panic!("no mail {subject:?} in {sent:?}"))
    };
    let carried = body_of("41".into());
    assert!(
        carried.contains("2 x Teapot at 15.00") && carried.contains("Total: 30.00 USD"),
        "{carried}"
    );
    let read = body_of(order.id.to_string());
    assert!(
        read.contains("1 x Teapot at 15.00") && read.contains("Total: 15.00 USD"),
        "{read}"
    );
}

#[derive(Serialize, Deserialize)]
struct Hang;

impl BackgroundJob for Hang {
    const NAME: &'static str = "hang";
    type Context = Seen;

    async fn run(self, seen: Seen) -> commerce_core::Result<()> {
        seen.runs.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// A job that outlives its lease would be claimed and run again by another worker while it
/// still ran; it is stopped in time instead, and retried like any failure a retry may fix.
#[tokio::test]
async fn a_job_running_past_its_lease_is_stopped_in_time_and_retried() {
    let (jobs, db, _dir) = queue().await;
    let seen = Seen::default();
    let mut registry = JobRegistry::default();
    registry.register::<Hang>(seen.clone()).unwrap();
    jobs.enqueue(&Hang).await.unwrap();
    let lease = std::time::Duration::from_millis(400);
    let worker = Worker::new(jobs, registry).with_lease(lease);

    let started = std::time::Instant::now();
    assert_eq!(worker.run_batch().await.unwrap(), 1);
    assert!(started.elapsed() < lease, "done while the lease held");
    let (attempts, buried, error) = the_task(&db).await;
    assert_eq!((attempts, buried), (1, false), "waiting for a retry");
    assert!(error.unwrap().contains("out of time"));
    assert_eq!(seen.runs.load(Ordering::SeqCst), 1);
}

/// Stopping, a worker with a backlog finishes the batch it runs and claims no other, so that a
/// stop does not wait for the backlog to drain.
#[tokio::test]
async fn a_stopping_worker_finishes_its_batch_and_claims_no_other() {
    let (jobs, db, _dir) = queue().await;
    let seen = Seen::default();
    let mut registry = JobRegistry::default();
    registry.register::<Greet>(seen.clone()).unwrap();
    for n in 0..40 {
        jobs.enqueue(&Greet {
            name: format!("buyer {n}"),
            fail_times: 0,
        })
        .await
        .unwrap();
    }
    Worker::new(jobs, registry)
        .run(std::future::ready(()))
        .await;
    assert_eq!(seen.runs.load(Ordering::SeqCst) as usize, BATCH);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(left as usize, 40 - BATCH);
}
