//! Test support for code built on these plugins (feature `testkit`): a PostgreSQL database of
//! its own for each test, made on a real server and dropped afterwards, and an SMTP server
//! that keeps what it is sent ([`smtp`]).
//!
//! Tests that need PostgreSQL read the server from [`SERVER_VARIABLE`] and skip, saying so,
//! when it is unset. A database per test lets tests run in parallel and leaves nothing behind.
//! Like any test helper, these panic instead of returning errors.
#![allow(clippy::expect_used)]

pub mod smtp;

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

/// The environment variable naming the server to make test databases on, as a
/// `postgres://` URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const SERVER_VARIABLE: &str = "TEST_POSTGRES_URL";

/// A database made on the PostgreSQL server for one test, dropped (with `FORCE`, so
/// connections the test left open do not keep it) when this is.
#[derive(Debug)]
pub struct PostgresTestDatabase {
    server: String,
    options: PgConnectOptions,
    name: String,
}

impl PostgresTestDatabase {
    /// A new database on the server [`SERVER_VARIABLE`] names, or `None`, having printed why,
    /// when it is unset.
    pub async fn from_env() -> Option<Self> {
        let Some(server) = server_url() else {
            println!("skipping: {SERVER_VARIABLE} is not set");
            return None;
        };
        Some(Self::create(&server).await)
    }

    /// Makes `test_<random>` on the server at `server`, a `postgres://` URL.
    pub async fn create(server: &str) -> Self {
        Self::create_with(server, "").await
    }

    /// As [`create`](Self::create), with `options` appended to `CREATE DATABASE`, such as a
    /// template and a locale.
    pub async fn create_with(server: &str, options: &str) -> Self {
        let server_options = PgConnectOptions::from_str(server)
            .unwrap_or_else(|e| panic!("{SERVER_VARIABLE} is not a postgres:// URL: {e}"));
        let name = format!("test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect_with(&server_options)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {SERVER_VARIABLE}: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                r#"CREATE DATABASE "{name}" {options}"#
            )))
            .await
            .expect("create a test database");
        admin.close().await.ok();
        Self {
            server: server.to_owned(),
            options: server_options,
            name,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Options to connect to this database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone().database(&self.name)
    }

    /// The URL of this database, for code that takes one (`DATABASE_URL`): the server's URL
    /// with this database's name as its path.
    pub fn url(&self) -> String {
        self.url_with_address(None)
    }

    /// As [`url`](Self::url), but connecting to `host:port` instead of the server's address
    /// (a proxy standing in front of it).
    pub fn url_through(&self, host: &str, port: u16) -> String {
        self.url_with_address(Some(format!("{host}:{port}")))
    }

    /// Where the server itself listens, for a proxy to forward to.
    pub fn server_address(&self) -> (String, u16) {
        (self.options.get_host().to_owned(), self.options.get_port())
    }

    fn url_with_address(&self, address: Option<String>) -> String {
        let (location, query) = match self.server.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (self.server.as_str(), None),
        };
        let (scheme, rest) = location.split_once("://").expect("a postgres:// URL");
        let authority = rest
            .split_once('/')
            .map_or(rest, |(authority, _)| authority);
        let authority = match (address, authority.rsplit_once('@')) {
            (None, _) => authority.to_owned(),
            (Some(address), Some((credentials, _))) => format!("{credentials}@{address}"),
            (Some(address), None) => address,
        };
        let mut url = format!("{scheme}://{authority}/{}", self.name);
        if let Some(query) = query {
            url = format!("{url}?{query}");
        }
        url
    }
}

/// The URL [`SERVER_VARIABLE`] holds, if set.
pub fn server_url() -> Option<String> {
    std::env::var(SERVER_VARIABLE).ok()
}

impl Drop for PostgresTestDatabase {
    fn drop(&mut self) {
        let options = self.options.clone();
        let name = self.name.clone();
        // Drop cannot await and runs inside the test's runtime: a thread with a runtime of its
        // own does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect_with(&options).await?;
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
