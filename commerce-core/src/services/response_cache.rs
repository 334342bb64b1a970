//! Cache-aside for serialised responses: generations for invalidation, single flight for
//! misses.
//!
//! Every key embeds the current catalogue *generation*, a random token kept in the cache
//! itself (so every instance sharing a Redis cache sees the same one). A write replaces the
//! generation after it commits: every entry cached before becomes unreachable at once, and an
//! entry a slow reader stores after the write lands under the old generation, which nobody
//! reads again. So a read that starts after a write's response never sees the old value.
//!
//! Concurrent misses for one key wait for a single load (one database query for a hundred
//! requests). A cache that fails is bypassed, never fatal: the response is then loaded from
//! the database, and concurrent loads of one response are still shared. While the cache
//! cannot tell the generation, keys embed a token of this process's instead, under which
//! nothing is read from or written to the cache: an entry stored then would be found again
//! in a later outage, however many writes came between.
//!
//! A write whose new generation cannot be stored (the cache is down for a moment, or the
//! request was abandoned half-way) would leave the old one in place, and with it every entry
//! cached before the write, for their whole time to live. So an invalidation is owed from
//! before it is tried until the cache has taken it: meanwhile this process reads through under
//! its outage token, and one of its reads at a time tries again, so that the first read to
//! reach the cache once it is back stores the new generation for every instance.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::ports::Cache;

const GENERATION_KEY: &str = "catalog:generation";
/// The generation must outlive every entry; it is replaced on writes, not expired.
const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A response body and its entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// The serialised body.
    pub body: Bytes,
    /// A strong entity tag for the body, quoted as HTTP wants it.
    pub etag: Arc<str>,
}

impl CachedResponse {
    /// Wraps a body, computing its entity tag.
    pub fn new(body: Bytes) -> Self {
        Self {
            etag: format!("\"{}\"", sha256_hex(&body, 12)).into(),
            body,
        }
    }

    fn encode(&self) -> Bytes {
        let mut bytes = Vec::with_capacity(self.etag.len() + 1 + self.body.len());
        bytes.extend_from_slice(self.etag.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&self.body);
        Bytes::from(bytes)
    }

    fn decode(bytes: Bytes) -> Option<Self> {
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let etag = std::str::from_utf8(&bytes[..newline]).ok()?.into();
        Some(Self {
            etag,
            body: bytes.slice(newline + 1..),
        })
    }
}

type Load = Shared<BoxFuture<'static, Result<CachedResponse, SharedError>>>;
type InFlight = HashMap<String, Load>;

/// An error shared by every request that waited on one load.
#[derive(Debug, Clone)]
struct SharedError(Arc<Error>);

/// Cached responses of one namespace (the catalogue) over the [`Cache`] port.
#[derive(Clone)]
pub struct ResponseCache {
    cache: Arc<dyn Cache>,
    ttl: Duration,
    in_flight: Arc<Mutex<InFlight>>,
    /// The generation keys embed while the cache cannot tell the real one.
    unreachable: Arc<str>,
    /// Invalidations owed: see [`Debt`].
    debt: Arc<Debt>,
}

/// The invalidations a process owes the cache. Each is numbered when it is owed; storing a
/// generation pays the debt only if no invalidation was owed since the attempt began.
#[derive(Default)]
struct Debt {
    /// The number of the last invalidation owed.
    last: AtomicU64,
    /// The number of the newest invalidation still unpaid; 0 when none is.
    unpaid: AtomicU64,
    /// Whether a read is trying to pay: one at a time, so that a cache coming back gets one
    /// new generation, not one per waiting read.
    paying: AtomicBool,
}

impl Debt {
    fn owe(&self) -> u64 {
        let number = self.last.fetch_add(1, Ordering::AcqRel) + 1;
        self.unpaid.store(number, Ordering::Release);
        number
    }

    fn unpaid(&self) -> Option<u64> {
        Some(self.unpaid.load(Ordering::Acquire)).filter(|number| *number != 0)
    }

    /// Settles every invalidation up to `number`; false if one was owed since.
    fn settle(&self, number: u64) -> bool {
        self.unpaid
            .compare_exchange(number, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Lets another read try to pay when dropped, however the attempt ended.
struct Paying<'a>(&'a AtomicBool);

impl Drop for Paying<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl ResponseCache {
    /// Caches entries in `cache` for at most `ttl`.
    pub fn new(cache: Arc<dyn Cache>, ttl: Duration) -> Self {
        Self {
            cache,
            ttl,
            in_flight: Arc::default(),
            unreachable: format!("unreachable-{}", new_generation()).into(),
            debt: Arc::default(),
        }
    }

    /// How long an entry is kept at most.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The current generation, starting one if there is none.
    pub async fn generation(&self) -> String {
        if let Some(owed) = self.debt.unpaid() {
            return self.pay(owed).await;
        }
        match self.cache.get(GENERATION_KEY).await {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(None) => {
                let generation = new_generation();
                self.store_generation(&generation).await;
                generation
            }
            Err(error) => {
                tracing::warn!(%error, "cache unavailable; reading through");
                // One token for the outage, so that concurrent loads of a response are still
                // shared; `get_or_load` keeps entries under it out of the cache.
                self.unreachable.to_string()
            }
        }
    }

    /// Makes every entry cached so far unreachable. Call after a write commits.
    ///
    /// If the cache cannot take the new generation now, or this call is dropped before it has,
    /// the invalidation stays owed: see the module's documentation.
    pub async fn invalidate_all(&self) {
        let owed = self.debt.owe();
        if self.store_generation(&new_generation()).await {
            self.debt.settle(owed);
        }
    }

    /// Records that an invalidation is due before the work that must precede it (a search
    /// index catching up with a write), so that this process caches nothing under the old
    /// generation meanwhile, and a request abandoned in between leaves it owed, not forgotten.
    /// [`invalidate_all`](Self::invalidate_all) pays it.
    pub fn owe_invalidation(&self) {
        self.debt.owe();
    }

    /// Tries to pay the invalidations owed up to `owed`: the new generation if the cache took
    /// it and nothing more was owed meanwhile, the outage token otherwise.
    async fn pay(&self, owed: u64) -> String {
        if self.debt.paying.swap(true, Ordering::AcqRel) {
            return self.unreachable.to_string();
        }
        let _paying = Paying(&self.debt.paying);
        let generation = new_generation();
        if self.store_generation(&generation).await && self.debt.settle(owed) {
            tracing::info!("cache back: the invalidation it missed is stored");
            generation
        } else {
            self.unreachable.to_string()
        }
    }

    /// Whether the cache took `generation`.
    async fn store_generation(&self, generation: &str) -> bool {
        let value = Bytes::copy_from_slice(generation.as_bytes());
        match self.cache.set(GENERATION_KEY, value, GENERATION_TTL).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "could not store the cache generation");
                false
            }
        }
    }

    /// The response under `key` (which must embed the generation), loading it with `load` on a
    /// miss. Concurrent misses for one key share a single load, which runs to its end (and is
    /// cached) even if every caller waiting for it is dropped.
    pub async fn get_or_load<F, Fut>(&self, key: String, load: F) -> Result<CachedResponse>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>> + Send + 'static,
    {
        let cacheable = !key.contains(&*self.unreachable);
        if cacheable {
            match self.cache.get(&key).await {
                Ok(Some(bytes)) => {
                    if let Some(hit) = CachedResponse::decode(bytes) {
                        return Ok(hit);
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "cache unavailable; reading through"),
            }
        }
        let shared = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(&key) {
                Some(existing) => existing.clone(),
                None => {
                    let shared = self
                        .spawn_load(key.clone(), cacheable, load())
                        .boxed()
                        .shared();
                    in_flight.insert(key, shared.clone());
                    shared
                }
            }
        };
        shared.await.map_err(|SharedError(error)| error.duplicate())
    }
}

impl ResponseCache {
    /// Runs `load` as a task of its own, so that it finishes, stores its answer and leaves
    /// the in-flight map even when every reader waiting for it has gone (a client that
    /// disconnected, a timeout around the handler). Polled only by its readers, an abandoned
    /// load would keep what it holds, a pooled database connection, until someone asked for
    /// the same key again, which for a one-off query never happens.
    fn spawn_load(
        &self,
        key: String,
        cacheable: bool,
        load: impl Future<Output = Result<Bytes>> + Send + 'static,
    ) -> impl Future<Output = Result<CachedResponse, SharedError>> + Send + 'static {
        let this = self.clone();
        let task = tokio::spawn(async move {
            // Leaves the map however the task ends, a panic in `load` included.
            let _leaving = LeaveInFlight {
                in_flight: Arc::clone(&this.in_flight),
                key: key.clone(),
            };
            let outcome = load.await.map(CachedResponse::new);
            if let Ok(response) = &outcome
                && cacheable
                && let Err(error) = this.cache.set(&key, response.encode(), this.ttl).await
            {
                tracing::warn!(%error, "could not cache a response");
            }
            outcome
        });
        async move {
            let outcome = task
                .await
                .unwrap_or_else(|failed| Err(Error::backend("response cache", failed)));
            outcome.map_err(|e| SharedError(Arc::new(e)))
        }
    }
}

/// Removes a key from the in-flight map when dropped.
struct LeaveInFlight {
    in_flight: Arc<Mutex<InFlight>>,
    key: String,
}

impl Drop for LeaveInFlight {
    fn drop(&mut self) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

fn new_generation() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_their_etag() {
        let response = CachedResponse::new(Bytes::from_static(b"{\"id\":1}\n"));
        assert_eq!(response.etag.len(), 26);
        assert_eq!(CachedResponse::decode(response.encode()), Some(response));
    }
}
