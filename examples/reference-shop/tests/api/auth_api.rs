//! The auth contract of the old shop, driven over HTTP against the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{SECRET, decode, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_documented_example_registers_logs_in_and_reads_itself() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/auth/register/",
            json!({"username": "testuser", "email": "test@example.com", "password": "testpassword"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body,
        json!({"id": body["id"], "username": "testuser", "email": "test@example.com"})
    );
    assert!(body["id"].is_i64());

    let (access, refresh) = app.login("testuser", "testpassword").await;
    assert!(!refresh.is_empty());
    let (status, me) = app.get_with_token("/api/auth/me/", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({"id": body["id"], "username": "testuser", "email": "test@example.com", "is_staff": false})
    );
}

#[tokio::test]
async fn paths_answer_with_and_without_the_trailing_slash() {
    let app = spawn_app().await;
    app.register("slashy", "secret-phrase-1").await;
    for path in ["/api/auth/login/", "/api/auth/login"] {
        let (status, _) = app
            .post(
                path,
                json!({"username": "slashy", "password": "secret-phrase-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (access, _) = app.login("slashy", "secret-phrase-1").await;
    for path in ["/api/auth/me/", "/api/auth/me"] {
        let (status, _) = app.get_with_token(path, &access).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _) = app
        .post(
            "/api/auth/register",
            json!({"username": "noslash", "email": "n@example.com", "password": "secret-phrase-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn invalid_registrations_get_field_errors() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/auth/register/",
            json!({"username": "bad name!", "email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["username", "email", "password"] {
        assert!(body["errors"][field][0].is_string(), "{field}: {body}");
    }

    let (status, _) = app
        .post(
            "/api/auth/register/",
            json!({"username": "nul\u{0}name", "email": "n@example.com", "password": "secret-phrase-1"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "NUL is refused on every database"
    );

    let long_name = "a".repeat(151);
    let cases = [
        (
            json!({"username": long_name, "email": "a@example.com", "password": "secret-phrase-1"}),
            "username",
        ),
        (
            json!({"username": "", "email": "a@example.com", "password": "secret-phrase-1"}),
            "username",
        ),
        (
            json!({"username": "samename", "email": "a@example.com", "password": "SameName"}),
            "password",
        ),
        (
            json!({"username": "u1", "email": "a@example.com", "password": "x".repeat(129)}),
            "password",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = app.post("/api/auth/register/", request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
        assert!(body["errors"][field].is_array(), "{field}: {body}");
    }

    // A leaked-list password is refused with the reason, whatever its case.
    let (status, body) = app
        .post(
            "/api/auth/register/",
            json!({"username": "common", "email": "c@example.com", "password": "Qwerty123"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["errors"]["password"][0].as_str().unwrap_or_default();
    assert!(message.contains("too common"), "{body}");
}

#[tokio::test]
async fn duplicates_are_refused_regardless_of_case() {
    let app = spawn_app().await;
    app.register("Taken", "secret-phrase-1").await;
    let (status, body) = app
        .post(
            "/api/auth/register/",
            json!({"username": "tAKEN", "email": "other@example.com", "password": "secret-phrase-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["username"].is_array(), "{body}");

    let (status, body) = app
        .post(
            "/api/auth/register/",
            json!({"username": "other", "email": "TAKEN@EXAMPLE.COM", "password": "secret-phrase-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["email"].is_array(), "{body}");
}

#[tokio::test]
async fn wrong_credentials_get_one_answer_whether_or_not_the_user_exists() {
    let app = spawn_app().await;
    app.register("known", "secret-phrase-1").await;
    let (status_wrong, wrong_password) = app
        .post(
            "/api/auth/login/",
            json!({"username": "known", "password": "secret-phrase-2"}),
        )
        .await;
    let (status_unknown, unknown_user) = app
        .post(
            "/api/auth/login/",
            json!({"username": "nobody", "password": "secret-phrase-2"}),
        )
        .await;
    assert_eq!(status_wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(status_unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_user);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    app.register("rotator", "secret-phrase-1").await;
    let (_, first) = app.login("rotator", "secret-phrase-1").await;

    let (status, pair) = app
        .post("/api/auth/token/refresh/", json!({"refresh": first}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = pair["refresh"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let (status, _) = app
        .get_with_token("/api/auth/me/", pair["access"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);

    // The first token again: theft is assumed, the whole family dies.
    let (status, _) = app
        .post("/api/auth/token/refresh/", json!({"refresh": first}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post("/api/auth/token/refresh/", json!({"refresh": second}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another login is another family and still works.
    let (_, other) = app.login("rotator", "secret-phrase-1").await;
    let (status, _) = app
        .post("/api/auth/token/refresh/", json!({"refresh": other}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.register("leaver", "secret-phrase-1").await;
    let (_, refresh) = app.login("leaver", "secret-phrase-1").await;
    let (status, pair) = app
        .post("/api/auth/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let current = pair["refresh"].as_str().unwrap().to_owned();

    let (status, body) = app
        .post("/api/auth/logout/", json!({"refresh": current}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    let (status, _) = app
        .post("/api/auth/token/refresh/", json!({"refresh": current}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post("/api/auth/logout/", json!({"refresh": "garbage"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tampered_and_misused_tokens_are_refused() {
    let app = spawn_app().await;
    app.register("victim", "secret-phrase-1").await;
    let (access, refresh) = app.login("victim", "secret-phrase-1").await;

    let (status, _) = app.get_with_token("/api/auth/me/", "not.a.jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Flip the payload to claim staff: the signature no longer matches.
    let parts: Vec<&str> = access.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let (status, _) = app.get_with_token("/api/auth/me/", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An unsigned token.
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let (status, _) = app.get_with_token("/api/auth/me/", &unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A refresh token is no access token, nor the other way round.
    let (status, _) = app.get_with_token("/api/auth/me/", &refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post("/api/auth/token/refresh/", json!({"refresh": access}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // No token at all.
    let response = app
        .client
        .get(app.url("/api/auth/me/"))
        .send()
        .await
        .unwrap();
    let (status, _) = decode(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_from_another_shop_are_refused() {
    let ours = spawn_app().await;
    let theirs = spawn_app_with(&[("JWT_SECRET", "a-different-secret-also-long-enough-ok")]).await;
    theirs.register("mallory", "secret-phrase-1").await;
    let (access, refresh) = theirs.login("mallory", "secret-phrase-1").await;
    let (status, _) = ours.get_with_token("/api/auth/me/", &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = ours
        .post("/api/auth/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_ne!(SECRET, "a-different-secret-also-long-enough-ok");
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL_SECONDS", "1")]).await;
    app.register("brief", "secret-phrase-1").await;
    let (access, _) = app.login("brief", "secret-phrase-1").await;
    let (status, _) = app.get_with_token("/api/auth/me/", &access).await;
    assert_eq!(status, StatusCode::OK);
    // One second of life plus the five seconds of leeway for clock skew.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let (status, _) = app.get_with_token("/api/auth/me/", &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_requests_get_problem_details_never_500() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let post_raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/auth/login/"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (status, _) = decode(post_raw("{not json", "application/json").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = decode(post_raw("{}", "application/json").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = decode(
        post_raw(r#"{"username": 5, "password": false}"#, "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = decode(post_raw("username=a", "text/plain").await.unwrap()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = json!({"username": "x".repeat(4096), "password": "y"});
    let (status, _) = app.post("/api/auth/login/", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Streamed without a Content-Length, the cap still holds.
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok("[".into()), Ok("0,".repeat(2048))];
    let response = app
        .client
        .post(app.url("/api/auth/login/"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    let (status, _) = decode(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let response = app
        .client
        .get(app.url("/api/no-such-thing/"))
        .send()
        .await
        .unwrap();
    let (status, _) = decode(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn futures_stream(
    chunks: Vec<Result<String, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn health_ready_spec_and_docs_are_served() {
    let app = spawn_app().await;
    let (status, body) = decode(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
    let (status, body) = decode(app.client.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"][app.database_backend()], "ok", "{body}");

    let (status, spec) = decode(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["openapi"], "3.0.0");
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/token/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/health",
        "/ready",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the spec"
        );
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerAuth"]["scheme"],
        "bearer"
    );
    let register = &spec["paths"]["/api/auth/register"]["post"];
    assert!(register["requestBody"].is_object());
    for status in ["201", "400", "500"] {
        assert!(
            register["responses"][status].is_object(),
            "register {status}"
        );
    }
    assert!(
        register["responses"]["400"]["content"]["application/problem+json"].is_object(),
        "{}",
        register["responses"]["400"]
    );
    // The served spec is the one `reference-shop openapi` prints.
    let printed: serde_json::Value =
        serde_json::from_str(&commerce_core::api::spec_json::<()>()).unwrap();
    assert_eq!(printed, spec);

    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    let id = response.headers().get("x-request-id").unwrap();
    assert_eq!(id.len(), 32);
}

#[tokio::test]
async fn logins_to_one_account_are_limited_until_their_window_closes() {
    let app = spawn_app_with(&[("LOGIN_ATTEMPTS", "3"), ("LOGIN_WINDOW_SECONDS", "600")]).await;
    app.register("guarded", "secret-phrase-1").await;
    app.register("neighbour", "secret-phrase-1").await;
    let attempt = |username: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/auth/login/"))
            .json(&json!({"username": username, "password": password}))
            .send()
    };

    // Failures count; a success starts the count again.
    for _ in 0..2 {
        let (status, _) = decode(attempt("guarded", "wrong").await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = decode(attempt("guarded", "secret-phrase-1").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // The account is one whatever the letter case it is typed in.
    for username in ["guarded", "GUARDED", "Guarded"] {
        let (status, _) = decode(attempt(username, "wrong").await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Past the limit even the right password is refused, unchecked, until the window closes.
    let refused = attempt("guarded", "secret-phrase-1").await.unwrap();
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
    let (status, problem) = decode(refused).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(problem["status"], 429);

    // Other accounts are not held back.
    let (status, _) = decode(attempt("neighbour", "secret-phrase-1").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // An unknown username is limited alike, so a refusal tells nothing about who exists.
    for _ in 0..3 {
        let (status, _) = decode(attempt("nobody", "wrong").await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = decode(attempt("nobody", "wrong").await.unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_stranger_failing_from_elsewhere_does_not_shut_the_owner_out() {
    // One proxy in front: the client is the last X-Forwarded-For entry.
    let app = spawn_app_with(&[
        ("LOGIN_ATTEMPTS", "3"),
        ("LOGIN_ACCOUNT_ATTEMPTS", "5"),
        ("LOGIN_WINDOW_SECONDS", "600"),
        ("TRUSTED_PROXY_HOPS", "1"),
    ])
    .await;
    app.register("owner", "secret-phrase-1").await;
    let attempt = |forwarded_for: String, password: &'static str| {
        let request = app
            .client
            .post(app.url("/api/auth/login/"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"username": "owner", "password": password}));
        async move { decode(request.send().await.unwrap()).await.0 }
    };
    let stranger = "198.51.100.1";
    let owner = "203.0.113.7";

    for _ in 0..3 {
        assert_eq!(
            attempt(stranger.into(), "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Entries left of the proxy's are the client's own to invent: varying them changes nothing.
    for forged in ["10.9.8.7", "10.9.8.6", "10.9.8.5"] {
        let refused = attempt(format!("{forged}, {stranger}"), "wrong").await;
        assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    }
    // The refused attempts were not checked and did not count towards the account's five:
    // three failures and this are four.
    assert_eq!(
        attempt(owner.into(), "secret-phrase-1").await,
        StatusCode::OK
    );

    // The owner's success left the account's window as it was, so guessers elsewhere have
    // one attempt left, not a fresh five.
    assert_eq!(
        attempt("198.51.100.10".into(), "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt("198.51.100.11".into(), "wrong").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Spread over addresses, guesses meet the account's limit, which then holds for everyone:
    // the price of bounding them.
    assert_eq!(
        attempt(owner.into(), "secret-phrase-1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn one_address_is_held_to_its_logins_and_registrations_when_so_configured() {
    let app = spawn_app_with(&[
        ("AUTH_CLIENT_ATTEMPTS", "4"),
        ("LOGIN_ACCOUNT_ATTEMPTS", "2"),
        ("LOGIN_WINDOW_SECONDS", "600"),
        ("TRUSTED_PROXY_HOPS", "1"),
    ])
    .await;
    let post = |path: &'static str, client: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url(path))
            .header("x-forwarded-for", client)
            .json(&body)
            .send()
    };
    let register = |client, username: &str| {
        let body = json!({"username": username, "email": format!("{username}@example.com"),
                          "password": "secret-phrase-1"});
        async move {
            decode(post("/api/auth/register/", client, body).await.unwrap())
                .await
                .0
        }
    };
    let login = |client, username: &str| {
        let body = json!({"username": username, "password": "wrong"});
        async move {
            decode(post("/api/auth/login/", client, body).await.unwrap())
                .await
                .0
        }
    };
    let busy = "198.51.100.1";
    let other = "203.0.113.7";

    // Four attempts from one address, whatever the accounts; a taken name was hashed too…
    assert_eq!(register(busy, "first").await, StatusCode::CREATED);
    assert_eq!(register(busy, "first").await, StatusCode::BAD_REQUEST);
    assert_eq!(login(busy, "first").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(busy, "nobody").await, StatusCode::UNAUTHORIZED);
    // …then neither kind is checked from there until the window closes.
    let refused = post(
        "/api/auth/register/",
        busy,
        json!({"username": "second", "email": "second@example.com", "password": "secret-phrase-1"}),
    )
    .await
    .unwrap();
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_eq!(decode(refused).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(busy, "victim").await, StatusCode::TOO_MANY_REQUESTS);
    // A registration that hashes nothing is answered on its merits.
    let invalid =
        json!({"username": "third", "email": "not an address", "password": "secret-phrase-1"});
    let invalid = post("/api/auth/register/", busy, invalid).await.unwrap();
    assert_eq!(decode(invalid).await.0, StatusCode::BAD_REQUEST);

    // Other addresses are not held back, and the login refused at the busy address used up
    // none of the account's two.
    assert_eq!(register(other, "second").await, StatusCode::CREATED);
    assert_eq!(login(other, "victim").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(other, "victim").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(other, "victim").await, StatusCode::TOO_MANY_REQUESTS);
}

/// Every operation that needs an account refuses a caller without one (401), and so does every
/// operation taking a token, public reads included, when the token is not valid: a client learns
/// its token has expired. Staff operations refuse customers (403). None of them changes anything.
#[tokio::test]
async fn operations_refuse_callers_without_the_account_they_need() {
    use reqwest::Method;
    let app = spawn_app().await;
    let staff = app.staff_token().await;
    let customer = app.customer_token("shopper").await;
    let create = |path: &'static str, body: serde_json::Value| {
        let app = &app;
        let staff = &staff;
        async move {
            let (status, created) = app.call(Method::POST, path, Some(staff), Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            created["id"].as_i64().unwrap()
        }
    };
    let tea = create("/api/categories/", json!({"name": "Tea"})).await;
    let product = json!({"name": "Sencha", "price": "12.00", "category": tea, "stock": 5});
    let sencha = create("/api/products/", product.clone()).await;
    let category = format!("/api/categories/{tea}/");
    let one_product = format!("/api/products/{sencha}/");

    let staff_only = [
        (
            Method::POST,
            "/api/categories/".to_owned(),
            Some(json!({"name": "Coffee"})),
        ),
        (Method::PUT, category.clone(), Some(json!({"name": "Teas"}))),
        (
            Method::PATCH,
            category.clone(),
            Some(json!({"name": "Teas"})),
        ),
        (Method::DELETE, category.clone(), None),
        (
            Method::POST,
            "/api/products/".to_owned(),
            Some(product.clone()),
        ),
        (Method::PUT, one_product.clone(), Some(product.clone())),
        (
            Method::PATCH,
            one_product.clone(),
            Some(json!({"stock": 9})),
        ),
        (Method::DELETE, one_product.clone(), None),
        (
            Method::PATCH,
            "/api/orders/1/".to_owned(),
            Some(json!({"status": "paid"})),
        ),
    ];
    let any_account = [
        (Method::GET, "/api/auth/me/".to_owned(), None),
        (Method::GET, "/api/cart/".to_owned(), None),
        (Method::DELETE, "/api/cart/".to_owned(), None),
        (
            Method::POST,
            "/api/cart/items/".to_owned(),
            Some(json!({"product": sencha, "quantity": 1})),
        ),
        (
            Method::PATCH,
            "/api/cart/items/1/".to_owned(),
            Some(json!({"quantity": 2})),
        ),
        (Method::DELETE, "/api/cart/items/1/".to_owned(), None),
        (Method::POST, "/api/orders/".to_owned(), Some(json!({}))),
        (Method::GET, "/api/orders/".to_owned(), None),
        (Method::GET, "/api/orders/1/".to_owned(), None),
        (Method::POST, "/api/orders/1/cancel/".to_owned(), None),
    ];
    // The list of categories is the same for everyone and takes no token.
    let public_reads = [
        (Method::GET, category.clone(), None),
        (Method::GET, "/api/products/".to_owned(), None),
        (Method::GET, one_product.clone(), None),
    ];

    for (method, path, body) in staff_only.iter().chain(&any_account) {
        let (status, problem) = app.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {problem}"
        );
        let detail = problem["detail"].as_str();
        let expected = Some("authentication credentials were not provided");
        assert_eq!(detail, expected, "{method} {path}");
    }
    for (method, path, body) in staff_only.iter().chain(&any_account).chain(&public_reads) {
        let invalid = Some("not-a-token");
        let (status, problem) = app.call(method.clone(), path, invalid, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {problem}"
        );
    }
    for (method, path, body) in &staff_only {
        let (status, problem) = app
            .call(method.clone(), path, Some(&customer), body.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
    }

    let (_, read) = app.get_with_token(&one_product, &staff).await;
    assert_eq!(
        (read["name"].as_str(), read["stock"].as_i64()),
        (Some("Sencha"), Some(5))
    );
    let (_, read) = app.get(&category).await;
    assert_eq!(read["name"], "Tea");
    let (_, categories) = app.get("/api/categories/").await;
    assert_eq!(categories["count"], 1);
}
