//! The contract of [`Cache`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::ports::{Cache, CacheExt};

/// Values come back as stored, binary included, until deleted; keys are independent.
pub async fn stores_and_deletes_values<C: Cache>(cache: Arc<C>) {
    let ttl = Duration::from_secs(60);
    assert_eq!(cache.get("missing").await.unwrap(), None);
    let binary = Bytes::from_static(&[0, 159, 146, 150, 255]);
    cache.set("k1", binary.clone(), ttl).await.unwrap();
    cache
        .set("k2", Bytes::from_static(b"two"), ttl)
        .await
        .unwrap();
    assert_eq!(cache.get("k1").await.unwrap(), Some(binary));
    cache.delete("k1").await.unwrap();
    cache.delete("never-set").await.unwrap();
    assert_eq!(cache.get("k1").await.unwrap(), None);
    assert_eq!(cache.get("k2").await.unwrap().as_deref(), Some(&b"two"[..]));

    cache.set_json("json", &vec![1, 2, 3], ttl).await.unwrap();
    assert_eq!(
        cache.get_json::<Vec<i32>>("json").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(cache.get_json::<String>("json").await.unwrap(), None);
}

/// An entry is gone once its time to live has passed.
pub async fn entries_expire_after_their_ttl<C: Cache>(cache: Arc<C>) {
    cache
        .set(
            "short",
            Bytes::from_static(b"x"),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    cache
        .set("long", Bytes::from_static(b"y"), Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(cache.get("short").await.unwrap(), None);
    assert!(cache.get("long").await.unwrap().is_some());
}

/// Setting a key again replaces its value.
pub async fn set_overwrites<C: Cache>(cache: Arc<C>) {
    let ttl = Duration::from_secs(60);
    cache
        .set("k", Bytes::from_static(b"old"), ttl)
        .await
        .unwrap();
    cache
        .set("k", Bytes::from_static(b"new"), ttl)
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"new"[..]));
}
