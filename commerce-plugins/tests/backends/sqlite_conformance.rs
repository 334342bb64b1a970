//! The core conformance suites, run against SQLite: a new database file per test.
#![cfg(feature = "sqlite")]
#![allow(clippy::expect_used)]

use std::sync::Arc;

use commerce_plugins::sqlite::SqliteDatabase;

async fn fresh() -> Arc<SqliteDatabase> {
    let directory = tempfile::tempdir().expect("temporary directory");
    // The directory must outlive the test; the OS cleans temporary space.
    let path = directory.keep().join("shop.db");
    let database = SqliteDatabase::connect(&format!("sqlite://{}", path.display()), 8)
        .await
        .expect("open database");
    database.migrate().await.expect("migrate");
    Arc::new(database)
}

commerce_core::account_store_conformance!(fresh);
commerce_core::task_queue_conformance!(fresh);
commerce_core::catalog_store_conformance!(fresh);
commerce_core::order_store_conformance!(fresh);
