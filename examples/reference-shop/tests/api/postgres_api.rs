//! What only a shop on PostgreSQL promises: instances sharing one database see each other's
//! writes, and a database outage is survived.
//!
//! Each test makes a database of its own on the server at `TEST_POSTGRES_URL`, whatever
//! `TEST_API_DATABASE` says, and drops it when it ends. Without `TEST_POSTGRES_URL` each test
//! prints why and passes; CI sets it (`.ci/run`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestApp, TestDatabase, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The names of a product page's results.
fn names(page: &Value) -> Vec<&str> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

/// Creates a category and a product in it through `app`; returns the product.
async fn create_product(app: &TestApp, staff: &str, name: &str) -> Value {
    let (status, category) = app
        .call(
            Method::POST,
            "/api/categories/",
            Some(staff),
            Some(json!({"name": "Spices"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{category}");
    let (status, product) = app
        .call(
            Method::POST,
            "/api/products/",
            Some(staff),
            Some(json!({
                "name": name,
                "price": "4.50",
                "category": category["id"],
                "stock": 5,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    product
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_created_on_one_instance_is_found_by_search_on_another() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let url = database.url();
    // Two instances on one database, each with a search index directory of its own.
    let first = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    let second = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    let staff_on_first = first.staff_token().await;
    let staff_on_second = second.staff_token().await;

    create_product(&first, &staff_on_first, "Zanzibar cloves").await;
    let created = Instant::now();

    // Searched as staff: staff reads bypass the response cache, which is private to each
    // process with the default in-process cache (instances keep their caches consistent
    // only through a shared Redis), so this measures the search index alone.
    let search = "/api/products/?search=zanzibar";
    let found_after = loop {
        let (status, page) = second
            .call(Method::GET, search, Some(&staff_on_second), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        if names(&page) == ["Zanzibar cloves"] {
            break created.elapsed();
        }
        assert!(
            created.elapsed() < Duration::from_secs(1),
            "not found on the second instance within a second: {page}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    println!("found on the second instance after {found_after:?}");

    // A shopper's first search there finds it too, with the price the first instance stored.
    let (status, page) = second.get(search).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(&page), ["Zanzibar cloves"]);
    assert_eq!(page["results"][0]["price"], "4.50");
}

/// Forwards TCP connections to the PostgreSQL server, and can cut them all and refuse new
/// ones until restored, so a test can take the database away from a running shop without
/// touching the server others use.
struct Proxy {
    port: u16,
    forwarding: Arc<Mutex<Forwarding>>,
    accepting: JoinHandle<()>,
}

struct Forwarding {
    up: bool,
    /// Set to hold every forwarded connection open while passing nothing on.
    silent: watch::Sender<bool>,
    /// Dropping or aborting these closes both ends of every forwarded connection.
    connections: JoinSet<()>,
}

impl Proxy {
    async fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let forwarding = Arc::new(Mutex::new(Forwarding {
            up: true,
            silent: watch::Sender::new(false),
            connections: JoinSet::new(),
        }));
        let accepting = tokio::spawn({
            let forwarding = forwarding.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    // Decided under the lock `cut` takes, so no connection slips through a cut.
                    let mut forwarding = forwarding.lock().unwrap();
                    if !forwarding.up {
                        // Closed at once: the shop sees a database that hangs up on it.
                        continue;
                    }
                    let target = target.clone();
                    let mut silent = forwarding.silent.subscribe();
                    forwarding.connections.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let silenced = async {
                                let _ = silent.wait_for(|silent| *silent).await;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                () = silenced => std::future::pending::<()>().await,
                            }
                        }
                    });
                }
            }
        });
        Self {
            port,
            forwarding,
            accepting,
        }
    }

    /// Closes every forwarded connection and refuses new ones.
    fn cut(&self) {
        let mut forwarding = self.forwarding.lock().unwrap();
        forwarding.up = false;
        forwarding.connections.abort_all();
    }

    /// Stops passing anything on while keeping every connection open, as a network path
    /// that drops packets does: neither end hears of it.
    fn silence(&self) {
        self.forwarding.lock().unwrap().silent.send_replace(true);
    }

    /// Forwards new connections again.
    fn restore(&self) {
        self.forwarding.lock().unwrap().up = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// `/ready`'s status and body; not problem details, so read without `common::decode`.
async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_and_the_shop_recovers() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let proxy = Proxy::start(database.server_address()).await;
    let app = spawn_app_with(&[(
        "DATABASE_URL",
        &database.url_through("127.0.0.1", proxy.port),
    )])
    .await;
    let shopper = app.customer_token("ann").await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["postgres"], "ok", "{body}");

    proxy.cut();

    // Requests needing the database answer 503 with problem details (`call` checks the
    // shape), readiness fails naming the database, and the process stays alive.
    let (status, problem) = app
        .post(
            "/api/auth/login/",
            json!({"username": "ann", "password": "customer-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    let (status, problem) = app
        .call(Method::GET, "/api/cart/", Some(&shopper), None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_ne!(body["checks"]["postgres"], "ok", "{body}");
    let (status, body) = app.get("/health").await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"status": "ok"})));

    proxy.restore();

    // The pool reconnects on demand: readiness comes back, and reads and writes work again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = ready(&app).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 20 s after the database returned: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.login("ann", "customer-password").await;
    let (status, cart) = app
        .call(Method::GET, "/api/cart/", Some(&shopper), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    app.register("bob", "customer-password").await;
}

/// A database that stops answering without closing its connections would hold requests until
/// the kernel gave up on them, a quarter of an hour later: the time limit answers 503 instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_a_database_that_went_silent_time_out_with_503() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let proxy = Proxy::start(database.server_address()).await;
    let app = spawn_app_with(&[
        (
            "DATABASE_URL",
            &database.url_through("127.0.0.1", proxy.port),
        ),
        ("REQUEST_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let shopper = app.customer_token("ann").await;
    let (status, cart) = app
        .call(Method::GET, "/api/cart/", Some(&shopper), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cart}");

    proxy.silence();

    let started = Instant::now();
    let (status, problem) = app
        .call(Method::GET, "/api/cart/", Some(&shopper), None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = app.get("/health").await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"status": "ok"})));
}
