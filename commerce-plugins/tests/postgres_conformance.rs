//! The core conformance suites, run against PostgreSQL, and what only PostgreSQL has:
//! migrations racing from several instances, LISTEN/NOTIFY wake-ups, outages.
//!
//! Every test makes a database of its own (`test_<random>`) on the server at
//! `TEST_POSTGRES_URL`, so tests run in parallel, and drops it when it ends. Without
//! `TEST_POSTGRES_URL` each test prints why and passes; CI sets it (`.ci/run`).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use commerce_core::Error;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{NewTask, ReadinessCheck, TaskQueue, UserStore};
use commerce_plugins::postgres::{PostgresDatabase, PostgresSettings};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const SERVER_VARIABLE: &str = "TEST_POSTGRES_URL";

/// The server to make test databases on, or `None` (having said so) when none is configured.
fn server() -> Option<PgConnectOptions> {
    let Ok(url) = std::env::var(SERVER_VARIABLE) else {
        println!("skipping: {SERVER_VARIABLE} is not set");
        return None;
    };
    Some(PgConnectOptions::from_str(&url).expect("TEST_POSTGRES_URL is a postgres:// URL"))
}

/// A database made for one test, dropped when this is.
struct TestDatabase {
    server: PgConnectOptions,
    name: String,
}

impl TestDatabase {
    async fn create(server: PgConnectOptions) -> Self {
        let name = format!("test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("connect to TEST_POSTGRES_URL");
        admin
            .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .expect("create a test database");
        admin.close().await.ok();
        Self { server, name }
    }

    fn options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// A new, unmigrated connection pool to this database: another instance of the shop.
    async fn instance(&self, settings: PostgresSettings) -> PostgresDatabase {
        PostgresDatabase::connect_with(self.options(), settings)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop cannot await, and runs inside the test's runtime: a thread with a runtime of
        // its own does the work. FORCE ends the connections the test left open.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect_with(&server).await?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A migrated database of its own for one conformance test, and the guard that drops it.
async fn fresh() -> Option<(Arc<PostgresDatabase>, TestDatabase)> {
    let test = TestDatabase::create(server()?).await;
    let database = test.instance(PostgresSettings::default()).await;
    database.migrate().await.expect("migrate");
    Some((Arc::new(database), test))
}

commerce_core::account_store_conformance!(optional fresh);
commerce_core::task_queue_conformance!(optional fresh);

fn task(job: &str) -> NewTask {
    NewTask {
        job: job.into(),
        payload: serde_json::json!({"n": 1}),
        run_at: Utc::now(),
        max_attempts: 3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_each_migration_once() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    // Four instances starting at once against an empty database, each with its own pool.
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(test.instance(PostgresSettings::default()).await);
    }
    let mut migrations = JoinSet::new();
    for instance in &instances {
        let instance = instance.clone();
        migrations.spawn(async move { instance.migrate().await });
    }
    let results = migrations.join_all().await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let mut connection = PgConnection::connect_with(&test.options()).await.unwrap();
    let (applied, versions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!((applied, versions), (files as i64, files as i64));
    connection.close().await.unwrap();

    // Once applied, migrating again is a no-op, and the schema serves the ports.
    instances[0].migrate().await.unwrap();
    instances[1].enqueue(task("after")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_workers_wake_when_another_instance_enqueues() {
    let Some((waiting, test)) = fresh().await else {
        return;
    };
    let other = test.instance(PostgresSettings::default()).await;

    // The first wait starts the listener, and returns once it listens: anything enqueued
    // before then was not announced, so waiters are sent to look.
    let started = Instant::now();
    waiting.wait_for_tasks(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "listener never connected"
    );

    // Listening, with nothing enqueued, a wait lasts its whole timeout.
    let started = Instant::now();
    waiting.wait_for_tasks(Duration::from_millis(300)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    // An enqueue through another pool (another instance) ends the wait long before its timeout.
    for announce in ["enqueue", "retry"] {
        let waiter = {
            let waiting = waiting.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                waiting.wait_for_tasks(Duration::from_secs(30)).await;
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let id = other.enqueue(task(announce)).await.unwrap();
        if announce == "retry" {
            other.retry(id, Utc::now(), "again").await.unwrap();
        }
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap_or_else(|_| panic!("{announce} did not wake the waiting worker"))
            .unwrap();
        assert!(waited < Duration::from_secs(5), "{announce}: {waited:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_is_set_on_every_connection() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    let database = test
        .instance(PostgresSettings {
            max_connections: 2,
            statement_timeout: Duration::from_millis(250),
            ..PostgresSettings::default()
        })
        .await;
    // Both connections at once, so that each is a different one.
    let mut first = database.pool().acquire().await.unwrap();
    let mut second = database.pool().acquire().await.unwrap();
    for connection in [&mut first, &mut second] {
        let shown: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        assert_eq!(shown, "250ms");
    }
    drop((first, second));
    let cancelled = sqlx::query("SELECT pg_sleep(2)")
        .execute(database.pool())
        .await
        .unwrap_err();
    assert_eq!(
        cancelled
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("57014"),
        "{cancelled}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable() {
    if server().is_none() {
        return;
    }
    // Nothing listens on port 1; the connection is refused at once.
    let refused = PostgresDatabase::connect(
        "postgres://postgres@127.0.0.1:1/postgres",
        PostgresSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresSettings::default()
        },
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Unavailable { .. })),
        "{refused:?}"
    );
    let malformed =
        PostgresDatabase::connect("postgres://host:port/db", PostgresSettings::default()).await;
    assert!(
        matches!(malformed, Err(Error::Validation(_))),
        "{malformed:?}"
    );
}

/// Forwards TCP connections to the PostgreSQL server until aborted, so a test can cut the
/// database off from a running shop without touching the server others use.
async fn proxy(target: (String, u16)) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let forwarding = tokio::spawn(async move {
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
    });
    (port, forwarding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_unavailable() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server.clone()).await;
    let (port, forwarding) = proxy((server.get_host().to_owned(), server.get_port())).await;
    let database = PostgresDatabase::connect_with(
        test.options().host("127.0.0.1").port(port),
        PostgresSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresSettings::default()
        },
    )
    .await
    .unwrap();
    database.migrate().await.unwrap();
    database.check().await.unwrap();

    forwarding.abort();
    forwarding.await.ok();

    let check = database.check().await;
    assert!(matches!(check, Err(Error::Unavailable { .. })), "{check:?}");
    let claim = database.claim(Utc::now(), Duration::from_secs(30)).await;
    assert!(matches!(claim, Err(Error::Unavailable { .. })), "{claim:?}");
    let user = database.find_user(commerce_core::domain::UserId(1)).await;
    assert!(matches!(user, Err(Error::Unavailable { .. })), "{user:?}");
}

#[test]
fn postgres_urls_choose_this_plugin() {
    for scheme in ["postgres", "postgresql"] {
        let factory = PluginFactory::all()
            .find(|f| f.role == Role::Database && f.schemes.contains(&scheme))
            .expect("a database factory for the scheme");
        assert_eq!(factory.name, "postgres", "{scheme}");
    }
}
