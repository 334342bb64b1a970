//! The core cache conformance suite, run against the in-process moka cache.
#![cfg(feature = "moka")]

use std::sync::Arc;

use commerce_plugins::moka::MokaCache;

async fn fresh() -> Arc<MokaCache> {
    Arc::new(MokaCache::default())
}

commerce_core::cache_conformance!(fresh);
