//! The core cache and rate limiter conformance suites, run against their in-process moka
//! implementations.
#![cfg(feature = "moka")]

use std::sync::Arc;

use commerce_plugins::moka::{MokaCache, MokaRateLimiter};

async fn fresh() -> Arc<MokaCache> {
    Arc::new(MokaCache::default())
}

async fn fresh_limiter() -> Arc<MokaRateLimiter> {
    Arc::new(MokaRateLimiter::default())
}

commerce_core::cache_conformance!(fresh);
commerce_core::rate_limiter_conformance!(fresh_limiter);
