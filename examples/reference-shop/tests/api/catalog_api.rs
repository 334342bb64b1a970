//! The catalogue over HTTP: categories, products, lists, search, permissions and caching.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, created) = app.call(Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn category(app: &TestApp, token: &str, name: &str, parent: Option<i64>) -> i64 {
    create(
        app,
        token,
        "/api/categories/",
        json!({"name": name, "parent": parent}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn product(
    app: &TestApp,
    token: &str,
    name: &str,
    price: &str,
    category: i64,
    stock: i64,
) -> Value {
    create(
        app,
        token,
        "/api/products/",
        json!({"name": name, "description": format!("{name} for every day"), "price": price, "category": category, "stock": stock}),
    )
    .await
}

/// A shop with a staff member, a Tea category and one product in it: Sencha, five in stock.
struct Sencha {
    staff: String,
    tea: i64,
    id: i64,
    /// The product's address, for the HTTP client.
    url: String,
}

async fn sencha(app: &TestApp, price: &str) -> Sencha {
    let staff = app.staff_token().await;
    let tea = category(app, &staff, "Tea", None).await;
    let id = product(app, &staff, "Sencha", price, tea, 5).await["id"]
        .as_i64()
        .unwrap();
    let url = app.url(&format!("/api/products/{id}/"));
    Sencha {
        staff,
        tea,
        id,
        url,
    }
}

/// The entity tag a staff member's `GET` of `url` answers.
async fn staff_etag(app: &TestApp, url: &str, staff: &str) -> String {
    let read = app.client.get(url).bearer_auth(staff).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    read.headers()["etag"].to_str().unwrap().to_owned()
}

/// A staff member's `method` on `url` with a JSON `body`, on the condition `if_match` states
/// (see [`conditional`]).
fn conditional_change(
    app: &TestApp,
    method: Method,
    url: &str,
    staff: &str,
    if_match: &[&str],
    body: &Value,
) -> reqwest::RequestBuilder {
    conditional(app.client.request(method, url).json(body), staff, if_match)
}

/// A staff member's `request`, sending each of `if_match` as an `If-Match` line of its own,
/// byte for byte (past ASCII too).
fn conditional(
    request: reqwest::RequestBuilder,
    staff: &str,
    if_match: &[&str],
) -> reqwest::RequestBuilder {
    if_match
        .iter()
        .fold(request.bearer_auth(staff), |request, line| {
            let line = reqwest::header::HeaderValue::from_bytes(line.as_bytes()).unwrap();
            request.header("if-match", line)
        })
}

fn names(page: &Value) -> Vec<&str> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn staff_manage_categories_and_others_may_only_read() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let customer = app.customer_token("shopper").await;

    let body = json!({"name": "Tea"});
    let (status, _) = app
        .call(Method::POST, "/api/categories/", None, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/categories/",
            Some(&customer),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let tea = create(&app, &staff, "/api/categories/", body).await;
    assert_eq!(tea["slug"], "tea");
    assert_eq!(tea["description"], "");
    assert!(tea["parent"].is_null());
    let tea_id = tea["id"].as_i64().unwrap();
    let green = category(&app, &staff, "Green Tea", Some(tea_id)).await;

    let (status, list) = app.get("/api/categories/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 2);
    assert!(list["next"].is_null() && list["previous"].is_null());
    let (status, one) = app.get(&format!("/api/categories/{green}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["parent"], tea_id);

    // Names are unique regardless of case; parents must exist and never form a cycle.
    let (status, error) = app
        .call(
            Method::POST,
            "/api/categories/",
            Some(&staff),
            Some(json!({"name": "TEA"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["errors"]["name"].is_array(), "{error}");
    let (status, error) = app
        .call(
            Method::POST,
            "/api/categories/",
            Some(&staff),
            Some(json!({"name": "X", "parent": 999})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["errors"]["parent"].is_array(), "{error}");
    let (status, error) = app
        .call(
            Method::PATCH,
            &format!("/api/categories/{tea_id}/"),
            Some(&staff),
            Some(json!({"parent": green})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["errors"]["parent"].is_array(), "{error}");
    // With another problem, both are reported at once.
    let (status, error) = app
        .call(
            Method::PATCH,
            &format!("/api/categories/{tea_id}/"),
            Some(&staff),
            Some(json!({"parent": green, "name": " "})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["errors"]["parent"].is_array(), "{error}");
    assert!(error["errors"]["name"].is_array(), "{error}");

    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/categories/{green}/"),
            Some(&staff),
            Some(json!({"description": "Steamed leaves", "parent": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (patched["name"].as_str(), patched["parent"].is_null()),
        (Some("Green Tea"), true)
    );
    let (status, replaced) = app
        .call(
            Method::PUT,
            &format!("/api/categories/{green}/"),
            Some(&staff),
            Some(json!({"name": "Matcha"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (replaced["slug"].as_str(), replaced["description"].as_str()),
        (Some("matcha"), Some(""))
    );

    // A category with products cannot go.
    product(&app, &staff, "Sencha", "12.50", tea_id, 3).await;
    let (status, error) = app
        .call(
            Method::DELETE,
            &format!("/api/categories/{tea_id}/"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(error["errors"]["products"].is_array(), "{error}");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/categories/{green}/"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/categories/{green}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn products_take_the_old_shops_fields_and_validate_them() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = category(&app, &staff, "Tea", None).await;

    let created = create(
        &app,
        &staff,
        "/api/products",
        json!({"name": "Sencha", "description": "Green", "price": "1500.00", "category": tea, "stock": 10}),
    )
    .await;
    assert_eq!(created["price"], "1500.00");
    assert_eq!(created["slug"], "sencha");
    assert!(created["sku"].as_str().unwrap().starts_with("SKU-"));
    assert_eq!(created["is_active"], true);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let id = created["id"].as_i64().unwrap();

    let (status, fetched) = app.get(&format!("/api/products/{id}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
    let (status, _) = app.get(&format!("/api/products/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    // A valid product with one field replaced: each must be refused on that field.
    let with = |field: &'static str, value: Value| {
        let mut body = json!({"name": "A", "price": "1.00", "category": tea, "stock": 1});
        body[field] = value;
        (body, field)
    };
    let bad = [
        with("price", json!("1.005")),
        with("price", json!("-1.00")),
        with("price", json!("cheap")),
        // What the spec's pattern and lengths forbid is refused, however harmless.
        with("price", json!("-0")),
        with("price", json!(" 1.00")),
        with("price", json!("00000000000001")),
        with("name", json!(format!("{} ", "A".repeat(200)))),
        with("stock", json!(-1)),
        with("category", json!(999)),
        with("name", json!(" ")),
        with("sku", created["sku"].clone()),
        with("slug", json!("Not A Slug")),
    ];
    for (body, field) in bad {
        let (status, error) = app
            .call(
                Method::POST,
                "/api/products/",
                Some(&staff),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(error["errors"][field].is_array(), "{field}: {error}");
    }
    let (status, error) = app
        .call(
            Method::POST,
            "/api/products/",
            Some(&staff),
            Some(json!({"name": "A", "price": 5, "category": tea, "stock": 1})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a number is not a decimal string: {error}"
    );

    // Same name again: the derived slug is made unique.
    let twin = product(&app, &staff, "Sencha", "1.00", tea, 1).await;
    assert_ne!(twin["slug"], created["slug"]);

    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/products/{id}/"),
            Some(&staff),
            Some(json!({"price": "1499.99"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (patched["price"].as_str(), patched["name"].as_str()),
        (Some("1499.99"), Some("Sencha"))
    );
    let (status, error) = app
        .call(
            Method::PUT,
            &format!("/api/products/{id}/"),
            Some(&staff),
            Some(json!({"name": "Only a name"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "PUT needs every required field: {error}"
    );

    let customer = app.customer_token("buyer").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/products/{id}/"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/products/{id}/"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/products/{id}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_filter_order_and_paginate_with_drf_envelopes() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = category(&app, &staff, "Tea", None).await;
    let green = category(&app, &staff, "Green", Some(tea)).await;
    let coffee = category(&app, &staff, "Coffee", None).await;
    product(&app, &staff, "Sencha", "12.00", green, 5).await;
    product(&app, &staff, "Assam", "8.50", tea, 0).await;
    product(&app, &staff, "Mocha", "4.00", coffee, 2).await;
    let hidden = product(&app, &staff, "Secret blend", "99.00", tea, 1).await;
    app.call(
        Method::PATCH,
        &format!("/api/products/{}/", hidden["id"]),
        Some(&staff),
        Some(json!({"is_active": false})),
    )
    .await;

    let (_, all) = app.get("/api/products/?ordering=price").await;
    assert_eq!(
        names(&all),
        ["Mocha", "Assam", "Sencha"],
        "inactive products are hidden"
    );
    assert_eq!(all["count"], 3);
    let (_, staff_view) = app
        .call(
            Method::GET,
            "/api/products/?ordering=-price",
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(
        names(&staff_view),
        ["Secret blend", "Sencha", "Assam", "Mocha"]
    );
    let (_, staff_by_stock) = app
        .call(
            Method::GET,
            "/api/products/?ordering=stock",
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(
        names(&staff_by_stock),
        ["Assam", "Secret blend", "Mocha", "Sencha"]
    );
    assert_eq!(staff_by_stock["count"], 4);
    // Nor is an inactive product found, or read, by anyone but staff.
    let hidden_path = format!("/api/products/{}/", hidden["id"]);
    let (status, _) = app.get(&hidden_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get_with_token(&hidden_path, &staff).await;
    assert_eq!(status, StatusCode::OK);
    let (_, found) = app.get("/api/products/?search=secret").await;
    assert_eq!(found["count"], 0, "{found}");
    let (_, found) = app
        .get_with_token("/api/products/?search=secret", &staff)
        .await;
    assert_eq!(names(&found), ["Secret blend"]);

    let cases = [
        (
            format!("/api/products/?category={tea}&ordering=name"),
            vec!["Assam", "Sencha"],
        ),
        (format!("/api/products/?category={green}"), vec!["Sencha"]),
        (
            "/api/products/?min_price=5&max_price=12.00&ordering=-price".into(),
            vec!["Sencha", "Assam"],
        ),
        (
            "/api/products/?in_stock=true&ordering=stock".into(),
            vec!["Mocha", "Sencha"],
        ),
        ("/api/products/?in_stock=false".into(), vec!["Assam"]),
        // Unfiltered, yet from the search index: stores keep no index on stock.
        (
            "/api/products/?ordering=-stock".into(),
            vec!["Sencha", "Mocha", "Assam"],
        ),
        (
            "/api/products/?ordering=-name".into(),
            vec!["Sencha", "Mocha", "Assam"],
        ),
    ];
    for (path, want) in cases {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert_eq!(names(&page), want, "{path}");
        assert_eq!(page["count"], want.len(), "{path}");
    }

    let (_, first) = app.get("/api/products/?ordering=name&page_size=2").await;
    assert_eq!(names(&first), ["Assam", "Mocha"]);
    assert!(first["previous"].is_null());
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("http://{}/api/products/?", app.address)),
        "{next}"
    );
    assert!(
        next.contains("page=2") && next.contains("page_size=2") && next.contains("ordering=name")
    );
    let second: Value = app
        .client
        .get(next)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(&second), ["Sencha"]);
    assert!(second["next"].is_null());
    assert!(second["previous"].as_str().unwrap().contains("page_size=2"));

    let (status, error) = app.get("/api/products/?page=9").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "past the end: {error}");
    assert!(error["errors"]["page"].is_array(), "{error}");
    for (path, field) in [
        ("/api/products/?ordering=colour", "ordering"),
        ("/api/products/?min_price=abc", "min_price"),
        ("/api/products/?min_price=10&max_price=5", "min_price"),
        ("/api/products/?page=0", "page"),
        ("/api/products/?page_size=101", "page_size"),
        ("/api/products/?category=999", "category"),
        ("/api/products/?min_price=1.001", "min_price"),
        ("/api/products/?ordering=%20price", "ordering"),
    ] {
        let (status, error) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert!(error["errors"][field].is_array(), "{path}: {error}");
    }
    // Empty asks for the default order, as the spec's enum says; so does the highest price.
    for path in [
        "/api/products/?ordering=",
        "/api/products/?max_price=10000000000.00",
    ] {
        let (status, error) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {error}");
    }
    // A value of the wrong type is told on its parameter too, before any rule is checked; a
    // path segment's is a plain 400.
    for (path, parameter) in [
        ("/api/products/?page=two", "page"),
        ("/api/products/?in_stock=maybe", "in_stock"),
    ] {
        let (status, error) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert!(error["errors"][parameter].is_array(), "{path}: {error}");
    }
    let (status, error) = app.get("/api/products/abc/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["type"], "about:blank", "{error}");
}

#[tokio::test]
async fn search_ranks_filters_and_reflects_writes_at_once() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let audio = category(&app, &staff, "Audio", None).await;
    let kitchen = category(&app, &staff, "Kitchen", None).await;
    let headphones = product(&app, &staff, "Wireless headphones", "199.00", audio, 4).await;
    product(&app, &staff, "Speaker", "99.00", audio, 0).await;
    create(
        &app,
        &staff,
        "/api/products/",
        json!({"name": "Kettle", "description": "Quieter than headphones", "price": "30.00", "category": kitchen, "stock": 2}),
    )
    .await;

    let (status, found) = app.get("/api/products/?search=headphones").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        names(&found),
        ["Wireless headphones", "Kettle"],
        "name matches rank first"
    );
    let (_, prefix) = app.get("/api/products/?search=headph").await;
    assert_eq!(prefix["count"], 2, "{prefix}");
    let (_, by_category) = app.get("/api/products/?search=audio&ordering=price").await;
    assert_eq!(names(&by_category), ["Speaker", "Wireless headphones"]);
    let (_, filtered) = app
        .get(&format!(
            "/api/products/?search=headphones&category={kitchen}"
        ))
        .await;
    assert_eq!(names(&filtered), ["Kettle"]);
    let (_, none) = app
        .get("/api/products/?search=%22unbalanced%20-quote%20AND")
        .await;
    assert_eq!(none["count"], 0);

    // Price and name come from the store, and a write is searchable before its response.
    let id = headphones["id"].as_i64().unwrap();
    app.call(
        Method::PATCH,
        &format!("/api/products/{id}/"),
        Some(&staff),
        Some(json!({"price": "149.00", "name": "Wireless earphones"})),
    )
    .await;
    let (_, renamed) = app.get("/api/products/?search=earphones").await;
    assert_eq!(renamed["results"][0]["price"], "149.00");
    let (_, old_name) = app.get("/api/products/?search=wireless%20headphones").await;
    assert!(!names(&old_name).contains(&"Wireless headphones"));
    app.call(
        Method::DELETE,
        &format!("/api/products/{id}/"),
        Some(&staff),
        None,
    )
    .await;
    let (_, gone) = app.get("/api/products/?search=earphones").await;
    assert_eq!(gone["count"], 0);
}

#[tokio::test]
async fn reads_carry_etags_and_answer_304_when_unchanged() {
    let app = spawn_app().await;
    let Sencha {
        staff,
        tea,
        id,
        url,
    } = sencha(&app, "12.00").await;

    let first = app.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "public, no-cache");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);

    app.call(
        Method::PATCH,
        &format!("/api/products/{id}/"),
        Some(&staff),
        Some(json!({"price": "13.00"})),
    )
    .await;
    let changed = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    let list = app
        .client
        .get(app.url("/api/products/"))
        .send()
        .await
        .unwrap();
    let list_etag = list.headers()["etag"].to_str().unwrap().to_owned();
    let list_again = app
        .client
        .get(app.url("/api/products/"))
        .header("if-none-match", list_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(list_again.status(), StatusCode::NOT_MODIFIED);

    // Categories, one and all, alike; a change to one gives both a new tag.
    let category_url = app.url(&format!("/api/categories/{tea}/"));
    let categories_url = app.url("/api/categories/");
    let mut tags = Vec::new();
    for url in [&category_url, &categories_url] {
        let first = app.client.get(url).send().await.unwrap();
        let tag = first.headers()["etag"].to_str().unwrap().to_owned();
        let again = app.client.get(url).header("if-none-match", &tag);
        let again = again.send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
        tags.push(tag);
    }
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/categories/{tea}/"),
            Some(&staff),
            Some(json!({"description": "Leaves"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (url, tag) in [&category_url, &categories_url].into_iter().zip(&tags) {
        let changed = app.client.get(url).header("if-none-match", tag);
        let changed = changed.send().await.unwrap();
        assert_eq!(changed.status(), StatusCode::OK, "{url}");
    }
}

/// Two staff members edit one product from the page each read: with `If-Match`, the second
/// change is refused instead of silently undoing the first.
#[tokio::test]
async fn staff_changes_with_if_match_cannot_undo_each_other() {
    let app = spawn_app().await;
    let Sencha {
        staff,
        tea,
        id,
        url,
        ..
    } = sencha(&app, "12.00").await;
    let etag = staff_etag(&app, &url, &staff).await;

    let patch = |if_match: &str, body: Value| {
        conditional_change(&app, Method::PATCH, &url, &staff, &[if_match], &body).send()
    };
    let first = patch(&etag, json!({"price": "13.00"})).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let new_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let (status, problem) = common::decode(
        patch(&etag, json!({"name": "Sencha, first flush"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["status"], 412);
    // A body that breaks a rule is a 400 whatever the tag: reading again would not fix it.
    let (status, problem) =
        common::decode(patch(&etag, json!({"price": "-1.00"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem["errors"]["price"].is_array(), "{problem}");

    // The tag a change answers with, and the one a read gives now, are the current version's.
    assert_eq!(staff_etag(&app, &url, &staff).await, new_etag);
    let (status, product) = common::decode(
        patch(&new_etag, json!({"name": "Sencha, first flush"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    assert_eq!(
        (product["name"].as_str(), product["price"].as_str()),
        (Some("Sencha, first flush"), Some("13.00"))
    );

    // `*` asks only that the product exists; a weak tag never matches; without the header
    // the change is unconditional.
    let (status, _) = common::decode(patch("*", json!({"stock": 6})).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let weak = format!("W/{}", staff_etag(&app, &url, &staff).await);
    let (status, _) = common::decode(patch(&weak, json!({"stock": 7})).await.unwrap()).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/products/{id}/"),
            Some(&staff),
            Some(json!({"name": "Sencha", "price": "12.00", "category": tea, "stock": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Categories take `If-Match` as products do. Staff read the current version even while
/// everyone else is served from the cache, and the tags may come over several header lines.
#[tokio::test]
async fn staff_category_changes_with_if_match_cannot_undo_each_other() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = category(&app, &staff, "Tea", None).await;
    let path = format!("/api/categories/{tea}/");
    let url = app.url(&path);
    let (status, _) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let etag = staff_etag(&app, &url, &staff).await;
    let staff_read = app
        .client
        .get(&url)
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(staff_read.headers()["cache-control"], "private, no-cache");

    let patch = |if_match: &[&str], body: Value| {
        conditional_change(&app, Method::PATCH, &url, &staff, if_match, &body).send()
    };
    let first = patch(&[&etag], json!({"description": "Leaves"}))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let new_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let (status, problem) =
        common::decode(patch(&[&etag], json!({"name": "Teas"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["status"], 412);
    let (status, problem) =
        common::decode(patch(&[&etag], json!({"parent": tea})).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem["errors"]["parent"].is_array(), "{problem}");

    assert_eq!(staff_etag(&app, &url, &staff).await, new_etag);
    let public = app.client.get(&url).send().await.unwrap();
    assert_eq!(public.headers()["etag"].to_str().unwrap(), new_etag);
    let (status, category) = common::decode(
        patch(&["\"stale\"", &new_etag], json!({"name": "Teas"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{category}");
    assert_eq!(category["name"], "Teas");
    assert_eq!(category["description"], "Leaves");

    let put = |if_match: &str, body: Value| {
        conditional_change(&app, Method::PUT, &url, &staff, &[if_match], &body).send()
    };
    let (status, problem) =
        common::decode(put(&new_etag, json!({"name": "Tea"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    let current = staff_etag(&app, &url, &staff).await;
    let (status, problem) =
        common::decode(put(&current, json!({"name": "Tea"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    let (status, _) = common::decode(patch(&["*"], json!({"name": "Teas"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&staff),
            Some(json!({"name": "Tea"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = app.url("/api/categories/999999/");
    let body = json!({"name": "Gone"});
    let change = conditional_change(&app, Method::PATCH, &gone, &staff, &[&new_etag], &body);
    let (status, _) = common::decode(change.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A delete with `If-Match` spares a product or category changed since it was read: whoever
/// decided to delete it sees the change first. The tag is checked before what the category
/// still holds.
#[tokio::test]
async fn deletes_with_if_match_spare_what_changed_since() {
    let app = spawn_app().await;
    let Sencha {
        staff,
        tea,
        id,
        url,
    } = sencha(&app, "12.00").await;
    let category_path = format!("/api/categories/{tea}/");
    let category_url = app.url(&category_path);
    let delete = |url: &str, if_match: &[&str]| {
        let request = conditional(app.client.delete(url), &staff, if_match);
        async move { common::decode(request.send().await.unwrap()).await }
    };

    let category_etag = staff_etag(&app, &category_url, &staff).await;
    let change = json!({"description": "Leaves"});
    let (status, _) = app
        .call(Method::PATCH, &category_path, Some(&staff), Some(change))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = delete(&category_url, &[&category_etag]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["status"], 412);
    let category_etag = staff_etag(&app, &category_url, &staff).await;
    let (status, problem) = delete(&category_url, &[&category_etag]).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "Sencha is still in it: {problem}"
    );

    let etag = staff_etag(&app, &url, &staff).await;
    let product_path = format!("/api/products/{id}/");
    let change = json!({"price": "13.00"});
    let (status, _) = app
        .call(Method::PATCH, &product_path, Some(&staff), Some(change))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = delete(&url, &[&etag]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    let (status, problem) = delete(&url, &["abc"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem["errors"]["If-Match"].is_array(), "{problem}");
    let still_there = app
        .client
        .get(&url)
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(still_there.status(), StatusCode::OK);

    let etag = staff_etag(&app, &url, &staff).await;
    let (status, _) = delete(&url, &[&format!("W/{etag}")]).await;
    assert_eq!(
        status,
        StatusCode::PRECONDITION_FAILED,
        "a weak tag never matches"
    );
    let (status, body) = delete(&url, &[&etag]).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = delete(&url, &[&etag]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(&category_url, &["\"stale\"", &category_etag]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let coffee = category(&app, &staff, "Coffee", None).await;
    let coffee_url = app.url(&format!("/api/categories/{coffee}/"));
    let (status, _) = delete(&coffee_url, &["*"]).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "`*` asks only that it exists"
    );
}

/// Staff members changing one category at once from the same version: exactly one change is
/// made, and the others are told it moved on.
#[tokio::test]
async fn simultaneous_changes_from_one_version_make_exactly_one() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = category(&app, &staff, "Tea", None).await;
    let url = app.url(&format!("/api/categories/{tea}/"));
    let etag = staff_etag(&app, &url, &staff).await;
    let changes = (0..8).map(|n| {
        let body = json!({"description": format!("edit {n}")});
        conditional_change(&app, Method::PATCH, &url, &staff, &[&etag], &body).send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(changes)
        .await
        .into_iter()
        .map(|response| response.unwrap().status())
        .collect();
    let made = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((made, refused), (1, 7), "{statuses:?}");
}

/// `If-Match` that is not `*` or a list of entity tags is refused before anything is written;
/// tags that cannot be the current version are a 412.
#[tokio::test]
async fn if_match_that_names_no_version_is_refused() {
    let app = spawn_app().await;
    let Sencha { staff, id, url, .. } = sencha(&app, "12.00").await;
    let etag = staff_etag(&app, &url, &staff).await;
    let patch = |if_match: &str| {
        let body = json!({"stock": 9});
        conditional_change(&app, Method::PATCH, &url, &staff, &[if_match], &body).send()
    };
    for malformed in ["", "abc", "\"x\", *"] {
        let (status, problem) = common::decode(patch(malformed).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(problem["errors"]["If-Match"].is_array(), "{problem}");
    }
    let weak = format!("W/{etag}");
    for other in [weak.as_str(), "\"caf\u{e9}\""] {
        let (status, problem) = common::decode(patch(other).await.unwrap()).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    }
    let (_, product) = app
        .get_with_token(&format!("/api/products/{id}/"), &staff)
        .await;
    assert_eq!(product["stock"], 5, "nothing was written");
    let (status, product) = common::decode(patch(&etag).await.unwrap()).await;
    assert_eq!((status, &product["stock"]), (StatusCode::OK, &json!(9)));
}

#[tokio::test]
async fn no_reader_sees_an_old_price_after_the_update_returns() {
    let app = spawn_app().await;
    let Sencha { staff, id, .. } = sencha(&app, "1.00").await;
    let path = format!("/api/products/{id}/");

    for round in 2..=6 {
        let price = format!("{round}.00");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Readers keep the cache hot (and racing) while the price changes.
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let client = app.client.clone();
                let url = app.url(&path);
                let list_url = app.url("/api/products/");
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = client.get(&url).send().await;
                        let _ = client.get(&list_url).send().await;
                    }
                })
            })
            .collect();
        let (status, _) = app
            .call(
                Method::PATCH,
                &path,
                Some(&staff),
                Some(json!({"price": price})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        for _ in 0..20 {
            let (_, detail) = app.get(&path).await;
            assert_eq!(
                detail["price"],
                price.as_str(),
                "detail after round {round}"
            );
            let (_, list) = app.get("/api/products/").await;
            assert_eq!(
                list["results"][0]["price"],
                price.as_str(),
                "list after round {round}"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            reader.await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_wrong_method_answers_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::PUT, "/api/products/", "GET, POST"),
        (Method::POST, "/api/products/7/", "DELETE, GET, PATCH, PUT"),
        (Method::DELETE, "/api/auth/login", "POST"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let (_, problem) = common::decode(response).await;
        assert_eq!(problem["status"], 405);
    }
}

#[tokio::test]
async fn pages_past_the_end_are_not_found_even_huge_ones() {
    let app = spawn_app().await;
    // Found by schemathesis: (page - 1) * page_size overflowed and the request panicked.
    for path in [
        "/api/categories/?page=9223372036854776001",
        "/api/products/?page=18446744073709551615&page_size=100",
    ] {
        let (status, error) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {error}");
        assert_eq!(error["detail"], "Invalid page.", "{path}");
        assert_eq!(
            error["errors"]["page"][0], "invalid page: the last page is 1",
            "{path}"
        );
    }
}
