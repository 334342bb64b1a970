//! A key-value cache for serialised responses and lookups.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A shared or in-process cache of byte values with a time to live.
///
/// Values are [`Bytes`], so a hit hands out a reference-counted view rather than a copy.
///
/// A cache may forget any entry at any time; callers treat a miss as normal. Values are bytes
/// so the same cache serves every type; [`CacheExt`] adds typed JSON access.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Stores `value` under `key` for at most `ttl`.
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()>;

    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
}

/// Typed conveniences over any [`Cache`]; implemented for every cache, never by hand.
#[async_trait]
pub trait CacheExt: Cache {
    /// The JSON value under `key`; an entry that no longer deserialises counts as a miss.
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        Ok(self
            .get(key)
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Stores `value` as JSON under `key` for at most `ttl`.
    async fn set_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::backend("cache", e))?;
        self.set(key, Bytes::from(bytes), ttl).await
    }
}

impl<C: Cache + ?Sized> CacheExt for C {}
