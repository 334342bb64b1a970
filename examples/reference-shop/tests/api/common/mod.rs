//! Starts the real shop on an ephemeral port over a database of its own, for tests that drive
//! it over HTTP exactly as a client would.
//!
//! The database is chosen by `TEST_API_DATABASE`: `sqlite` (the default) makes a file in a
//! temporary directory; `postgres` makes a fresh database on the server at
//! `TEST_POSTGRES_URL` and drops it afterwards, so every API suite runs unchanged on both.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;

use commerce_core::ShopBuilder;
use commerce_core::config::Config;
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::StatusCode;
use serde_json::{Value, json};
// The PostgreSQL server to make test databases on is `TEST_POSTGRES_URL` (SERVER_VARIABLE).
use commerce_plugins::testkit::{PostgresTestDatabase, SERVER_VARIABLE};
// Keeps the plugin registrations linked into this test binary.
use commerce_plugins as _;

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";
pub const STAFF: &str = "staff";
pub const STAFF_PASSWORD: &str = "staff-password";

/// Chooses the database of every app: `sqlite` (default) or `postgres`.
pub const DATABASE_VARIABLE: &str = "TEST_API_DATABASE";

/// A database for one test, removed when dropped.
pub enum TestDatabase {
    /// A file in a temporary directory.
    Sqlite {
        url: String,
        _directory: tempfile::TempDir,
    },
    /// A database of its own on the server at `TEST_POSTGRES_URL` (boxed: its connect
    /// options are large).
    Postgres(Box<PostgresTestDatabase>),
}

impl TestDatabase {
    /// The kind of database `TEST_API_DATABASE` asks for. Panics when it asks for PostgreSQL
    /// without saying where the server is: a run meant to cover PostgreSQL must fail, not
    /// quietly test SQLite again.
    pub async fn chosen() -> Self {
        match std::env::var(DATABASE_VARIABLE).as_deref() {
            Err(_) | Ok("" | "sqlite") => Self::sqlite(),
            Ok("postgres") => {
                let Ok(server) = std::env::var(SERVER_VARIABLE) else {
                    panic!(
                        "{DATABASE_VARIABLE}=postgres needs {SERVER_VARIABLE}, the server to make \
                         test databases on (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
                    );
                };
                Self::Postgres(Box::new(PostgresTestDatabase::create(&server).await))
            }
            Ok(other) => {
                panic!("{DATABASE_VARIABLE}={other:?}: use sqlite (the default) or postgres")
            }
        }
    }

    /// A new SQLite file.
    pub fn sqlite() -> Self {
        let directory = tempfile::tempdir().unwrap();
        Self::Sqlite {
            url: format!("sqlite://{}", directory.path().join("shop.db").display()),
            _directory: directory,
        }
    }

    /// A new PostgreSQL database whatever `TEST_API_DATABASE` says, or `None` (having printed
    /// why) when `TEST_POSTGRES_URL` is unset.
    pub async fn postgres() -> Option<PostgresTestDatabase> {
        PostgresTestDatabase::from_env().await
    }

    /// Its `DATABASE_URL`.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { url, .. } => url.clone(),
            Self::Postgres(database) => database.url(),
        }
    }
}

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    // Dropped after the stop signal is sent (fields drop after `Drop::drop`).
    _database: Option<TestDatabase>,
    _data: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A shop with default settings, `overrides` applied. Unless the overrides name a
/// `DATABASE_URL`, the shop gets a database of its own (see [`TestDatabase::chosen`]); either
/// way it has a search index directory of its own.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let database = if overrides.iter().any(|(name, _)| *name == "DATABASE_URL") {
        None
    } else {
        Some(TestDatabase::chosen().await)
    };
    let mut vars: HashMap<String, String> = HashMap::from([
        ("JWT_SECRET".into(), SECRET.into()),
        ("COMMERCE_ENV".into(), "production".into()),
        (
            "SEARCH_INDEX_PATH".into(),
            data.path().join("search").display().to_string(),
        ),
    ]);
    if let Some(database) = &database {
        vars.insert("DATABASE_URL".into(), database.url());
    }
    for (name, value) in overrides {
        vars.insert((*name).into(), (*value).into());
    }
    let database_url = vars["DATABASE_URL"].clone();
    let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let shop = ShopBuilder::from_registry(config)
        .await
        .unwrap()
        .build()
        .unwrap();
    // A staff account for tests of staff-only operations; taken already when the database is
    // shared with an earlier app.
    let _ = shop
        .auth()
        .create_staff(commerce_core::services::Registration {
            username: STAFF.into(),
            email: "staff@example.com".into(),
            password: STAFF_PASSWORD.into(),
        })
        .await;
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let address = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("a TCP address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(shop.run_on(acceptor, async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        database_url,
        stop: Some(stop),
        _database: database,
        _data: data,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// The backend of its database, as `/ready` names its check: `sqlite` or `postgres`.
    pub fn database_backend(&self) -> &'static str {
        if self.database_url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        decode(response).await
    }

    /// Sends `method` to `path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        decode(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None, None).await
    }

    /// An access token of the staff account every test app has.
    pub async fn staff_token(&self) -> String {
        self.login(STAFF, STAFF_PASSWORD).await.0
    }

    /// An access token of a new customer account.
    pub async fn customer_token(&self, username: &str) -> String {
        self.register(username, "customer-password").await;
        self.login(username, "customer-password").await.0
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        decode(response).await
    }

    pub async fn register(&self, username: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/auth/register/",
                json!({"username": username, "email": format!("{username}@example.com"), "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Logs in and returns (access, refresh).
    pub async fn login(&self, username: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/auth/login/",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access"].as_str().unwrap().to_owned(),
            body["refresh"].as_str().unwrap().to_owned(),
        )
    }
}

/// The status and JSON body (Null when empty); asserts error bodies are problem details.
pub async fn decode(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(content_type, "application/problem+json", "{status}: {body}");
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert!(body["title"].is_string(), "{body}");
        assert!(body["type"].is_string(), "{body}");
    }
    (status, body)
}
