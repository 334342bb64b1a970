//! Counting events per key in fixed windows, for rate limits.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

/// The events counted under one key in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// How many, the one just recorded included.
    pub events: u64,
    /// How long until the window closes and the count starts again from zero.
    pub closes_in: Duration,
}

/// Counts events per key in fixed windows: the first event under a key opens a window of the
/// length it gives, every event until the window closes adds one, and the next event after it
/// opens a new one.
///
/// Counting is atomic: concurrent events under one key are each counted once, so a limit
/// checked against the count answered holds however many requests race. A limiter shared by
/// every instance of a shop (Redis) enforces a limit across all of them; an in-process one
/// (moka) per instance. A limiter may forget a key early (an in-process one bounds its memory
/// that way), which only ever lets more events through, never fewer.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one event under `key`, opening a window of `window` if none is open, and answers
    /// the count with this event and how long the window has left.
    async fn record(&self, key: &str, window: Duration) -> Result<WindowCount>;

    /// Closes the window under `key`, if one is open: the next event starts from one.
    async fn reset(&self, key: &str) -> Result<()>;
}
