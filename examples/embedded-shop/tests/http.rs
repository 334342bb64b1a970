//! The example served for real, on an ephemeral port, and asked over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use commerce_core::config::Config;
use embedded_shop::{AboutApi, assemble};
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::StatusCode;
use serde_json::Value;

const SECRET: &str = "embedded-shop-test-secret-of-enough-bytes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_its_own_api_beside_the_core_one_in_one_spec() {
    let data = tempfile::tempdir().unwrap();
    let config = Config::from_lookup(|name| (name == "JWT_SECRET").then(|| SECRET.to_owned()))
        .expect("a configuration with only a secret set");
    let shop = assemble(config, data.path())
        .await
        .expect("the shop assembles");
    let app = shop.endpoint_with(AboutApi);
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let address = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("a TCP address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shop.serve(app, acceptor, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{address}");
    let client = reqwest::Client::new();

    // The shop's own operation, with and without the trailing slash, as every path answers.
    for path in ["/api/about/", "/api/about"] {
        let about = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(about.status(), StatusCode::OK, "{path}");
        assert_eq!(about.text().await.unwrap(), "the corner shop");
    }

    // The core API is served beside it, over the database the example chose.
    let products = client
        .get(format!("{base}/api/products/"))
        .send()
        .await
        .unwrap();
    assert_eq!(products.status(), StatusCode::OK);
    let products: Value = products.json().await.unwrap();
    assert_eq!(products["count"], 0);
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    // One OpenAPI document lists both.
    let spec: Value = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().expect("the spec has paths");
    assert!(paths.contains_key("/api/about"), "the example's own path");
    assert!(paths.contains_key("/api/products"), "a core path");

    stop.send(()).unwrap();
    server.await.unwrap().expect("the server stops cleanly");
    assert!(data.path().join("shop.db").exists());
    assert!(data.path().join("search").is_dir());
}
