//! Redis: a cache and rate limits shared by every instance of the shop
//! (`REDIS_URL=redis://…`).
//!
//! Because the entries live in one Redis, so does the response cache's generation key: a write
//! on one instance invalidates what every instance reads. This module owns connecting, the
//! timeouts, and turning Redis errors into [`Error::Unavailable`]; what is cached and when it
//! is invalidated belong to `commerce_core::services::ResponseCache`, not here.
//!
//! A cache that fails must cost a request little, since the response cache then reads through
//! to the database: every operation is bounded by [`OPERATION_TIMEOUT`], including the time
//! spent waiting for a reconnection, which the [`ConnectionManager`] starts by itself when the
//! connection drops. Once an operation has found Redis unreachable, the others fail at once
//! for [`RETRY_INTERVAL`], after which one operation tries again: an outage costs one wait per
//! interval, not one per request (a request makes up to three cache calls). At start-up, by
//! contrast, an unreachable Redis fails the build, so a misconfigured `REDIS_URL` is found at
//! deploy time rather than as a slow shop.
//!
//! The manager reconnects when the connection drops, not when it stalls: a Redis that stops
//! answering without closing (a hung server, a network path that silently drops packets, as
//! in a failover) times commands out on the same dead connection until the kernel gives up on
//! it, a quarter of an hour later; and a primary demoted to a replica answers every write
//! `READONLY`. A [`RedisCache`] made from a URL therefore opens a new connection when a command
//! times out or meets `READONLY`, so it follows a failover as soon as the address answers
//! again.
//!
//! `rediss://` URLs use rustls (server certificates checked against the system's roots), which
//! needs a crypto provider: with the default features, ring, through the `postgres` feature.
//! A build where rustls has neither ring nor aws-lc-rs, or both, panics when connecting
//! unless the binary first calls `rustls::crypto::CryptoProvider::install_default`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, ServerErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{Cache, RateLimiter, ReadinessCheck, WindowCount};
use commerce_core::{Error, Plugin, Result, ShopBuilder};

const BACKEND: &str = "redis";

/// How long start-up waits for a first connection, retries included, before failing the build.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one cache operation may take in all, including waiting for a reconnection. A cache
/// slower than this costs more than the database read it would save.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(1);

/// How long operations fail at once after one found Redis unreachable, before one tries again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// One attempt to open a connection; a host that drops packets fails here, not in minutes.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one command waits for its reply on an open connection.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Further attempts after a failed connection, with exponential backoff from 100 ms: enough
/// to ride out a Redis restart, few enough that start-up fails within [`CONNECT_TIMEOUT`].
const RECONNECT_RETRIES: usize = 3;

/// Put before a rate limiter's keys, keeping them apart from the cache's.
const RATE_LIMIT_KEYS: &str = "limit:";

/// Counts an event under `KEYS[1]` in a window of `ARGV[1]` milliseconds and answers the count
/// and the milliseconds the window has left. A script, because Redis runs it whole with the
/// clock stopped: before 7.0 a transaction (MULTI) did not stop the clock, so a window could
/// close between opening and counting and leave a count with no expiry, refusing its key for
/// good. A key found without an expiry (left by anything) is given one, for the same reason.
/// INCR leaves an expiry alone, so later events do not prolong the window.
const COUNT_IN_WINDOW: &str = r"
local events = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if events == 1 or left < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    left = tonumber(ARGV[1])
end
return {events, left}
";

/// The longest expiry sent to Redis, which refuses one that overflows its clock. The port
/// allows storing for less than asked ("at most `ttl`").
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Opens a self-reconnecting connection to the Redis at `url` (`redis://[:password@]host[:port][/db]`,
/// or `rediss://` for TLS), with this module's timeouts.
///
/// One connection is opened now, so that a wrong address or password fails here. A malformed
/// URL is a validation error on `REDIS_URL`; a Redis that cannot be reached within
/// [`CONNECT_TIMEOUT`] is [`Error::Unavailable`], its message naming the address (never the
/// password).
pub async fn connect(url: &str) -> Result<ConnectionManager> {
    Ok(open(url).await?.1)
}

/// The connection manager's settings: this module's timeouts and retries.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(ATTEMPT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_max_delay(Duration::from_secs(1))
}

/// As [`connect`], also answering the client, to open the connection again with.
async fn open(url: &str) -> Result<(Client, ConnectionManager)> {
    let client = Client::open(url).map_err(|e| Error::invalid("REDIS_URL", e.to_string()))?;
    let address = client.get_connection_info().addr().to_string();
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        ConnectionManager::new_with_config(client.clone(), manager_config()),
    )
    .await
    {
        Ok(Ok(manager)) => Ok((client, manager)),
        Ok(Err(e)) => Err(Error::unavailable(
            BACKEND,
            format!("could not connect to Redis at {address}: {e}"),
        )),
        Err(_) => Err(Error::unavailable(
            BACKEND,
            format!("no connection to Redis at {address} within {CONNECT_TIMEOUT:?}"),
        )),
    }
}

/// A [`Cache`] in Redis: `GET`, `SET … PX` and `DEL`, keys as given (or under a prefix).
///
/// Clones share one connection. Every failure is [`Error::Unavailable`]: a Redis error, an
/// operation exceeding [`OPERATION_TIMEOUT`], and any operation within [`RETRY_INTERVAL`] of
/// finding Redis unreachable. The connection recovers by itself once Redis answers again.
#[derive(Clone)]
pub struct RedisCache {
    /// Shared by clones, and replaced for all of them when it stalls; numbered, so that the
    /// many commands a stall times out at once replace it once.
    connection: Arc<RwLock<(u64, ConnectionManager)>>,
    /// What opens the connection again; `None` for a connection given as is.
    client: Option<Client>,
    /// Prepended to every key; empty for none.
    prefix: Arc<str>,
    /// Shared by clones, which share the connection and so its outages.
    outage: Arc<Outage>,
}

impl RedisCache {
    /// A cache over an open connection (see [`connect`]), storing keys exactly as given.
    /// Having no URL, it cannot open a stalled connection again: prefer
    /// [`RedisCache::connect`].
    pub fn new(connection: ConnectionManager) -> Self {
        Self::with_prefix(connection, "")
    }

    /// A cache storing every key under `prefix`, so that several caches share one Redis
    /// without seeing each other's entries: each test takes a key space of its own this way.
    /// Caches that must share entries (and the response cache's generation) need the same
    /// prefix. As [`new`](Self::new), it cannot open a stalled connection again.
    pub fn with_prefix(connection: ConnectionManager, prefix: impl Into<Arc<str>>) -> Self {
        Self {
            connection: Arc::new(RwLock::new((0, connection))),
            client: None,
            prefix: prefix.into(),
            outage: Arc::new(Outage::new()),
        }
    }

    /// Connects to the Redis at `url` (see [`connect`]) and stores keys exactly as given.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_prefix(url, "").await
    }

    /// Connects to the Redis at `url` (see [`connect`]) and stores keys under `prefix` (see
    /// [`with_prefix`](Self::with_prefix)).
    pub async fn connect_with_prefix(url: &str, prefix: impl Into<Arc<str>>) -> Result<Self> {
        let (client, connection) = open(url).await?;
        Ok(Self {
            client: Some(client),
            ..Self::with_prefix(connection, prefix)
        })
    }

    /// A handle to the current connection, and its number.
    fn connection(&self) -> (u64, ConnectionManager) {
        // Poisoned only by a panic while replacing it, which leaves the old one: still usable.
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces connection number `stalled`, which stopped answering, with a new one opened on
    /// first use; a connection already replaced is left as it is.
    fn reopen(&self, stalled: u64) {
        let Some(client) = &self.client else { return };
        let mut current = self.connection.write().unwrap_or_else(|e| e.into_inner());
        if current.0 != stalled {
            return;
        }
        match ConnectionManager::new_lazy_with_config(client.clone(), manager_config()) {
            Ok(fresh) => {
                *current = (stalled.wrapping_add(1), fresh);
                tracing::warn!("Redis stopped answering on its connection; opened a new one");
            }
            Err(error) => tracing::warn!(%error, "could not open a new Redis connection"),
        }
    }

    /// The prefix every key is stored under; empty for none.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key<'a>(&self, key: &'a str) -> Cow<'a, str> {
        if self.prefix.is_empty() {
            Cow::Borrowed(key)
        } else {
            Cow::Owned(format!("{}{key}", self.prefix))
        }
    }

    /// Runs one command on a handle to the shared connection, bounded by
    /// [`OPERATION_TIMEOUT`]; fails at once during a known outage unless it is the one
    /// operation that tries again.
    async fn run<T, F, Fut>(&self, command: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        if !self.outage.may_try() {
            return Err(Error::unavailable(
                BACKEND,
                format!("Redis was unreachable moments ago; retrying every {RETRY_INTERVAL:?}"),
            ));
        }
        self.send(command).await
    }

    /// Runs one command whatever the outage state, and records what it learns about it.
    async fn send<T, F, Fut>(&self, command: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        // Dropping the command on time-out is safe: a reconnection in progress runs on as a
        // task of its own, and a reply that arrives late is discarded by the connection.
        let (number, connection) = self.connection();
        match tokio::time::timeout(OPERATION_TIMEOUT, command(connection)).await {
            Ok(Ok(value)) => {
                self.outage.end();
                Ok(value)
            }
            Ok(Err(e)) => {
                if e.is_timeout() || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly) {
                    // The connection is open but useless: stalled, or to a demoted primary.
                    self.outage.begin();
                    self.reopen(number);
                } else if e.is_io_error() || e.is_unrecoverable_error() {
                    self.outage.begin();
                } else {
                    // A reply refusing the command (a key of another type, say): Redis is up.
                    self.outage.end();
                }
                Err(Error::unavailable(BACKEND, e))
            }
            Err(_) => {
                self.outage.begin();
                self.reopen(number);
                Err(Error::unavailable(
                    BACKEND,
                    format!("no answer within {OPERATION_TIMEOUT:?}"),
                ))
            }
        }
    }
}

/// When operations may next try Redis, after one found it unreachable.
///
/// Lock-free, and never stuck: the operation allowed to try moves the time on by one interval
/// before it starts, so if it is cancelled midway another tries once that interval is over.
struct Outage {
    /// Milliseconds after `epoch` before which operations fail at once; zero while healthy.
    retry_at: AtomicU64,
    epoch: Instant,
}

impl Outage {
    fn new() -> Self {
        Self {
            retry_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        // Offset by one so that a time is never zero, which means healthy.
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn later(&self) -> u64 {
        let interval = u64::try_from(RETRY_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        self.now().saturating_add(interval)
    }

    /// Whether an operation may try Redis now: always while healthy; during an outage, only the
    /// first to ask once the interval is over.
    fn may_try(&self) -> bool {
        let retry_at = self.retry_at.load(Ordering::Acquire);
        if retry_at == 0 {
            return true;
        }
        retry_at <= self.now()
            && self
                .retry_at
                .compare_exchange(retry_at, self.later(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn begin(&self) {
        self.retry_at.store(self.later(), Ordering::Release);
    }

    fn end(&self) {
        self.retry_at.store(0, Ordering::Release);
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = self.key(key);
        self.run(|mut connection| async move {
            ::redis::cmd("GET")
                .arg(key.as_ref())
                .query_async::<Option<Bytes>>(&mut connection)
                .await
        })
        .await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        let key = self.key(key);
        // PX 0 is refused by Redis; a zero time to live still stores (for a millisecond).
        let millis = u64::try_from(ttl.min(MAX_TTL).as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.run(|mut connection| async move {
            ::redis::cmd("SET")
                .arg(key.as_ref())
                .arg(value.as_ref())
                .arg("PX")
                .arg(millis)
                .exec_async(&mut connection)
                .await
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let key = self.key(key);
        self.run(|mut connection| async move {
            ::redis::cmd("DEL")
                .arg(key.as_ref())
                .exec_async(&mut connection)
                .await
        })
        .await
    }
}

/// Counts under `limit:<key>`, shared by every instance on the same Redis, so a limit holds
/// across all of them.
#[async_trait]
impl RateLimiter for RedisCache {
    async fn record(&self, key: &str, window: Duration) -> Result<WindowCount> {
        let key = self.key(&format!("{RATE_LIMIT_KEYS}{key}")).into_owned();
        let millis = u64::try_from(window.min(MAX_TTL).as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let (events, left): (u64, i64) = self
            .run(|mut connection| async move {
                ::redis::cmd("EVAL")
                    .arg(COUNT_IN_WINDOW)
                    .arg(1)
                    .arg(&key)
                    .arg(millis)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(WindowCount {
            events,
            closes_in: Duration::from_millis(u64::try_from(left).unwrap_or(millis)),
        })
    }

    async fn reset(&self, key: &str) -> Result<()> {
        self.delete(&format!("{RATE_LIMIT_KEYS}{key}")).await
    }
}

#[async_trait]
impl ReadinessCheck for RedisCache {
    fn name(&self) -> &'static str {
        BACKEND
    }

    /// Sends `PING`, even during a known outage, so that `/ready` tells the truth now (and a
    /// success lets the cache's operations through again at once).
    async fn check(&self) -> Result<()> {
        self.send(
            |mut connection| async move { ::redis::cmd("PING").exec_async(&mut connection).await },
        )
        .await
    }
}

/// Provides a [`RedisCache`] storing keys as given, as the cache and the rate limiter, and a
/// readiness check on it.
///
/// Every instance built with the same URL shares the cache's entries and its generation.
/// Building fails if Redis cannot be reached within [`CONNECT_TIMEOUT`].
#[derive(Clone)]
pub struct RedisCachePlugin {
    url: String,
}

impl RedisCachePlugin {
    /// The Redis at `url` (`redis://…`, or `rediss://…` for TLS).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }
}

impl fmt::Debug for RedisCachePlugin {
    /// Leaves out the URL, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCachePlugin").finish_non_exhaustive()
    }
}

#[async_trait]
impl Plugin for RedisCachePlugin {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        let cache = Arc::new(RedisCache::connect(&self.url).await?);
        shop.provide_cache(cache.clone())
            .provide_rate_limiter(cache.clone())
            .add_readiness_check(cache);
        Ok(())
    }
}

fn create(url: &str, _config: &Config) -> Result<Box<dyn Plugin>> {
    Ok(Box::new(RedisCachePlugin::new(url)))
}

commerce_core::inventory::submit! {
    PluginFactory { name: "redis", role: Role::Cache, schemes: &["redis", "rediss"], create }
}
