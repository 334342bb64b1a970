//! The core response cache over a real in-process cache: single flight and invalidation.
#![cfg(feature = "moka")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use commerce_core::services::ResponseCache;
use commerce_plugins::moka::MokaCache;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_misses_make_one_load() {
    let responses = ResponseCache::new(Arc::new(MokaCache::default()), Duration::from_secs(60));
    let loads = Arc::new(AtomicUsize::new(0));
    let generation = responses.generation().await;
    let key = format!("catalog:{generation}:product:1");
    let readers = (0..100).map(|_| {
        let responses = responses.clone();
        let loads = loads.clone();
        let key = key.clone();
        tokio::spawn(async move {
            responses
                .get_or_load(key, move || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that every reader arrives while the load is in flight.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(Bytes::from_static(b"{\"id\":1}"))
                })
                .await
        })
    });
    for reader in futures::future::join_all(readers).await {
        assert_eq!(
            reader.unwrap().unwrap().body,
            Bytes::from_static(b"{\"id\":1}")
        );
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalidation_changes_the_generation_and_errors_are_not_cached() {
    let responses = ResponseCache::new(Arc::new(MokaCache::default()), Duration::from_secs(60));
    let before = responses.generation().await;
    assert_eq!(responses.generation().await, before, "stable until a write");
    responses.invalidate_all().await;
    assert_ne!(responses.generation().await, before);

    let failed = responses
        .get_or_load("k".into(), || async {
            Err(commerce_core::Error::NotFound("product"))
        })
        .await;
    assert!(matches!(
        failed,
        Err(commerce_core::Error::NotFound("product"))
    ));
    let loaded = responses
        .get_or_load("k".into(), || async { Ok(Bytes::from_static(b"ok")) })
        .await
        .unwrap();
    assert_eq!(loaded.body, Bytes::from_static(b"ok"));
}

/// A load whose only reader gave up (a client gone, a timeout around the handler) still runs
/// to its end: it must not hold what it took (a pooled connection) until someone happens to
/// ask for the same key again, which for a one-off query never happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_abandoned_by_its_reader_still_finishes_and_is_cached() {
    let responses = ResponseCache::new(Arc::new(MokaCache::default()), Duration::from_secs(60));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (finished, has_finished) = tokio::sync::oneshot::channel::<()>();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(50),
        responses.get_or_load("k".into(), move || async move {
            let _ = released.await;
            let _ = finished.send(());
            Ok(Bytes::from_static(b"late"))
        }),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the reader gave up while the load waited"
    );

    release.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), has_finished)
        .await
        .expect("the abandoned load ran to its end")
        .unwrap();
    // Stored for the next reader, which does not load again.
    let mut next = None;
    for _ in 0..100 {
        let answer = responses
            .get_or_load("k".into(), || async { Ok(Bytes::from_static(b"again")) })
            .await
            .unwrap();
        if answer.body == Bytes::from_static(b"late") {
            next = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(next.is_some(), "the abandoned load's answer was cached");
}
