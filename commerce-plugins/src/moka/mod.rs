//! An in-process cache over moka, and rate limits counted in the same way: the default when
//! no `REDIS_URL` is configured.
//!
//! Entries expire after the time to live each `set` gives; the whole cache is bounded by the
//! total size of its keys and values, evicting the least useful entries (TinyLFU) beyond it.

mod rate_limit;

pub use rate_limit::MokaRateLimiter;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::Cache;
use commerce_core::{Plugin, Result, ShopBuilder};
use moka::Expiry;

/// The default bound on cached bytes.
const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A bounded in-process cache.
#[derive(Clone)]
pub struct MokaCache {
    entries: moka::future::Cache<String, Entry>,
}

impl MokaCache {
    /// A cache holding at most about `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { entries }
    }
}

impl Default for MokaCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

#[async_trait]
impl Cache for MokaCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.entries.get(key).await.map(|entry| entry.value))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        self.entries
            .insert(key.to_owned(), Entry { value, ttl })
            .await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.entries.invalidate(key).await;
        Ok(())
    }
}

/// Provides a [`MokaCache`] and a [`MokaRateLimiter`].
#[derive(Debug, Clone, Copy)]
pub struct MokaCachePlugin {
    max_bytes: u64,
}

impl MokaCachePlugin {
    /// A cache bounded to about `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        Self { max_bytes }
    }
}

impl Default for MokaCachePlugin {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

#[async_trait]
impl Plugin for MokaCachePlugin {
    fn name(&self) -> &'static str {
        "moka"
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        shop.provide_cache(Arc::new(MokaCache::new(self.max_bytes)))
            .provide_rate_limiter(Arc::new(MokaRateLimiter::default()));
        Ok(())
    }
}

fn create(_url: &str, _config: &Config) -> Result<Box<dyn Plugin>> {
    Ok(Box::new(MokaCachePlugin::default()))
}

commerce_core::inventory::submit! {
    PluginFactory { name: "moka", role: Role::Cache, schemes: &["memory"], create }
}
