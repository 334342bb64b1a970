//! The contract of [`RateLimiter`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::ports::RateLimiter;

const MINUTE: Duration = Duration::from_secs(60);

/// Each event under a key adds one to its window's count; keys count apart.
pub async fn counts_events_per_key<L: RateLimiter>(limiter: Arc<L>) {
    for expected in 1..=3 {
        let count = limiter.record("login:ann", MINUTE).await.unwrap();
        assert_eq!(count.events, expected);
        assert!(
            count.closes_in > Duration::ZERO && count.closes_in <= MINUTE,
            "{count:?}"
        );
    }
    assert_eq!(limiter.record("login:bob", MINUTE).await.unwrap().events, 1);
    assert_eq!(limiter.record("login:ann", MINUTE).await.unwrap().events, 4);
}

/// A window lasts from its first event, later events do not prolong it, and the first event
/// after it closed opens a new one.
pub async fn windows_are_fixed_from_their_first_event<L: RateLimiter>(limiter: Arc<L>) {
    let window = Duration::from_millis(600);
    let first = limiter.record("k", window).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = limiter.record("k", window).await.unwrap();
    assert_eq!(second.events, 2);
    assert!(
        second.closes_in < first.closes_in && second.closes_in <= Duration::from_millis(300),
        "the window moved: {first:?}, then {second:?}"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let third = limiter.record("k", window).await.unwrap();
    assert_eq!(third.events, 1, "the window outlived its length");
    assert!(third.closes_in > Duration::from_millis(300), "{third:?}");
}

/// Resetting a key starts its count again; resetting a key never counted is not an error.
pub async fn reset_starts_the_count_again<L: RateLimiter>(limiter: Arc<L>) {
    for _ in 0..3 {
        limiter.record("k", MINUTE).await.unwrap();
    }
    limiter.reset("k").await.unwrap();
    limiter.reset("never-counted").await.unwrap();
    assert_eq!(limiter.record("k", MINUTE).await.unwrap().events, 1);
}

/// Concurrent events under one key are each counted once: the counts answered are exactly
/// 1..=n, so a limit checked against them lets no more than the limit through.
pub async fn concurrent_events_are_each_counted_once<L: RateLimiter>(limiter: Arc<L>) {
    const EVENTS: u64 = 64;
    let racing: Vec<_> = (0..EVENTS)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.record("contested", MINUTE).await.unwrap() })
        })
        .collect();
    let mut answered = BTreeSet::new();
    for event in racing {
        answered.insert(event.await.unwrap().events);
    }
    assert_eq!(answered, (1..=EVENTS).collect::<BTreeSet<_>>());
    assert_eq!(
        limiter.record("contested", MINUTE).await.unwrap().events,
        EVENTS + 1
    );
}
