//! The core cache and rate limiter conformance suites, run against Redis, and what only a
//! shared cache has: two shop instances seeing each other's writes, one response-cache
//! generation for all of them, and outages.
//!
//! Every test takes a key space of its own (`test:<random>:`) on the server at
//! `TEST_REDIS_URL`, so tests run in parallel against one Redis, and deletes its keys when it
//! ends. Without `TEST_REDIS_URL` each test prints why and passes; CI sets it (`.ci/run`).
//! The start-up tests need no server and always run.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{Cache, RateLimiter, ReadinessCheck};
use commerce_core::services::ResponseCache;
use commerce_core::{BuildError, Error, ShopBuilder};
use commerce_plugins::RedisCachePlugin;
use commerce_plugins::redis::{CONNECT_TIMEOUT, OPERATION_TIMEOUT, RedisCache, connect};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const SERVER_VARIABLE: &str = "TEST_REDIS_URL";

/// The Redis to test against, or `None` (having said so) when none is configured.
fn server() -> Option<String> {
    let Ok(url) = std::env::var(SERVER_VARIABLE) else {
        println!("skipping: {SERVER_VARIABLE} is not set");
        return None;
    };
    Some(url)
}

/// The keys of one test, deleted when this is dropped.
struct KeySpace {
    url: String,
    prefix: String,
}

impl KeySpace {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            // Hex only: the prefix is also a SCAN pattern, where `*?[]\` mean something.
            prefix: format!("test:{:016x}:", rand::random::<u64>()),
        }
    }

    /// A new connection (another shop instance) onto this key space.
    async fn instance(&self) -> RedisCache {
        RedisCache::connect_with_prefix(&self.url, self.prefix.as_str())
            .await
            .expect("connect to TEST_REDIS_URL")
    }

    fn delete_keys(&self) -> redis::RedisResult<()> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
        let pattern = format!("{}*", self.prefix);
        let mut cursor = 0_u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut connection)?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).exec(&mut connection)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl Drop for KeySpace {
    fn drop(&mut self) {
        // Synchronous on purpose: Drop cannot await, and a few commands block only briefly.
        if let Err(error) = self.delete_keys() {
            eprintln!("could not delete test keys {}*: {error}", self.prefix);
        }
    }
}

/// A cache over a key space of its own for one conformance test, and the guard that empties it.
async fn fresh() -> Option<(Arc<RedisCache>, KeySpace)> {
    let space = KeySpace::new(&server()?);
    Some((Arc::new(space.instance().await), space))
}

commerce_core::cache_conformance!(optional fresh);
commerce_core::rate_limiter_conformance!(optional fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_see_each_others_writes_and_deletes() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let (a, b) = (space.instance().await, space.instance().await);
    let ttl = Duration::from_secs(60);

    a.set("product:1", Bytes::from_static(b"one"), ttl)
        .await
        .unwrap();
    assert_eq!(
        b.get("product:1").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    b.set("product:1", Bytes::from_static(b"uno"), ttl)
        .await
        .unwrap();
    assert_eq!(
        a.get("product:1").await.unwrap().as_deref(),
        Some(&b"uno"[..])
    );
    b.delete("product:1").await.unwrap();
    assert_eq!(a.get("product:1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_invalidates_reads_on_all() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let ttl = Duration::from_secs(60);
    let a = ResponseCache::new(Arc::new(space.instance().await), ttl);
    let b = ResponseCache::new(Arc::new(space.instance().await), ttl);

    let before = a.generation().await;
    assert_eq!(b.generation().await, before, "one generation for all");

    // A response cached by one instance is a hit on the other: B never loads.
    let key = format!("catalog:{before}:product:1");
    let loaded = a
        .get_or_load(key.clone(), || async {
            Ok(Bytes::from_static(b"{\"id\":1}"))
        })
        .await
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let counted = loads.clone();
    let hit = b
        .get_or_load(key, move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(Bytes::from_static(b"{\"id\":\"stale\"}"))
        })
        .await
        .unwrap();
    assert_eq!(hit, loaded);
    assert_eq!(loads.load(Ordering::SeqCst), 0);

    a.invalidate_all().await;
    let after = b.generation().await;
    assert_ne!(after, before, "B still reads the generation A replaced");
    assert_eq!(after, a.generation().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_stored_as_given_or_under_the_prefix() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let manager = connect(&url).await.unwrap();
    let plain = RedisCache::new(manager.clone());
    let prefixed = RedisCache::with_prefix(manager.clone(), space.prefix.as_str());
    let other = RedisCache::with_prefix(manager, format!("{}other:", space.prefix));
    let ttl = Duration::from_secs(60);

    prefixed
        .set("k", Bytes::from_static(b"v"), ttl)
        .await
        .unwrap();
    let stored = format!("{}k", space.prefix);
    assert_eq!(
        plain.get(&stored).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(other.get("k").await.unwrap(), None, "prefixes are apart");
    plain.delete(&stored).await.unwrap();
    assert_eq!(prefixed.get("k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_to_live_is_sent_in_milliseconds() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let cache = space.instance().await;
    let mut raw = connect(&url).await.unwrap();
    let pttl = |key: &str| {
        redis::cmd("PTTL")
            .arg(format!("{}{key}", space.prefix))
            .clone()
    };

    cache
        .set(
            "precise",
            Bytes::from_static(b"x"),
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
    let left: i64 = pttl("precise").query_async(&mut raw).await.unwrap();
    assert!((1000..=1500).contains(&left), "PTTL {left}");

    // Below a millisecond still stores, briefly: Redis refuses PX 0.
    cache
        .set(
            "instant",
            Bytes::from_static(b"x"),
            Duration::from_micros(10),
        )
        .await
        .unwrap();
    cache
        .set("zero", Bytes::from_static(b"x"), Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(cache.get("instant").await.unwrap(), None);
    assert_eq!(cache.get("zero").await.unwrap(), None);

    // An expiry beyond what Redis accepts is capped rather than refused.
    cache
        .set("forever", Bytes::from_static(b"x"), Duration::MAX)
        .await
        .unwrap();
    let left: i64 = pttl("forever").query_async(&mut raw).await.unwrap();
    assert!(left > 0, "PTTL {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_count_left_without_expiry_gets_one() {
    // What a window closing between opening and counting left behind on Redis before 7.0
    // (a transaction did not stop its clock): a count that never expires would refuse its key
    // for good.
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let limiter = space.instance().await;
    let mut raw = connect(&url).await.unwrap();
    let key = format!("{}limit:login:stuck", space.prefix);
    redis::cmd("SET")
        .arg(&key)
        .arg(40)
        .exec_async(&mut raw)
        .await
        .unwrap();

    let window = Duration::from_secs(60);
    let count = limiter.record("login:stuck", window).await.unwrap();
    assert_eq!(count.events, 41);
    assert_eq!(count.closes_in, window);
    let left: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&left), "PTTL {left}");
}

/// Forwards TCP connections to Redis until aborted, so a test can cut a running shop off from
/// its cache without touching the server others use.
async fn proxy(listener: TcpListener, target: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Dropping the set (when this task is aborted) aborts every forwarded connection.
        let mut connections = JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            let target = target.clone();
            connections.spawn(async move {
                if let Ok(mut server) = TcpStream::connect(target).await {
                    tokio::io::copy_bidirectional(&mut client, &mut server)
                        .await
                        .ok();
                }
            });
        }
    })
}

/// Forwards TCP connections to Redis until told to go silent: from then on it keeps every
/// connection open, reads what the client sends and answers nothing, as a server behind a
/// network path that drops packets. Connections it was forwarding stay silent for good; new
/// ones are forwarded again once it is told to speak.
async fn silent_proxy(listener: TcpListener, target: String) -> Arc<AtomicUsize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Bumped by each silence: a connection forwards only in the era it was accepted in.
    let era = Arc::new(AtomicUsize::new(0));
    let current = era.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let accepted_in = current.load(Ordering::SeqCst);
            let current = current.clone();
            let Ok(server) = TcpStream::connect(target.clone()).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let speaking = move || current.load(Ordering::SeqCst) == accepted_in;
            let speaking_too = speaking.clone();
            tokio::spawn(async move {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                    if speaking() && server_write.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                    if speaking_too() && client_write.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    era
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_is_left_for_a_new_connection() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let (listener, _, proxied, target) = port_in_front(&url).await;
    let era = silent_proxy(listener, target).await;
    let cache = RedisCache::connect_with_prefix(&proxied, space.prefix.as_str())
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    cache.set("k", Bytes::from_static(b"v"), ttl).await.unwrap();

    // Silence: the connection stays open and answers nothing, ever again.
    era.fetch_add(1, Ordering::SeqCst);
    let started = Instant::now();
    let got = cache.get("k").await;
    assert!(matches!(got, Err(Error::Unavailable { .. })), "{got:?}");
    assert!(started.elapsed() < OPERATION_TIMEOUT + Duration::from_millis(500));

    // The address answers again, on new connections only: the cache must have opened one.
    // (Past the retry interval: until then, operations fail without trying.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut recovered = None;
    for _ in 0..10 {
        match cache.check().await {
            Ok(()) => {
                recovered = Some(());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
    assert!(
        recovered.is_some(),
        "still waiting on the silent connection"
    );
    let got = cache.get("k").await.unwrap();
    assert_eq!(got, Some(Bytes::from_static(b"v")));
}

/// A local port for a proxy in front of the Redis at `url`: its listener, its number, `url`
/// through it, and the `host:port` it is to forward to.
async fn port_in_front(url: &str) -> (TcpListener, u16, String, String) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (proxied, target) = through_port(url, port);
    (listener, port, proxied, target)
}

/// `url` with its host and port replaced by `127.0.0.1:port`, and the replaced `host:port`.
fn through_port(url: &str, port: u16) -> (String, String) {
    let client = redis::Client::open(url).unwrap();
    let redis::ConnectionAddr::Tcp(host, server_port) = client.get_connection_info().addr() else {
        panic!("TEST_REDIS_URL must be a redis:// URL for this test");
    };
    let target = format!("{host}:{server_port}");
    let proxied = if url.contains(&target) {
        url.replacen(&target, &format!("127.0.0.1:{port}"), 1)
    } else {
        url.replacen(host.as_str(), &format!("127.0.0.1:{port}"), 1)
    };
    (proxied, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_redis_is_unavailable_quickly_and_the_connection_recovers() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let (listener, port, proxied, target) = port_in_front(&url).await;
    let forwarding = proxy(listener, target.clone()).await;
    let cache = Arc::new(RedisCache::with_prefix(
        connect(&proxied).await.unwrap(),
        space.prefix.as_str(),
    ));
    let ttl = Duration::from_secs(60);
    cache.set("k", Bytes::from_static(b"v"), ttl).await.unwrap();
    cache.check().await.unwrap();

    forwarding.abort();
    forwarding.await.ok();

    // Every operation fails as unavailable: the first within the operation time-out, and the
    // ones after it at once, rather than each waiting for the reconnection.
    let started = Instant::now();
    let got = cache.get("k").await;
    assert!(matches!(got, Err(Error::Unavailable { .. })), "{got:?}");
    assert!(started.elapsed() < OPERATION_TIMEOUT + Duration::from_millis(500));
    let started = Instant::now();
    let got = cache.get("k").await;
    assert!(matches!(got, Err(Error::Unavailable { .. })), "{got:?}");
    let set = cache.set("k", Bytes::from_static(b"w"), ttl).await;
    assert!(matches!(set, Err(Error::Unavailable { .. })), "{set:?}");
    let deleted = cache.delete("k").await;
    assert!(
        matches!(deleted, Err(Error::Unavailable { .. })),
        "{deleted:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    // The response cache reads through to its loader meanwhile, without waiting on Redis.
    let started = Instant::now();
    let responses = ResponseCache::new(cache.clone(), ttl);
    let generation = responses.generation().await;
    let loaded = responses
        .get_or_load(format!("catalog:{generation}:product:1"), || async {
            Ok(Bytes::from_static(b"{\"id\":1}"))
        })
        .await
        .unwrap();
    assert_eq!(loaded.body, Bytes::from_static(b"{\"id\":1}"));
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    // The readiness check asks Redis itself, outage or not.
    let check = cache.check().await;
    assert!(matches!(check, Err(Error::Unavailable { .. })), "{check:?}");

    // Redis is back on the same address: the same cache reconnects by itself.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let forwarding = proxy(listener, target).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match cache.get("k").await {
            Ok(value) => {
                assert_eq!(value.as_deref(), Some(&b"v"[..]));
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("no reconnection within 15 s: {error:?}"),
        }
    }
    cache.check().await.unwrap();
    forwarding.abort();
}

fn config() -> Config {
    Config::from_lookup(|_| None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_fails_the_build_naming_the_plugin() {
    // Nothing listens on port 1; the connection is refused at once, and on every retry.
    let started = Instant::now();
    let result = ShopBuilder::new(config())
        .add(RedisCachePlugin::new("redis://127.0.0.1:1"))
        .await;
    let Err(error) = result else {
        panic!("a shop was built on an unreachable Redis")
    };
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    let BuildError::Plugin { plugin, source } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*plugin, "redis");
    assert!(matches!(source, Error::Unavailable { .. }), "{source:?}");
    let cause = std::error::Error::source(source).unwrap().to_string();
    assert!(cause.contains("127.0.0.1:1"), "{cause}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_fails_the_build_within_the_connect_timeout() {
    // Accepts connections and never answers, as a firewall or a wedged server might.
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    let started = Instant::now();
    let result = ShopBuilder::new(config())
        .add(RedisCachePlugin::new(format!("redis://127.0.0.1:{port}")))
        .await;
    let elapsed = started.elapsed();
    silent.abort();
    assert!(
        matches!(
            &result,
            Err(BuildError::Plugin {
                plugin: "redis",
                source: Error::Unavailable { .. }
            })
        ),
        "{:?}",
        result.err()
    );
    assert!(
        elapsed < CONNECT_TIMEOUT + Duration::from_secs(1),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_malformed_url_is_a_validation_error() {
    let refused = connect("redis://host:port").await;
    assert!(matches!(refused, Err(Error::Validation(_))), "{refused:?}");
}

#[test]
fn redis_urls_choose_this_plugin() {
    for scheme in ["redis", "rediss"] {
        let factory = PluginFactory::all()
            .find(|f| f.role == Role::Cache && f.schemes.contains(&scheme))
            .expect("a cache factory for the scheme");
        assert_eq!(factory.name, "redis", "{scheme}");
    }
}

/// With the cache gone, responses come from the database, and concurrent requests for one
/// response still share one load: an outage must not turn every read into a query of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_gone_concurrent_misses_still_share_one_load() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let (listener, _, proxied, target) = port_in_front(&url).await;
    let forwarding = proxy(listener, target).await;
    let cache = RedisCache::connect_with_prefix(&proxied, space.prefix.as_str())
        .await
        .unwrap();
    let responses = ResponseCache::new(Arc::new(cache), Duration::from_secs(60));
    forwarding.abort();
    forwarding.await.ok();

    let loads = Arc::new(AtomicUsize::new(0));
    let readers = (0..20).map(|_| {
        let responses = responses.clone();
        let loads = loads.clone();
        tokio::spawn(async move {
            let key = format!("catalog:{}:product:1", responses.generation().await);
            responses
                .get_or_load(key, move || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
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

/// A write's invalidation that meets the cache down is not lost: this process reads through
/// meanwhile, and the new generation is stored once the cache is back, so the entries cached
/// before the write are not served again for the rest of their time to live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_the_cache_missed_is_stored_when_it_returns() {
    let Some(url) = server() else { return };
    let space = KeySpace::new(&url);
    let (listener, port, proxied, target) = port_in_front(&url).await;
    let forwarding = proxy(listener, target.clone()).await;
    let cache = RedisCache::connect_with_prefix(&proxied, space.prefix.as_str())
        .await
        .unwrap();
    let responses = ResponseCache::new(Arc::new(cache), Duration::from_secs(60));
    let before = responses.generation().await;
    let key = format!("catalog:{before}:product:1");
    let load = |body: &'static [u8]| move || async move { Ok(Bytes::from_static(body)) };
    responses
        .get_or_load(key.clone(), load(b"old"))
        .await
        .unwrap();

    forwarding.abort();
    forwarding.await.ok();
    responses.invalidate_all().await;
    let during = responses.generation().await;
    assert_ne!(during, before);
    let read = responses
        .get_or_load(format!("catalog:{during}:product:1"), load(b"new"))
        .await
        .unwrap();
    assert_eq!(
        read.body,
        Bytes::from_static(b"new"),
        "read through meanwhile"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let forwarding = proxy(listener, target).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let generation = responses.generation().await;
        if !generation.starts_with("unreachable-") {
            break generation;
        }
        assert!(Instant::now() < deadline, "the cache did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(after, before, "the write's invalidation was stored late");
    // Another instance sharing the cache sees the new generation too.
    let other = RedisCache::connect_with_prefix(&url, space.prefix.as_str())
        .await
        .unwrap();
    let other = ResponseCache::new(Arc::new(other), Duration::from_secs(60));
    assert_eq!(other.generation().await, after);
    forwarding.abort();
}
