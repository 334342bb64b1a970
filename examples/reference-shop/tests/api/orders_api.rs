//! Carts and orders over HTTP: ownership, checkout rules, no overselling under concurrency,
//! idempotent placement and the status machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use commerce_plugins::testkit::smtp::SmtpTestServer;
use common::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn product(app: &TestApp, staff: &str, name: &str, price: &str, stock: i64) -> i64 {
    let (status, category) = app.call(Method::GET, "/api/categories/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let category = match category["results"][0]["id"].as_i64() {
        Some(id) => id,
        None => {
            let (_, created) = app
                .call(
                    Method::POST,
                    "/api/categories/",
                    Some(staff),
                    Some(json!({"name": "Goods"})),
                )
                .await;
            created["id"].as_i64().unwrap()
        }
    };
    let (status, created) = app
        .call(
            Method::POST,
            "/api/products/",
            Some(staff),
            Some(json!({"name": name, "price": price, "category": category, "stock": stock})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

async fn add(app: &TestApp, token: &str, product: i64, quantity: i64) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/cart/items/",
        Some(token),
        Some(json!({"product": product, "quantity": quantity})),
    )
    .await
}

async fn place(
    app: &TestApp,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.post(app.url("/api/orders/")).bearer_auth(token);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    common::decode(request.send().await.unwrap()).await
}

async fn stock(app: &TestApp, product: i64) -> i64 {
    app.get(&format!("/api/products/{product}/")).await.1["stock"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn the_cart_adds_updates_removes_and_prices_at_current_prices() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 10).await;
    let mug = product(&app, &staff, "Mug", "8.00", 3).await;
    let ann = app.customer_token("ann").await;

    let (status, _) = app.call(Method::GET, "/api/cart/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, empty) = app.call(Method::GET, "/api/cart/", Some(&ann), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (empty["item_count"].as_i64(), empty["subtotal"].as_str()),
        (Some(0), Some("0.00"))
    );

    let (status, cart) = add(&app, &ann, tea, 2).await;
    assert_eq!(status, StatusCode::CREATED, "{cart}");
    let (_, cart) = add(&app, &ann, tea, 1).await;
    assert_eq!(
        cart["items"].as_array().unwrap().len(),
        1,
        "same product, same line"
    );
    assert_eq!(cart["items"][0]["quantity"], 3);
    assert_eq!(cart["items"][0]["line_total"], "7.50");
    let (_, cart) = add(&app, &ann, mug, 1).await;
    assert_eq!(
        (cart["item_count"].as_i64(), cart["subtotal"].as_str()),
        (Some(4), Some("15.50"))
    );
    assert_eq!(cart["currency"], "USD");

    for (quantity, why) in [
        (0, "zero"),
        (-1, "negative"),
        (1001, "over the cap"),
        (3, "over the stock"),
    ] {
        let (status, error) = add(&app, &ann, mug, quantity).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {error}");
        assert!(error["errors"]["quantity"].is_array(), "{why}: {error}");
    }
    let (_, error) = add(&app, &ann, mug, 3).await;
    assert_eq!(
        error["errors"]["quantity"][0],
        "only 3 in stock (1 already in your cart)"
    );
    let (status, error) = add(&app, &ann, 999_999, 1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(
        error["errors"]["product"][0],
        "this product does not exist or is not for sale"
    );
    let (_, cart) = app.call(Method::GET, "/api/cart/", Some(&ann), None).await;
    assert_eq!(cart["item_count"], 4, "refused additions change nothing");

    // Prices are the catalogue's now.
    app.call(
        Method::PATCH,
        &format!("/api/products/{tea}/"),
        Some(&staff),
        Some(json!({"price": "3.00"})),
    )
    .await;
    let (_, cart) = app.call(Method::GET, "/api/cart/", Some(&ann), None).await;
    assert_eq!(cart["subtotal"], "17.00");

    let line = cart["items"][0]["id"].as_i64().unwrap();
    let (status, cart) = app
        .call(
            Method::PATCH,
            &format!("/api/cart/items/{line}/"),
            Some(&ann),
            Some(json!({"quantity": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cart["items"][0]["quantity"], 1);

    // Another shopper cannot touch ann's lines.
    let bob = app.customer_token("bob").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/cart/items/{line}/"),
            Some(&bob),
            Some(json!({"quantity": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/cart/items/{line}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/cart/items/{line}/"),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, "/api/cart/", Some(&ann), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, cart) = app.call(Method::GET, "/api/cart/", Some(&ann), None).await;
    assert_eq!(cart["item_count"], 0);
}

#[tokio::test]
async fn checkout_snapshots_prices_takes_stock_and_empties_the_cart() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 10).await;
    let mug = product(&app, &staff, "Mug", "8.00", 3).await;
    let ann = app.customer_token("ann").await;

    let (status, error) = place(&app, &ann, None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "empty cart: {error}");
    let (status, error) = place(
        &app,
        &ann,
        None,
        Some(json!({"shipping_address": {"line1": "a\u{0}b"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["errors"]["shipping_address"].is_array(), "{error}");

    add(&app, &ann, tea, 4).await;
    add(&app, &ann, mug, 1).await;
    let (status, order) = place(
        &app,
        &ann,
        None,
        Some(json!({"shipping_address": {"line1": "1 Main St", "city": "Springfield"}, "note": "ring twice"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["subtotal"], "18.00");
    assert_eq!(order["total"], "18.00");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["items"][0]["product_name"], "Tea");
    assert_eq!(order["items"][0]["unit_price"], "2.50");
    assert_eq!(order["items"][0]["line_total"], "10.00");
    assert_eq!(order["shipping_address"]["city"], "Springfield");
    assert!(order["created_at"].is_string());
    assert_eq!((stock(&app, tea).await, stock(&app, mug).await), (6, 2));
    let (_, cart) = app.call(Method::GET, "/api/cart/", Some(&ann), None).await;
    assert_eq!(cart["item_count"], 0);

    // The order keeps the price it was sold at.
    app.call(
        Method::PATCH,
        &format!("/api/products/{tea}/"),
        Some(&staff),
        Some(json!({"price": "9.99"})),
    )
    .await;
    let id = order["id"].as_i64().unwrap();
    let (status, read) = app
        .call(Method::GET, &format!("/api/orders/{id}/"), Some(&ann), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["items"][0]["unit_price"], "2.50");

    // Others cannot see it; staff can.
    let bob = app.customer_token("bob").await;
    let (status, _) = app
        .call(Method::GET, &format!("/api/orders/{id}/"), Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/orders/{id}/"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = app
        .call(Method::GET, "/api/orders/", Some(&bob), None)
        .await;
    assert_eq!(mine["count"], 0);
    let (status, _) = app
        .call(Method::GET, "/api/orders/?status=pending", Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, all) = app
        .call(
            Method::GET,
            "/api/orders/?status=pending",
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(all["count"], 1);
}

#[tokio::test]
async fn unavailable_products_are_reported_not_dropped() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 10).await;
    let gone = product(&app, &staff, "Gone", "1.00", 10).await;
    let ann = app.customer_token("ann").await;
    add(&app, &ann, tea, 2).await;
    add(&app, &ann, gone, 1).await;
    app.call(
        Method::DELETE,
        &format!("/api/products/{gone}/"),
        Some(&staff),
        None,
    )
    .await;

    let (_, cart) = app.call(Method::GET, "/api/cart/", Some(&ann), None).await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 2);
    assert_eq!(cart["items"][1]["available"], false);
    let (status, error) = place(&app, &ann, None, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["shortages"][0]["product"], gone);
    assert_eq!(error["shortages"][0]["reason"], "unavailable");
    assert_eq!(stock(&app, tea).await, 10, "nothing was taken");
}

#[tokio::test]
async fn concurrent_buyers_never_oversell() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    for round in 0..3 {
        let scarce = product(&app, &staff, &format!("Scarce {round}"), "5.00", 10).await;
        let mut buyers = Vec::new();
        for i in 0..50 {
            let token = app.customer_token(&format!("buyer{round}x{i}")).await;
            let (status, _) = add(&app, &token, scarce, 1).await;
            assert_eq!(status, StatusCode::CREATED);
            buyers.push(token);
        }
        let attempts = buyers.iter().map(|token| place(&app, token, None, None));
        let results = futures_util::future::join_all(attempts).await;
        let placed = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        assert_eq!(placed, 10, "round {round}: exactly the stock is sold");
        for (status, body) in &results {
            if *status != StatusCode::CREATED {
                assert_eq!(*status, StatusCode::CONFLICT, "{body}");
                assert_eq!(body["shortages"][0]["product"], scarce);
                assert_eq!(body["shortages"][0]["available"], 0);
            }
        }
        assert_eq!(stock(&app, scarce).await, 0);
    }
}

#[tokio::test]
async fn an_idempotency_key_places_one_order_even_when_sent_twice_at_once() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 100).await;
    let ann = app.customer_token("ann").await;

    add(&app, &ann, tea, 2).await;
    let body = json!({"note": "first"});
    let attempts = (0..8).map(|_| place(&app, &ann, Some("key-1"), Some(body.clone())));
    let results = futures_util::future::join_all(attempts).await;
    let ids: HashSet<i64> = results
        .iter()
        .map(|(status, order)| {
            assert_eq!(*status, StatusCode::CREATED, "{order}");
            order["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one order for one key");
    assert_eq!(results[0].1, results[7].1, "same body");
    assert_eq!(stock(&app, tea).await, 98);

    // A later retry: same answer.
    let (status, again) = place(&app, &ann, Some("key-1"), Some(body.clone())).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &results[0].1));

    // The same key for a different request is refused.
    let (status, error) = place(&app, &ann, Some("key-1"), Some(json!({"note": "other"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    add(&app, &ann, tea, 5).await;
    let (status, _) = place(&app, &ann, Some("key-1"), Some(body)).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a different cart under the same key"
    );

    // Keys are per user.
    let bob = app.customer_token("bob").await;
    add(&app, &bob, tea, 1).await;
    let (status, bobs) = place(&app, &bob, Some("key-1"), None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!ids.contains(&bobs["id"].as_i64().unwrap()));
}

/// The duplicates of a checkout that takes the last units find the stock gone once the first
/// commits: each must still answer the order placed under its key, not a shortage.
#[tokio::test]
async fn duplicates_of_a_checkout_that_took_the_last_units_answer_its_order() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    for round in 0..5 {
        let last = product(&app, &staff, &format!("Last {round}"), "9.00", 2).await;
        let ann = app.customer_token(&format!("ann{round}")).await;
        add(&app, &ann, last, 2).await;
        let key = format!("last-{round}");
        let attempts = (0..8).map(|_| place(&app, &ann, Some(&key), None));
        let results = futures_util::future::join_all(attempts).await;
        let ids: HashSet<i64> = results
            .iter()
            .map(|(status, order)| {
                assert_eq!(*status, StatusCode::CREATED, "round {round}: {order}");
                order["id"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(ids.len(), 1, "one order for one key");
        assert_eq!(stock(&app, last).await, 0);
    }
}

#[tokio::test]
async fn orders_move_only_along_their_life_cycle() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 100).await;
    let ann = app.customer_token("ann").await;
    let statuses = ["pending", "paid", "shipped", "delivered", "cancelled"];
    let allowed = [
        ("pending", "paid"),
        ("paid", "shipped"),
        ("shipped", "delivered"),
        ("pending", "cancelled"),
        ("paid", "cancelled"),
    ];
    // The path from pending to each status.
    let path_to = |status: &str| -> Vec<&'static str> {
        match status {
            "pending" => vec![],
            "paid" => vec!["paid"],
            "shipped" => vec!["paid", "shipped"],
            "delivered" => vec!["paid", "shipped", "delivered"],
            _ => vec!["cancelled"],
        }
    };
    for from in statuses {
        for to in statuses {
            add(&app, &ann, tea, 1).await;
            let (_, order) = place(&app, &ann, None, None).await;
            let id = order["id"].as_i64().unwrap();
            let url = format!("/api/orders/{id}/");
            for step in path_to(from) {
                let (status, body) = app
                    .call(
                        Method::PATCH,
                        &url,
                        Some(&staff),
                        Some(json!({"status": step})),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{from}: {body}");
            }
            let (status, body) = app
                .call(
                    Method::PATCH,
                    &url,
                    Some(&staff),
                    Some(json!({"status": to})),
                )
                .await;
            if allowed.contains(&(from, to)) {
                assert_eq!(status, StatusCode::OK, "{from} -> {to}: {body}");
                assert_eq!(body["status"], to);
            } else {
                assert_eq!(status, StatusCode::CONFLICT, "{from} -> {to}: {body}");
                let detail = body["detail"].as_str().unwrap();
                assert!(detail.contains(from) && detail.contains(to), "{detail}");
            }
        }
    }
    // Customers may not move orders.
    add(&app, &ann, tea, 1).await;
    let (_, order) = place(&app, &ann, None, None).await;
    let url = format!("/api/orders/{}/", order["id"]);
    let (status, _) = app
        .call(
            Method::PATCH,
            &url,
            Some(&ann),
            Some(json!({"status": "paid"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PATCH,
            &url,
            Some(&staff),
            Some(json!({"status": "lost"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cancelling_returns_stock_and_follows_who_may_cancel() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 10).await;
    let ann = app.customer_token("ann").await;

    add(&app, &ann, tea, 3).await;
    let (_, order) = place(&app, &ann, None, None).await;
    let cancel = format!("/api/orders/{}/cancel/", order["id"]);
    assert_eq!(stock(&app, tea).await, 7);
    let bob = app.customer_token("bob").await;
    let (status, _) = app.call(Method::POST, &cancel, Some(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not bob's order");
    let (status, cancelled) = app.call(Method::POST, &cancel, Some(&ann), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(stock(&app, tea).await, 10);
    let (status, _) = app.call(Method::POST, &cancel, Some(&ann), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "already cancelled");

    // A paid order: only staff may cancel it.
    add(&app, &ann, tea, 2).await;
    let (_, order) = place(&app, &ann, None, None).await;
    let url = format!("/api/orders/{}/", order["id"]);
    app.call(
        Method::PATCH,
        &url,
        Some(&staff),
        Some(json!({"status": "paid"})),
    )
    .await;
    let cancel = format!("{url}cancel/");
    let (status, _) = app.call(Method::POST, &cancel, Some(&ann), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.call(Method::POST, &cancel, Some(&staff), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stock(&app, tea).await, 10);
}

#[tokio::test]
async fn order_lists_paginate_newest_first() {
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "1.00", 100).await;
    let ann = app.customer_token("ann").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        add(&app, &ann, tea, 1).await;
        ids.push(
            place(&app, &ann, None, None).await.1["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let (_, page) = app
        .call(Method::GET, "/api/orders/?page_size=2", Some(&ann), None)
        .await;
    assert_eq!(page["count"], 5);
    assert_eq!(page["results"][0]["id"], ids[4]);
    assert!(page["next"].as_str().unwrap().contains("page=2"));
    let (status, _) = app
        .call(Method::GET, "/api/orders/?page=9", Some(&ann), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "as the old shop's pagination answered"
    );

    // Staff see everyone's orders, and one customer's with `user`; a customer may not filter.
    let bob = app.customer_token("bob").await;
    add(&app, &bob, tea, 1).await;
    let (_, bobs) = place(&app, &bob, None, None).await;
    let count = |query: String| {
        let (app, staff) = (&app, &staff);
        async move {
            let (status, page) = app.get_with_token(&query, staff).await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            page["count"].clone()
        }
    };
    let (ann_id, bob_id) = (&page["results"][0]["user"], &bobs["user"]);
    assert_eq!(count("/api/orders/".into()).await, 6);
    assert_eq!(count(format!("/api/orders/?user={ann_id}")).await, 5);
    assert_eq!(count(format!("/api/orders/?user={bob_id}")).await, 1);
    let (status, _) = app
        .get_with_token(&format!("/api/orders/?user={bob_id}"), &ann)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_placed_order_is_confirmed_by_mail_through_smtp() {
    let mail = SmtpTestServer::start().await;
    let app = common::spawn_app_with(&[
        ("SMTP_URL", &mail.url()),
        ("MAIL_FROM", "Example Shop <shop@example.com>"),
    ])
    .await;
    let staff = app.staff_token().await;
    let tea = product(&app, &staff, "Tea", "2.50", 10).await;
    let ann = app.customer_token("ann").await;
    assert_eq!(add(&app, &ann, tea, 2).await.0, StatusCode::CREATED);
    let (status, order) = place(&app, &ann, None, None).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");

    // From the checkout's outbox task, through the queue and the shop's worker, to the server.
    let subject = format!("Your order #{} is confirmed", order["id"]);
    let confirmation = mail
        .wait_for_mail(
            |mail| mail.header("Subject").as_deref() == Some(subject.as_str()),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|| panic!("no {subject:?} among {:?}", mail.received()));
    assert_eq!(confirmation.from, "shop@example.com");
    assert_eq!(confirmation.to, ["ann@example.com"]);
    assert!(confirmation.data.contains("2 x Tea"), "{confirmation:?}");
    // Registering sent ann a welcome through the same server.
    assert!(
        mail.received()
            .iter()
            .any(|mail| mail.to == ["ann@example.com"] && mail != &confirmation),
        "{:?}",
        mail.received()
    );
}
