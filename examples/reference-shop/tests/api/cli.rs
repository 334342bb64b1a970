//! The reference shop's commands, run as a process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::{Command, Stdio};

use common::spawn_app_with;
use reqwest::StatusCode;

fn shop() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reference-shop"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    let output = shop().env("PORT", "eighty").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORT"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = shop().env("COMMERCE_ENV", "production").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET"));
}

/// Settings that only a plugin reads are told as the others are: exit code 2 and one line
/// naming the variable (and, for a URL, the schemes that would work).
#[test]
fn a_setting_no_plugin_can_use_stops_start_up_naming_the_variable() {
    let data = tempfile::tempdir().unwrap();
    for (variable, value, named, besides) in [
        ("DATABASE_URL", "mysql://localhost/shop", "sqlite", None),
        ("REDIS_URL", "localhost:6379", "redis", None),
        ("SEARCH_BACKEND", "elastic", "tantivy", None),
        (
            "MAIL_FROM",
            "not an address",
            "shop@example.com",
            Some(("SMTP_URL", "smtp://127.0.0.1:1")),
        ),
    ] {
        let output = shop()
            .current_dir(data.path())
            .envs(besides)
            .env(variable, value)
            .arg("migrate")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn openapi_prints_the_spec() {
    let output = shop().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(spec["paths"]["/api/auth/login"].is_object());
}

#[tokio::test]
async fn create_admin_makes_a_staff_user_who_can_log_in() {
    let data = tempfile::tempdir().unwrap();
    // The database TEST_API_DATABASE chooses, shared by the commands and the server below.
    let database = common::TestDatabase::chosen().await;
    let url = database.url();
    let search = data.path().join("search");

    let output = shop()
        .args([
            "create-admin",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
        ])
        .env("DATABASE_URL", &url)
        .env("SEARCH_INDEX_PATH", &search)
        .env("ADMIN_PASSWORD", "correct horse battery")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The password may also come on stdin.
    let mut child = shop()
        .args([
            "create-admin",
            "--username",
            "boss2",
            "--email",
            "boss2@example.com",
        ])
        .env("DATABASE_URL", &url)
        .env("SEARCH_INDEX_PATH", &search)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"another long password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A weak password is refused with the reason.
    let output = shop()
        .args([
            "create-admin",
            "--username",
            "weak",
            "--email",
            "weak@example.com",
        ])
        .env("DATABASE_URL", &url)
        .env("SEARCH_INDEX_PATH", &search)
        .env("ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("password"));

    let app = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    let (access, _) = app.login("boss", "correct horse battery").await;
    let (status, me) = app.get_with_token("/api/auth/me/", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["is_staff"], true);
    app.login("boss2", "another long password").await;
}

/// `seed-demo` fills the catalogue (a second run adds products and reuses the categories), and
/// `reindex` rebuilds the search index from it; the shop then lists and finds every product.
#[tokio::test]
async fn seed_demo_fills_the_catalogue_and_reindex_rebuilds_the_index() {
    let data = tempfile::tempdir().unwrap();
    let database = common::TestDatabase::chosen().await;
    let url = database.url();
    let search = data.path().join("search");
    let run = |args: &[&str]| {
        let output = shop()
            .args(args)
            .env("DATABASE_URL", &url)
            .env("SEARCH_INDEX_PATH", &search)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    let seeded = run(&["seed-demo", "--products", "30", "--categories", "4"]);
    assert!(
        seeded.contains("seeded 30 products in 4 categories"),
        "{seeded}"
    );
    let seeded = run(&["seed-demo", "--products", "10", "--categories", "4"]);
    assert!(
        seeded.contains("seeded 10 products in 4 categories"),
        "{seeded}"
    );
    run(&["reindex"]);

    let search = search.display().to_string();
    let app = spawn_app_with(&[("DATABASE_URL", &url), ("SEARCH_INDEX_PATH", &search)]).await;
    let staff = app.staff_token().await;
    let (_, categories) = app.get("/api/categories/").await;
    assert_eq!(categories["count"], 4);
    let (_, all) = app.get_with_token("/api/products/", &staff).await;
    assert_eq!(all["count"], 40);
    // Every generated description says whose the product is: "… from Aurora, …".
    let (_, found) = app
        .get_with_token("/api/products/?search=from", &staff)
        .await;
    assert_eq!(found["count"], 40, "{found}");
}

#[test]
fn migrate_creates_and_migrates_the_database() {
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("nested").join("shop.db");
    let output = shop()
        .arg("migrate")
        .env("DATABASE_URL", format!("sqlite://{}", path.display()))
        .env("SEARCH_INDEX_PATH", data.path().join("search"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(path.exists());
}

#[tokio::test]
async fn tasks_lists_the_buried_ones_requeues_and_discards_them() {
    use commerce_core::ports::{NewTask, TaskQueue};
    use commerce_plugins::sqlite::SqliteDatabase;

    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("shop.db").display());
    let database = SqliteDatabase::connect(&url, 2).await.unwrap();
    database.migrate().await.unwrap();
    let now = chrono::Utc::now();
    let id = database
        .enqueue(NewTask {
            job: "mail".into(),
            payload: serde_json::json!({"order": 7}),
            run_at: now,
            max_attempts: 1,
        })
        .await
        .unwrap();
    let lease = std::time::Duration::from_secs(30);
    let claimed = database
        .claim(&["mail"], now, lease)
        .await
        .unwrap()
        .unwrap();
    database
        .bury(claimed.claim(), "the mail server said no")
        .await
        .unwrap();

    let output = |args: &[&str]| {
        shop()
            .args(args)
            .env("DATABASE_URL", &url)
            .env("SEARCH_INDEX_PATH", data.path().join("search"))
            .output()
            .unwrap()
    };
    let run = |args: &[&str]| {
        let output = output(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        String::from_utf8(output.stdout).unwrap()
    };
    let listed = run(&["tasks"]);
    assert!(
        listed.starts_with(&format!("{id}\tmail\t1 attempts\tburied ")),
        "{listed}"
    );
    assert!(
        listed.contains("the mail server said no\t{\"order\":7}"),
        "{listed}"
    );

    let id_arg = id.to_string();
    let requeued = run(&["tasks", "requeue", &id_arg, "--attempts", "2"]);
    assert_eq!(requeued.trim(), "1 of 1 tasks requeued");
    assert!(run(&["tasks", "buried"]).is_empty());
    let again = database
        .claim(&["mail"], chrono::Utc::now(), lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempt, again.max_attempts), (id, 3, 4));

    let nothing = run(&["tasks", "requeue", "--all"]);
    assert_eq!(nothing.trim(), "0 of 0 tasks requeued");

    database
        .bury(again.claim(), "no such mailbox")
        .await
        .unwrap();
    let unconfirmed = output(&["tasks", "discard", "--all"]);
    assert!(!unconfirmed.status.success());
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    let discarded = run(&["tasks", "discard", "--all", "--yes"]);
    assert_eq!(discarded.trim(), "1 of 1 tasks discarded");
    assert!(run(&["tasks"]).is_empty());
    let unknown = run(&["tasks", "discard", &id_arg]);
    assert_eq!(unknown.trim(), "0 of 1 tasks discarded");
}
