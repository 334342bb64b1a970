//! Rate limits counted in this process: each instance of the shop counts its own events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use commerce_core::Result;
use commerce_core::ports::{RateLimiter, WindowCount};
use moka::Expiry;

/// The default bound on keys counted at once.
const DEFAULT_MAX_KEYS: u64 = 100_000;

/// The longest window kept: a century is as good as forever, and a clock cannot overflow
/// adding it.
const MAX_WINDOW: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// One key's open window.
struct Window {
    events: AtomicU64,
    closes_at: Instant,
}

/// Entries live exactly as long as their window, from its first event: later events update
/// the count inside the entry, never the entry, so they do not prolong it.
struct UntilClosed;

impl Expiry<String, Arc<Window>> for UntilClosed {
    fn expire_after_create(
        &self,
        _: &String,
        window: &Arc<Window>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(window.closes_at.saturating_duration_since(created_at))
    }
}

/// A [`RateLimiter`] in this process's memory, bounded in the number of keys it counts.
///
/// Beyond the bound, the least used keys are forgotten first (TinyLFU), which can only let
/// more events through: a flood of one-off keys cannot push out the memory of a key under
/// attack, which is used on every attempt.
#[derive(Clone)]
pub struct MokaRateLimiter {
    windows: moka::future::Cache<String, Arc<Window>>,
}

impl MokaRateLimiter {
    /// A limiter counting at most about `max_keys` keys at once.
    pub fn new(max_keys: u64) -> Self {
        Self {
            windows: moka::future::Cache::builder()
                .max_capacity(max_keys)
                .expire_after(UntilClosed)
                .build(),
        }
    }
}

impl Default for MokaRateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_KEYS)
    }
}

#[async_trait]
impl RateLimiter for MokaRateLimiter {
    async fn record(&self, key: &str, window: Duration) -> Result<WindowCount> {
        // One window per key even when events race: the entry API inserts once and hands
        // every caller the same window.
        let open = self
            .windows
            .entry_by_ref(key)
            .or_insert_with(async {
                Arc::new(Window {
                    events: AtomicU64::new(0),
                    closes_at: Instant::now() + window.min(MAX_WINDOW),
                })
            })
            .await
            .into_value();
        let events = open.events.fetch_add(1, Ordering::AcqRel) + 1;
        Ok(WindowCount {
            events,
            closes_in: open.closes_at.saturating_duration_since(Instant::now()),
        })
    }

    async fn reset(&self, key: &str) -> Result<()> {
        self.windows.invalidate(key).await;
        Ok(())
    }
}
