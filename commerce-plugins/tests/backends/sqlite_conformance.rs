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

#[tokio::test]
async fn a_release_starts_on_a_schema_a_newer_one_migrated() {
    let database = fresh().await;
    // As a later release records a migration this one does not have.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999999999999, 'from a newer release', TRUE, x'00', 0)",
    )
    .execute(database.pool())
    .await
    .expect("recorded");
    database.migrate().await.expect("migrates");
}

#[tokio::test]
async fn serving_without_migrating_needs_every_migration_applied() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", directory.path().join("shop.db").display());
    let database = SqliteDatabase::connect(&url, 2).await.expect("open");
    let unmigrated = database.check_migrated().await;
    assert!(
        matches!(&unmigrated, Err(commerce_core::Error::Backend { source, .. })
            if source.to_string().contains("not applied")),
        "{unmigrated:?}"
    );
    database.migrate().await.expect("migrates");
    database.check_migrated().await.expect("all applied");
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(database.pool())
    .await
    .expect("forgotten");
    assert!(
        database.check_migrated().await.is_err(),
        "the newest one missing"
    );
}
