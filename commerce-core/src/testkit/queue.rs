//! The contract of [`TaskQueue`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::domain::{TaskId, Timestamp};
use crate::ports::{ClaimedTask, NewTask, StrandedJob, TaskQueue};

const LEASE: Duration = Duration::from_secs(30);

/// The jobs the suite's worker knows: every name it enqueues, except in
/// [`claims_only_the_jobs_asked_for`].
const JOBS: &[&str] = &["mail", "later", "first", "second", "third", "not yet"];

fn task(job: &str, run_at: Timestamp) -> NewTask {
    NewTask {
        job: job.into(),
        payload: json!({"to": "ann@example.com", "n": 1}),
        run_at,
        max_attempts: 3,
    }
}

/// Claims a task of [`JOBS`] at `now`, as the suite's worker would.
async fn claim_at<Q: TaskQueue>(queue: &Q, now: Timestamp) -> Option<ClaimedTask> {
    queue.claim(JOBS, now, LEASE).await.unwrap()
}

fn later(now: Timestamp, seconds: i64) -> Timestamp {
    now + chrono::Duration::seconds(seconds)
}

/// A due task is claimed with its payload, then invisible until completed and gone after.
pub async fn claims_due_tasks_once<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    let id = queue.enqueue(task("mail", now)).await.unwrap();
    let claimed = claim_at(&*queue, now).await.unwrap();
    assert_eq!(claimed.id, id);
    assert_eq!(claimed.job, "mail");
    assert_eq!(claimed.payload, json!({"to": "ann@example.com", "n": 1}));
    assert_eq!(claimed.attempt, 1);
    assert_eq!(claimed.max_attempts, 3);
    assert!(claim_at(&*queue, now).await.is_none());
    queue.complete(claimed.claim()).await.unwrap();
    assert!(claim_at(&*queue, later(now, 3600)).await.is_none());
}

/// A task is not claimed before its time.
pub async fn future_tasks_wait<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    queue.enqueue(task("later", later(now, 60))).await.unwrap();
    assert!(claim_at(&*queue, now).await.is_none());
    assert!(claim_at(&*queue, later(now, 61)).await.is_some());
}

/// A task whose worker did not finish within the lease is claimed again, as a new attempt.
pub async fn expired_leases_are_claimed_again<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    let id = queue.enqueue(task("mail", now)).await.unwrap();
    claim_at(&*queue, now).await.unwrap();
    assert!(claim_at(&*queue, later(now, 29)).await.is_none());
    let again = claim_at(&*queue, later(now, 31)).await.unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempt, 2);
}

/// A retried task waits for its new time and then counts another attempt.
pub async fn retried_tasks_wait_for_their_time<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    let id = queue.enqueue(task("mail", now)).await.unwrap();
    let claimed = claim_at(&*queue, now).await.unwrap();
    queue
        .retry(claimed.claim(), later(now, 10), "smtp down")
        .await
        .unwrap();
    assert!(claim_at(&*queue, later(now, 5)).await.is_none());
    let again = claim_at(&*queue, later(now, 11)).await.unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempt, 2);
}

/// A buried task is kept but never claimed again.
pub async fn buried_tasks_are_never_claimed<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    queue.enqueue(task("mail", now)).await.unwrap();
    let claimed = claim_at(&*queue, now).await.unwrap();
    queue.bury(claimed.claim(), "gave up").await.unwrap();
    assert!(claim_at(&*queue, later(now, 86_400)).await.is_none());
}

/// Buried tasks are listed, the latest first, with their last error; requeued ones are
/// claimed again with more attempts, counted on from where they stopped, and a late outcome of
/// an earlier claim still changes nothing; discarded ones are gone, and only buried ones are
/// discarded.
pub async fn buried_tasks_are_listed_requeued_and_discarded<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    let mut buried = Vec::new();
    for error in ["refused", "timed out"] {
        let id = queue.enqueue(task("mail", now)).await.unwrap();
        let claimed = claim_at(&*queue, now).await.unwrap();
        queue.bury(claimed.claim(), error).await.unwrap();
        buried.push((id, claimed.claim()));
        // Buried at distinct moments, whatever the clock's resolution.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waiting = queue.enqueue(task("mail", later(now, 60))).await.unwrap();
    let [(refused, first_claim), (timed_out, timed_out_claim)] = buried[..] else {
        unreachable!()
    };

    let listed = queue.buried(10).await.unwrap();
    let summary: Vec<_> = listed
        .iter()
        .map(|t| (t.id, t.job.as_str(), t.attempts, t.last_error.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (timed_out, "mail", 1, Some("timed out")),
            (refused, "mail", 1, Some("refused"))
        ]
    );
    assert_eq!(listed[0].payload, json!({"to": "ann@example.com", "n": 1}));
    assert!(listed[0].buried_at >= listed[1].buried_at);
    assert_eq!(queue.buried(1).await.unwrap().len(), 1, "the limit holds");

    let requeued = queue
        .requeue(&[refused, waiting, TaskId(i64::MAX)], later(now, 10), 2)
        .await
        .unwrap();
    assert_eq!(requeued, 1, "only buried tasks are requeued");
    queue.bury(first_claim, "late").await.unwrap();
    assert!(
        claim_at(&*queue, later(now, 5)).await.is_none(),
        "not before its time"
    );
    let again = claim_at(&*queue, later(now, 10)).await.unwrap();
    assert_eq!(
        (again.id, again.attempt, again.max_attempts),
        (refused, 3, 4),
        "two more tries, counted on past the requeue"
    );
    queue.complete(first_claim).await.unwrap();
    queue.bury(first_claim, "late").await.unwrap();
    queue.complete(again.claim()).await.unwrap();
    let left: Vec<_> = queue
        .buried(10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        left,
        [timed_out],
        "the late outcome neither buried nor kept it"
    );

    let discarded = queue
        .discard(&[timed_out, waiting, TaskId(i64::MAX)])
        .await
        .unwrap();
    assert_eq!(discarded, 1, "only buried tasks are discarded");
    queue.bury(timed_out_claim, "late").await.unwrap();
    assert!(queue.buried(10).await.unwrap().is_empty());
    let running = claim_at(&*queue, later(now, 60)).await.unwrap();
    assert_eq!(running.id, waiting, "the waiting task is kept");
    let discarded = queue.discard(&[running.id]).await.unwrap();
    assert_eq!(discarded, 0, "a claimed task is not buried");
    queue
        .retry(running.claim(), later(now, 70), "busy")
        .await
        .unwrap();
    let again = claim_at(&*queue, later(now, 70)).await.unwrap();
    assert_eq!(again.id, waiting, "and runs on");
}

/// Concurrent workers never receive the same task.
pub async fn concurrent_claims_never_share_a_task<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    for _ in 0..20 {
        queue.enqueue(task("mail", now)).await.unwrap();
    }
    let claims = (0..40).map(|_| {
        let queue = queue.clone();
        tokio::spawn(async move { queue.claim(JOBS, now, LEASE).await })
    });
    let claimed: Vec<_> = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap().unwrap())
        .map(|task| task.id)
        .collect();
    let distinct: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 20, "every task claimed once: {claimed:?}");
    assert_eq!(distinct.len(), 20, "no task claimed twice: {claimed:?}");
}

/// Tasks are claimed in the order they fell due.
pub async fn claims_in_due_order<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    queue.enqueue(task("second", later(now, -5))).await.unwrap();
    queue.enqueue(task("first", later(now, -10))).await.unwrap();
    queue.enqueue(task("third", now)).await.unwrap();
    let mut order = Vec::new();
    while let Some(task) = claim_at(&*queue, now).await {
        order.push(task.job);
    }
    assert_eq!(order, ["first", "second", "third"]);
}

/// Several due tasks are claimed at once, oldest first and no more than asked for, and
/// completed at once.
pub async fn claims_and_completes_many<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    queue.enqueue(task("second", later(now, -5))).await.unwrap();
    queue.enqueue(task("first", later(now, -10))).await.unwrap();
    queue.enqueue(task("third", now)).await.unwrap();
    queue
        .enqueue(task("not yet", later(now, 60)))
        .await
        .unwrap();

    let batch = queue.claim_many(JOBS, now, LEASE, 2).await.unwrap();
    let jobs: Vec<&str> = batch.iter().map(|t| t.job.as_str()).collect();
    assert_eq!(jobs, ["first", "second"]);
    let rest = queue.claim_many(JOBS, now, LEASE, 10).await.unwrap();
    let jobs: Vec<&str> = rest.iter().map(|t| t.job.as_str()).collect();
    assert_eq!(
        jobs,
        ["third"],
        "claimed tasks and future ones are not claimed"
    );

    let claims: Vec<_> = batch.iter().chain(&rest).map(|t| t.claim()).collect();
    queue.complete_many(&claims).await.unwrap();
    queue.complete_many(&[]).await.unwrap();
    let after_leases = queue
        .claim_many(JOBS, later(now, 3600), LEASE, 10)
        .await
        .unwrap();
    let jobs: Vec<&str> = after_leases.iter().map(|t| t.job.as_str()).collect();
    assert_eq!(jobs, ["not yet"], "completed tasks are gone for good");
}

/// A worker whose lease ran out, the task since claimed again by another, changes nothing
/// when it reports late: not completing, retrying or burying the task the other one holds.
pub async fn outcomes_of_a_superseded_claim_change_nothing<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    let id = queue.enqueue(task("mail", now)).await.unwrap();
    let first = claim_at(&*queue, now).await.unwrap().claim();
    let second = claim_at(&*queue, later(now, 31)).await.unwrap().claim();
    assert_eq!((second.id, second.attempt), (id, 2));

    queue.complete(first).await.unwrap();
    queue.complete_many(&[first]).await.unwrap();
    queue.retry(first, later(now, 32), "late").await.unwrap();
    queue.bury(first, "late").await.unwrap();
    assert!(
        claim_at(&*queue, later(now, 40)).await.is_none(),
        "still leased to the second claim, neither released nor buried"
    );
    let third = claim_at(&*queue, later(now, 62)).await.unwrap();
    assert_eq!((third.id, third.attempt), (id, 3), "not completed either");

    queue.complete(third.claim()).await.unwrap();
    assert!(claim_at(&*queue, later(now, 3600)).await.is_none());
}

/// A claim takes only tasks of the jobs it names, and passes over the others without counting
/// an attempt: they wait, whole, for a worker that knows them.
pub async fn claims_only_the_jobs_asked_for<Q: TaskQueue>(queue: Arc<Q>) {
    let now = Utc::now();
    let newer = queue
        .enqueue(task("from a newer version", later(now, -10)))
        .await
        .unwrap();
    let mail = queue.enqueue(task("mail", later(now, -5))).await.unwrap();

    let batch = queue.claim_many(&["mail"], now, LEASE, 1).await.unwrap();
    let claimed: Vec<_> = batch.iter().map(|t| t.id).collect();
    assert_eq!(
        claimed,
        [mail],
        "the older task of another job is passed over"
    );
    assert!(queue.claim(&["mail"], now, LEASE).await.unwrap().is_none());
    assert!(queue.claim(&[], now, LEASE).await.unwrap().is_none());

    let known = queue
        .claim(&["mail", "from a newer version"], now, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (known.id, known.attempt),
        (newer, 1),
        "neither leased nor counted when passed over"
    );
}

/// Tasks of jobs other than the ones named, due for longer than asked and neither leased nor
/// buried, are counted per job, with the moment the longest-waiting fell due.
pub async fn stranded_tasks_are_counted_per_job<Q: TaskQueue>(queue: Arc<Q>) {
    use chrono::SubsecRound;
    const HOUR: Duration = Duration::from_secs(3600);
    let now = Utc::now().trunc_subsecs(0);
    let enqueue = |job: &'static str, due_seconds_ago: i64| {
        let queue = queue.clone();
        async move {
            queue
                .enqueue(task(job, later(now, -due_seconds_ago)))
                .await
                .unwrap()
        }
    };
    enqueue("mail", 7200).await;
    enqueue("retired", 10_800).await;
    enqueue("retired", 7200).await;
    enqueue("retired", 600).await;
    enqueue("elsewhere", 7200).await;
    enqueue("gone", 7200).await;
    queue
        .claim(&["elsewhere"], now, LEASE)
        .await
        .unwrap()
        .unwrap();
    let gone = queue.claim(&["gone"], now, LEASE).await.unwrap().unwrap();
    queue.bury(gone.claim(), "gave up").await.unwrap();

    let retired = StrandedJob {
        job: "retired".into(),
        tasks: 2,
        oldest_due: later(now, -10_800),
    };
    assert_eq!(
        queue.stranded(&["mail"], now, HOUR).await.unwrap(),
        std::slice::from_ref(&retired),
        "not the job asked for, the recent task, the leased one or the buried one"
    );
    let elsewhere = StrandedJob {
        job: "elsewhere".into(),
        tasks: 1,
        oldest_due: later(now, -7200),
    };
    assert_eq!(
        queue
            .stranded(&["mail"], later(now, 31), HOUR)
            .await
            .unwrap(),
        [elsewhere, retired],
        "a task whose lease ran out is stranded again"
    );
    assert!(
        queue
            .stranded(&["mail", "retired", "elsewhere"], later(now, 31), HOUR)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        queue
            .stranded(&[], now, Duration::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}
