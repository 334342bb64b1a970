//! The core conformance suites, run against PostgreSQL, and what only PostgreSQL has:
//! migrations racing from several instances, LISTEN/NOTIFY wake-ups, outages, a change log
//! numbered in commit order, byte-order names under any locale, the in-database search,
//! checkouts crossing each other without deadlocks, and which reads a read replica
//! (`DATABASE_READ_URL`) serves.
//!
//! Every test makes a database of its own (`test_<random>`) on the server at
//! `TEST_POSTGRES_URL`, so tests run in parallel, and drops it when it ends. Without
//! `TEST_POSTGRES_URL` each test prints why and passes; CI sets it (`.ci/run`).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use commerce_core::config::Config;
use commerce_core::domain::{CategoryId, OrderItem, OrderStatus, Product, ProductId};
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{
    CartStore, CatalogStore, IndexBatch, NewOrder, NewTask, OrderStore, PlaceOrderOutcome,
    ProductFilter, ProductListQuery, ProductOrdering, ReadinessCheck, SearchHits, SearchIndex,
    SearchQuery, StockWrite, TaskClaim, TaskQueue, UserStore,
};
use commerce_core::services::orders::Checkout;
use commerce_core::services::{Principal, SearchIndexer};
use commerce_core::testkit::orders::user;
use commerce_core::{BuildError, Error, Result, ShopBuilder};
use commerce_plugins::postgres::{PostgresDatabase, PostgresSearch, PostgresSettings};
use commerce_plugins::testkit::{PostgresTestDatabase, SERVER_VARIABLE, server_url};

use crate::records::{category, product};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The server to make test databases on, or `None` (having said so) when none is configured.
fn server() -> Option<String> {
    let server = server_url();
    if server.is_none() {
        println!("skipping: {SERVER_VARIABLE} is not set");
    }
    server
}

/// A database made for one test, dropped when this is.
struct TestDatabase(PostgresTestDatabase);

impl TestDatabase {
    async fn create(server: String) -> Self {
        Self(PostgresTestDatabase::create(&server).await)
    }

    /// A database made with `options` appended to `CREATE DATABASE`, such as a locale.
    async fn create_with(server: String, options: &str) -> Self {
        Self(PostgresTestDatabase::create_with(&server, options).await)
    }

    fn url(&self) -> String {
        self.0.url()
    }

    fn options(&self) -> PgConnectOptions {
        self.0.connect_options()
    }

    fn server_address(&self) -> (String, u16) {
        self.0.server_address()
    }

    /// A new, unmigrated connection pool to this database: another instance of the shop.
    async fn instance(&self, settings: PostgresSettings) -> PostgresDatabase {
        PostgresDatabase::connect_with(self.options(), settings)
            .await
            .expect("connect to the test database")
    }
}

/// A migrated database of its own for one conformance test, and the guard that drops it.
async fn fresh() -> Option<(Arc<PostgresDatabase>, TestDatabase)> {
    let test = TestDatabase::create(server()?).await;
    let database = test.instance(PostgresSettings::default()).await;
    database.migrate().await.expect("migrate");
    Some((Arc::new(database), test))
}

commerce_core::account_store_conformance!(optional fresh);
commerce_core::task_queue_conformance!(optional fresh);

commerce_core::catalog_store_conformance!(optional fresh);
commerce_core::order_store_conformance!(optional fresh);
commerce_core::search_index_conformance!(optional fresh_search);

/// [`PostgresSearch`] under the search suite.
///
/// The suite feeds an index through `apply`, but this index is the catalogue itself: its
/// `apply` rightly does nothing. So the suite's documents are written here into the test
/// database's categories and products, as the catalogue's own writes would put them, and the
/// searches run through the real `PostgresSearch` over vectors the triggers computed (an
/// upsert's changed category name goes through the rename trigger). Only the position is
/// kept by this adapter, because the suite expects the position it applied rather than the
/// change log's; `postgres_search_follows_the_catalogue` tests the real position, `apply`
/// and `clear`.
struct CatalogueFedSearch {
    search: PostgresSearch,
    database: Arc<PostgresDatabase>,
    position: Mutex<Option<u64>>,
}

#[async_trait]
impl SearchIndex for CatalogueFedSearch {
    fn name(&self) -> &'static str {
        SearchIndex::name(&self.search)
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchHits> {
        self.search.search(query).await
    }

    async fn applied_through(&self) -> Result<Option<u64>> {
        Ok(*self.position.lock().unwrap())
    }

    async fn apply(&self, batch: IndexBatch) -> Result<()> {
        let mut tx = self.database.pool().begin().await.unwrap();
        let categories: BTreeMap<i64, &str> = batch
            .upserts
            .iter()
            .map(|d| (d.category.0, d.category_name.as_str()))
            .collect();
        for (id, name) in categories {
            sqlx::query(
                "INSERT INTO categories (id, name, name_key, slug, created_at, updated_at)
                 OVERRIDING SYSTEM VALUE VALUES ($1, $2, lower($2), 'category-' || $1, now(), now())
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, name_key = EXCLUDED.name_key",
            )
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        // One statement per document, so that a product twice in a batch ends as the later.
        for doc in &batch.upserts {
            sqlx::query(
                "INSERT INTO products (id, name, slug, sku, description, price_minor, category_id,
                     stock, is_active, created_at, updated_at)
                 OVERRIDING SYSTEM VALUE
                 VALUES ($1, $2, 'product-' || $1, 'SKU-' || $1, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
                     description = EXCLUDED.description, price_minor = EXCLUDED.price_minor,
                     category_id = EXCLUDED.category_id, stock = EXCLUDED.stock,
                     is_active = EXCLUDED.is_active, created_at = EXCLUDED.created_at",
            )
            .bind(doc.id.0)
            .bind(&doc.name)
            .bind(&doc.description)
            .bind(doc.price_minor)
            .bind(doc.category.0)
            .bind(doc.stock)
            .bind(doc.is_active)
            .bind(doc.created_at)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        let deletes: Vec<i64> = batch.deletes.iter().map(|id| id.0).collect();
        sqlx::query("DELETE FROM products WHERE id = ANY($1)")
            .bind(deletes)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        *self.position.lock().unwrap() = Some(batch.through);
        Ok(())
    }

    async fn clear(&self) -> Result<()> {
        sqlx::query("DELETE FROM products")
            .execute(self.database.pool())
            .await
            .unwrap();
        *self.position.lock().unwrap() = None;
        Ok(())
    }
}

/// An empty catalogue in a database of its own, searched by a [`PostgresSearch`] with a pool
/// of its own, as the plugin makes it.
async fn fresh_search() -> Option<(Arc<CatalogueFedSearch>, TestDatabase)> {
    let (database, test) = fresh().await?;
    let search = PostgresSearch::connect_with(
        test.options(),
        PostgresSettings {
            max_connections: 4,
            ..PostgresSettings::default()
        },
    )
    .await
    .unwrap();
    let index = CatalogueFedSearch {
        search,
        database,
        position: Mutex::new(None),
    };
    Some((Arc::new(index), test))
}

fn text(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        filter: ProductFilter::default(),
        ordering: None,
        offset: 0,
        limit: 20,
    }
}

async fn found(search: &PostgresSearch, query: &str) -> Vec<ProductId> {
    search.search(&text(query)).await.unwrap().ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_search_follows_the_catalogue() {
    let Some((store, test)) = fresh().await else {
        return;
    };
    let search = Arc::new(
        PostgresSearch::connect_with(test.options(), PostgresSettings::default())
            .await
            .unwrap(),
    );
    assert_eq!(search.applied_through().await.unwrap(), Some(0));

    // Every write is searchable on return, with no indexer running.
    let audio = store.create_category(category("Audio")).await.unwrap();
    let headphones = store
        .create_product(product("Wireless Headphones", audio.id))
        .await
        .unwrap();
    assert_eq!(found(&search, "headph").await, [headphones.id]);
    assert_eq!(found(&search, "audio").await, [headphones.id]);

    // A rename reaches its products' vectors through the trigger.
    store
        .update_category(audio.id, category("Sound"), &|_| Ok(()))
        .await
        .unwrap();
    assert_eq!(found(&search, "sound").await, [headphones.id]);
    assert!(found(&search, "audio").await.is_empty());

    store
        .update_product(
            headphones.id,
            product("Studio Monitors", audio.id),
            StockWrite::Set,
            None,
        )
        .await
        .unwrap();
    assert!(found(&search, "headphones").await.is_empty());
    assert_eq!(found(&search, "monitors").await, [headphones.id]);

    // The position is the change log's head; apply and clear change nothing.
    let latest = store.latest_change().await.unwrap();
    assert!(latest >= 3);
    assert_eq!(search.applied_through().await.unwrap(), Some(latest));
    search
        .apply(IndexBatch {
            upserts: Vec::new(),
            deletes: vec![headphones.id],
            through: latest + 10,
        })
        .await
        .unwrap();
    search.clear().await.unwrap();
    assert_eq!(search.applied_through().await.unwrap(), Some(latest));
    assert_eq!(found(&search, "monitors").await, [headphones.id]);

    // The core indexer finds nothing to do and never rebuilds.
    let indexer = SearchIndexer::new(store.clone(), search.clone());
    assert_eq!(indexer.catch_up().await.unwrap(), latest);
    assert_eq!(found(&search, "studio").await, [headphones.id]);

    store.delete_product(headphones.id, None).await.unwrap();
    assert!(found(&search, "monitors").await.is_empty());
    assert_eq!(
        search.applied_through().await.unwrap(),
        Some(store.latest_change().await.unwrap())
    );
    search.check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websearch_syntax_and_prefixes_combine() {
    let Some((store, test)) = fresh().await else {
        return;
    };
    let search = PostgresSearch::connect_with(test.options(), PostgresSettings::default())
        .await
        .unwrap();
    let audio = store.create_category(category("Audio")).await.unwrap();
    let mut ids = Vec::new();
    for (name, description) in [
        ("Wireless Headphones", "Over-ear, noise cancelling."),
        ("Wired Headphones", "For the studio."),
        ("Noise Machine", "Cancelling nothing."),
    ] {
        let mut record = product(name, audio.id);
        record.description = description.into();
        ids.push(store.create_product(record).await.unwrap().id);
    }
    let sorted = |mut v: Vec<ProductId>| {
        v.sort();
        v
    };
    // Exclusions, phrases (the last word of an open one a prefix), or.
    assert_eq!(found(&search, "headphones -wired").await, [ids[0]]);
    assert_eq!(found(&search, "\"noise cancelling\"").await, [ids[0]]);
    assert_eq!(found(&search, "\"noise canc").await, [ids[0]]);
    assert_eq!(
        sorted(found(&search, "studio or machi").await),
        [ids[1], ids[2]]
    );
    assert_eq!(found(&search, "over-ear").await, [ids[0]]);
    // Punctuation alone finds nothing, and needs no query.
    assert_eq!(
        search.search(&text("-- ' ;")).await.unwrap(),
        SearchHits::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_numbered_in_commit_order() {
    let Some((store, test)) = fresh().await else {
        return;
    };
    let tea = store.create_category(category("Tea")).await.unwrap();
    let first = store
        .create_product(product("Sencha", tea.id))
        .await
        .unwrap();
    let second = store
        .create_product(product("Matcha", tea.id))
        .await
        .unwrap();
    let start = store.latest_change().await.unwrap();

    // A long transaction writes first and commits last...
    let mut long = PgConnection::connect_with(&test.options()).await.unwrap();
    long.execute("BEGIN").await.unwrap();
    sqlx::query("UPDATE products SET stock = stock + 1 WHERE id = $1")
        .bind(first.id.0)
        .execute(&mut long)
        .await
        .unwrap();
    // ...while a short one commits in between, and an indexer reads up to it.
    let mut record = product("Matcha", tea.id);
    record.stock = 9;
    store
        .update_product(second.id, record, StockWrite::Set, None)
        .await
        .unwrap();
    let seen = store.changes_since(start, 100).await.unwrap();
    assert_eq!(
        seen.iter().map(|c| c.product).collect::<Vec<_>>(),
        [second.id]
    );
    long.execute("COMMIT").await.unwrap();

    // The long transaction's change comes after what the indexer has seen, not before it.
    let later = store.changes_since(seen[0].seq, 100).await.unwrap();
    assert_eq!(
        later.iter().map(|c| c.product).collect::<Vec<_>>(),
        [first.id]
    );
    // A rolled-back write leaves no entry.
    long.execute("BEGIN").await.unwrap();
    sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(first.id.0)
        .execute(&mut long)
        .await
        .unwrap();
    long.execute("ROLLBACK").await.unwrap();
    assert!(
        store
            .changes_since(later[0].seq, 100)
            .await
            .unwrap()
            .is_empty()
    );
    long.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_sort_in_byte_order_under_any_locale() {
    let Some(server) = server() else { return };
    // A collation that sorts "apple" before "Banana" and "éclair" before "Zebra".
    let test = TestDatabase::create_with(
        server,
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )
    .await;
    let store = test.instance(PostgresSettings::default()).await;
    store.migrate().await.unwrap();
    let search = PostgresSearch::new(store.pool().clone());
    let shelf = store.create_category(category("Shelf")).await.unwrap();
    let names = ["éclair", "Zebra", "apple", "Banana", "Äpfel"];
    for name in names {
        store.create_category(category(name)).await.unwrap();
        let mut record = product(name, shelf.id);
        record.description = "on the shelf".into();
        store.create_product(record).await.unwrap();
    }
    let mut bytewise = names.to_vec();
    bytewise.sort_unstable();
    assert_eq!(bytewise, ["Banana", "Zebra", "apple", "Äpfel", "éclair"]);

    let listed = store
        .list_products(&ProductListQuery {
            filter: ProductFilter::default(),
            ordering: ProductOrdering::NameAscending,
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    let listed: Vec<&str> = listed.items.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(listed, bytewise);

    let searched = search
        .search(&SearchQuery {
            ordering: Some(ProductOrdering::NameDescending),
            ..text("shelf")
        })
        .await
        .unwrap();
    let by_id = store.products_by_ids(&searched.ids).await.unwrap();
    let searched: Vec<&str> = searched
        .ids
        .iter()
        .map(|id| by_id.iter().find(|p| p.id == *id).unwrap().name.as_str())
        .collect();
    let mut reversed = bytewise.clone();
    reversed.reverse();
    assert_eq!(searched, reversed);

    // Categories list by their lowercased name, bytewise too.
    let categories: Vec<String> = store
        .list_categories()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        categories,
        ["apple", "Banana", "Shelf", "Zebra", "Äpfel", "éclair"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_name_what_clashes() {
    let Some((store, _test)) = fresh().await else {
        return;
    };
    let tea = store.create_category(category("Tea")).await.unwrap();
    let sencha = product("Sencha", tea.id);
    let mut same_sku = product("Other", tea.id);
    same_sku.sku = sencha.sku.clone();
    let clash = store.import_products(&[sencha.clone(), same_sku]).await;
    assert!(
        matches!(&clash, Err(Error::Conflict(message)) if message.contains("sku")),
        "{clash:?}"
    );
    let mut same_slug = product("Other", tea.id);
    same_slug.slug = sencha.slug.clone();
    let clash = store.import_products(&[sencha.clone(), same_slug]).await;
    assert!(
        matches!(&clash, Err(Error::Conflict(message)) if message.contains("slug")),
        "{clash:?}"
    );
    let lost = store
        .import_products(&[product("Lost", CategoryId(tea.id.0 + 99))])
        .await;
    assert!(matches!(lost, Err(Error::Validation(_))), "{lost:?}");
    assert_eq!(store.latest_change().await.unwrap(), 0);
    // Beyond one statement's rows, all in one transaction.
    let many: Vec<_> = (0..12_000)
        .map(|i| product(&format!("Bulk {i}"), tea.id))
        .collect();
    assert_eq!(store.import_products(&many).await.unwrap(), 12_000);
    assert_eq!(store.latest_change().await.unwrap(), 12_000);
}

/// Checkouts of two products listed in opposite orders, and cancellations returning their
/// stock, all at once over real parallel transactions: locks are taken in one order, so none
/// waits in a cycle (a deadlock would surface as `Unavailable`), and stock adds up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_checkouts_and_cancellations_never_deadlock() {
    let Some((store, _test)) = fresh().await else {
        return;
    };
    let shelf = store.create_category(category("Shelf")).await.unwrap();
    let mut stocked = Vec::new();
    for name in ["Kettle", "Teapot"] {
        let mut record = product(name, shelf.id);
        record.stock = 1_000;
        stocked.push(store.create_product(record).await.unwrap());
    }
    let buyer = user(&*store, "buyer").await;
    let line = |product: &Product| OrderItem {
        product_id: product.id,
        product_name: product.name.clone(),
        unit_price_minor: product.price_minor,
        quantity: 2,
    };
    let mut rounds = JoinSet::new();
    for round in 0..24 {
        let store = store.clone();
        let mut items = vec![line(&stocked[0]), line(&stocked[1])];
        if round % 2 == 1 {
            items.reverse();
        }
        rounds.spawn(async move {
            let order = NewOrder {
                user_id: buyer,
                items,
                subtotal_minor: 4_000,
                total_minor: 4_000,
                currency: "USD".into(),
                shipping_address: None,
                note: String::new(),
                cart_items: Vec::new(),
                idempotency: None,
                notification: NewTask {
                    payload: serde_json::json!({}),
                    ..task("confirm")
                },
            };
            let PlaceOrderOutcome::Placed(placed) = store.place_order(order).await? else {
                panic!("1000 in stock, 48 asked for");
            };
            // Every third order is cancelled at once, while other checkouts take stock.
            if round % 3 == 0 {
                let cancelled = store
                    .change_status(
                        placed.id,
                        OrderStatus::Pending,
                        OrderStatus::Cancelled,
                        true,
                    )
                    .await?;
                assert!(cancelled.is_some());
                return Ok(0);
            }
            Ok::<_, Error>(2)
        });
    }
    let kept: i64 = rounds
        .join_all()
        .await
        .into_iter()
        .map(|taken| taken.expect("no checkout or cancellation fails"))
        .sum();
    for product in &stocked {
        let now = store.find_product(product.id).await.unwrap().unwrap();
        assert_eq!(now.stock, 1_000 - kept, "{}", product.name);
    }
}

fn task(job: &str) -> NewTask {
    NewTask {
        job: job.into(),
        payload: serde_json::json!({"n": 1}),
        run_at: Utc::now(),
        max_attempts: 3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_each_migration_once() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    // Four instances starting at once against an empty database, each with its own pool.
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(test.instance(PostgresSettings::default()).await);
    }
    let mut migrations = JoinSet::new();
    for instance in &instances {
        let instance = instance.clone();
        migrations.spawn(async move { instance.migrate().await });
    }
    let results = migrations.join_all().await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let mut connection = PgConnection::connect_with(&test.options()).await.unwrap();
    let (applied, versions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!((applied, versions), (files as i64, files as i64));
    connection.close().await.unwrap();

    // Once applied, migrating again is a no-op, and the schema serves the ports.
    instances[0].migrate().await.unwrap();
    instances[1].enqueue(task("after")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_without_migrating_needs_every_migration_applied() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    let database = test.instance(PostgresSettings::default()).await;
    let unmigrated = database.check_migrated().await;
    assert!(
        matches!(&unmigrated, Err(Error::Backend { source, .. })
            if source.to_string().contains("not applied")),
        "{unmigrated:?}"
    );
    database.migrate().await.unwrap();
    database.check_migrated().await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(database.pool())
    .await
    .unwrap();
    assert!(
        database.check_migrated().await.is_err(),
        "the newest one missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_starts_on_a_schema_a_newer_one_migrated() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    let database = test.instance(PostgresSettings::default()).await;
    database.migrate().await.unwrap();
    // As a later release records a migration this one does not have.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999999999999, 'from a newer release', TRUE, '\\x00', 0)",
    )
    .execute(database.pool())
    .await
    .unwrap();
    database.migrate().await.unwrap();
    database.enqueue(task("after")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_workers_wake_when_another_instance_enqueues() {
    let Some((waiting, test)) = fresh().await else {
        return;
    };
    let other = test.instance(PostgresSettings::default()).await;

    // The first wait starts the listener, and returns once it listens: anything enqueued
    // before then was not announced, so waiters are sent to look.
    let started = Instant::now();
    waiting.wait_for_tasks(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "listener never connected"
    );

    // Listening, with nothing enqueued, a wait lasts its whole timeout.
    let started = Instant::now();
    waiting.wait_for_tasks(Duration::from_millis(300)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    // An enqueue through another pool (another instance) ends the wait long before its timeout.
    for announce in ["enqueue", "retry"] {
        let waiter = {
            let waiting = waiting.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                waiting.wait_for_tasks(Duration::from_secs(30)).await;
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let id = other.enqueue(task(announce)).await.unwrap();
        if announce == "retry" {
            // Never claimed: attempt 0 is its latest.
            let unclaimed = TaskClaim { id, attempt: 0 };
            other.retry(unclaimed, Utc::now(), "again").await.unwrap();
        }
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap_or_else(|_| panic!("{announce} did not wake the waiting worker"))
            .unwrap();
        assert!(waited < Duration::from_secs(5), "{announce}: {waited:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_is_set_on_every_connection() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    let database = test
        .instance(PostgresSettings {
            max_connections: 2,
            statement_timeout: Duration::from_millis(250),
            ..PostgresSettings::default()
        })
        .await;
    // Both connections at once, so that each is a different one.
    let mut first = database.pool().acquire().await.unwrap();
    let mut second = database.pool().acquire().await.unwrap();
    for connection in [&mut first, &mut second] {
        let shown: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        assert_eq!(shown, "250ms");
    }
    drop((first, second));
    let cancelled = sqlx::query("SELECT pg_sleep(2)")
        .execute(database.pool())
        .await
        .unwrap_err();
    assert_eq!(
        cancelled
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("57014"),
        "{cancelled}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable() {
    if server().is_none() {
        return;
    }
    // Nothing listens on port 1; the connection is refused at once.
    let refused = PostgresDatabase::connect(
        "postgres://postgres@127.0.0.1:1/postgres",
        PostgresSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresSettings::default()
        },
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Unavailable { .. })),
        "{refused:?}"
    );
    let malformed =
        PostgresDatabase::connect("postgres://host:port/db", PostgresSettings::default()).await;
    assert!(
        matches!(malformed, Err(Error::Validation(_))),
        "{malformed:?}"
    );
}

/// Forwards TCP connections to the PostgreSQL server until aborted, so a test can cut the
/// database off from a running shop without touching the server others use.
async fn proxy(target: (String, u16)) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let forwarding = tokio::spawn(async move {
        // Dropping the set (when this task is aborted) aborts every forwarded connection.
        let mut connections = JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            let target = target.clone();
            connections.spawn(async move {
                if let Ok(mut server) = TcpStream::connect(target).await {
                    tokio::io::copy_bidirectional(&mut client, &mut server)
                        .await
                        .ok();
                }
            });
        }
    });
    (port, forwarding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_unavailable() {
    let Some(server) = server() else { return };
    let test = TestDatabase::create(server).await;
    let (port, forwarding) = proxy(test.server_address()).await;
    let database = PostgresDatabase::connect_with(
        test.options().host("127.0.0.1").port(port),
        PostgresSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresSettings::default()
        },
    )
    .await
    .unwrap();
    database.migrate().await.unwrap();
    database.check().await.unwrap();

    forwarding.abort();
    forwarding.await.ok();

    let check = database.check().await;
    assert!(matches!(check, Err(Error::Unavailable { .. })), "{check:?}");
    let claim = database
        .claim(&["mail"], Utc::now(), Duration::from_secs(30))
        .await;
    assert!(matches!(claim, Err(Error::Unavailable { .. })), "{claim:?}");
    let user = database.find_user(commerce_core::domain::UserId(1)).await;
    assert!(matches!(user, Err(Error::Unavailable { .. })), "{user:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_backend_postgres_searches_the_database() {
    let factory = PluginFactory::all()
        .find(|f| f.role == Role::Search && f.schemes.contains(&"postgres"))
        .expect("a search factory for postgres");
    assert_eq!(factory.name, "postgres-search");
    let config = |database: &str| {
        let database = database.to_owned();
        Config::from_lookup(move |name| match name {
            "DATABASE_URL" => Some(database.clone()),
            "SEARCH_BACKEND" => Some("postgres".into()),
            _ => None,
        })
        .unwrap()
    };
    let on_sqlite = (factory.create)("postgres://data/search", &config("sqlite://shop.db"));
    assert!(
        matches!(on_sqlite, Err(Error::Validation(_))),
        "{:?}",
        on_sqlite.map(|p| p.name())
    );

    let Some((_database, test)) = fresh().await else {
        return;
    };
    let config = config(&test.url());
    let plugin = (factory.create)("postgres://data/search", &config).unwrap();
    assert_eq!(plugin.name(), "postgres-search");
    ShopBuilder::new(config).add_boxed(plugin).await.unwrap();
}

#[test]
fn postgres_urls_choose_this_plugin() {
    for scheme in ["postgres", "postgresql"] {
        let factory = PluginFactory::all()
            .find(|f| f.role == Role::Database && f.schemes.contains(&scheme))
            .expect("a database factory for the scheme");
        assert_eq!(factory.name, "postgres", "{scheme}");
    }
}

// ---- read replica (DATABASE_READ_URL) ----
//
// There is no real replica here, so routing is proven with two databases on one server: a
// "replica" migrated like the primary but holding different rows under the same ids. A read
// that answers with the replica's row went to the replica; a write that shows up only in the
// primary went to the primary.

/// The conformance suites again, with the read pool pointed at the primary itself: a second
/// pool, reached through `with_read_replica` as `DATABASE_READ_URL` is, must change nothing.
mod read_url_at_the_primary {
    use super::*;

    async fn fresh() -> Option<(Arc<PostgresDatabase>, TestDatabase)> {
        let test = TestDatabase::create(server()?).await;
        let database = test
            .instance(PostgresSettings::default())
            .await
            .with_read_replica(&test.url())
            .await
            .expect("connect the read pool");
        database.migrate().await.expect("migrate");
        Some((Arc::new(database), test))
    }

    commerce_core::catalog_store_conformance!(optional fresh);
    commerce_core::order_store_conformance!(optional fresh);
}

/// A primary and a stand-in replica, both migrated, and what the replica holds: a category
/// and two products whose names say where they were read from.
async fn primary_and_replica() -> Option<(TestDatabase, TestDatabase)> {
    let server = server()?;
    let primary = TestDatabase::create(server.clone()).await;
    let replica = TestDatabase::create(server).await;
    primary
        .instance(PostgresSettings::default())
        .await
        .migrate()
        .await
        .unwrap();
    let seeding = replica.instance(PostgresSettings::default()).await;
    seeding.migrate().await.unwrap();
    let shelf = seeding
        .create_category(category("Replica shelf"))
        .await
        .unwrap();
    for name in ["Replica kettle", "Replica teapot"] {
        let mut record = product(name, shelf.id);
        record.price_minor = 1;
        seeding.create_product(record).await.unwrap();
    }
    seeding.pool().close().await;
    Some((primary, replica))
}

/// How many rows `table` holds in `test`'s database, counted on a connection of its own.
async fn rows(test: &TestDatabase, table: &str) -> i64 {
    let mut connection = PgConnection::connect_with(&test.options()).await.unwrap();
    let count = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopper_reads_go_to_the_replica_and_everything_else_to_the_primary() {
    let Some((primary, replica)) = primary_and_replica().await else {
        return;
    };
    let alone = primary.instance(PostgresSettings::default()).await;
    assert!(alone.replica_readiness().is_none());
    assert_eq!(
        alone.read_pool().connect_options().get_database(),
        Some(primary.0.name())
    );
    let settings = PostgresSettings {
        max_connections: 2,
        statement_timeout: Duration::from_millis(750),
        ..PostgresSettings::default()
    };
    let store = primary
        .instance(settings)
        .await
        .with_read_replica(&replica.url())
        .await
        .unwrap();
    assert_eq!(
        store.read_pool().connect_options().get_database(),
        Some(replica.0.name())
    );

    // Writes land on the primary only; ids restart at 1 there, the replica's ids too.
    let shelf = store
        .create_category(category("Primary shelf"))
        .await
        .unwrap();
    let mut kettle = product("Primary kettle", shelf.id);
    kettle.price_minor = 1_500;
    let kettle = store.create_product(kettle).await.unwrap();
    assert_eq!((shelf.id.0, kettle.id.0), (1, 1));
    assert_eq!(rows(&primary, "products").await, 1);
    assert_eq!(rows(&replica, "products").await, 2);

    // The five shopper reads answer with the replica's rows.
    let found = store.find_product(kettle.id).await.unwrap().unwrap();
    assert_eq!(
        (found.name.as_str(), found.price_minor),
        ("Replica kettle", 1)
    );
    let found = store.find_category(shelf.id).await.unwrap().unwrap();
    assert_eq!(found.name, "Replica shelf");
    let names: Vec<String> = store
        .list_categories()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Replica shelf"]);

    // Reads a change is built on (a PATCH keeps what it does not name) come from the primary.
    let current = store.product_to_update(kettle.id).await.unwrap().unwrap();
    assert_eq!(current.price_minor, 1_500);
    let current = store.category_to_update(shelf.id).await.unwrap().unwrap();
    assert_ne!(current.name, "Replica shelf");
    let names: Vec<String> = store
        .categories_to_update()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(!names.contains(&"Replica shelf".to_owned()), "{names:?}");
    // The tree a category change is checked against, too.
    let checked = Mutex::new(Vec::new());
    store
        .update_category(shelf.id, category("Primary shelf"), &|tree| {
            let names = tree.iter().map(|c| c.name.clone());
            checked.lock().unwrap().extend(names);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(*checked.lock().unwrap(), ["Primary shelf"]);
    let by_ids = store
        .products_by_ids(&[ProductId(1), ProductId(2)])
        .await
        .unwrap();
    assert_eq!(by_ids.len(), 2, "the primary has one product");
    assert!(by_ids.iter().all(|p| p.name.starts_with("Replica")));
    let listed = store
        .list_products(&ProductListQuery {
            filter: ProductFilter::default(),
            ordering: ProductOrdering::NameAscending,
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    assert!(listed.items.iter().all(|p| p.name.starts_with("Replica")));

    // The change log and index documents come from the primary: what the indexer must see.
    // The replica's log holds two entries, the primary's one.
    assert_eq!(store.latest_change().await.unwrap(), 1);
    let changes = store.changes_since(0, 10).await.unwrap();
    assert_eq!(
        changes.iter().map(|c| c.product).collect::<Vec<_>>(),
        [kettle.id]
    );
    let documents = store.index_documents(&[kettle.id]).await.unwrap();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].name, "Primary kettle");
    assert_eq!(documents[0].category_name, "Primary shelf");
    let documents = store.index_documents_after(ProductId(0), 10).await.unwrap();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].name, "Primary kettle");

    // Transactions run on the primary: an import, and a delete that checks the category is
    // empty (the replica's category 1 is not; the primary's category 2 is).
    store
        .import_products(&[product("Imported", shelf.id)])
        .await
        .unwrap();
    assert_eq!(rows(&primary, "products").await, 2);
    let empty = store.create_category(category("Empty")).await.unwrap();
    let any = |_: &_| Ok(());
    store.delete_category(empty.id, &any).await.unwrap();
    assert_eq!(rows(&primary, "categories").await, 1);
    assert_eq!(rows(&replica, "categories").await, 1);

    // Carts and orders read products on the primary: the cart prices the primary's kettle,
    // and checkout takes the primary's price and stock, whatever the replica says.
    let buyer = user(&store, "buyer").await;
    store.add_to_cart(buyer, kettle.id, 2, 1_000).await.unwrap();
    let (_, lines) = store.cart(buyer).await.unwrap();
    let priced = lines[0].product.as_ref().unwrap();
    assert_eq!(
        (priced.name.as_str(), priced.price_minor),
        ("Primary kettle", 1_500)
    );
    let stale = OrderItem {
        product_id: kettle.id,
        product_name: "Replica kettle".into(),
        unit_price_minor: 1,
        quantity: 2,
    };
    let order = |items: Vec<OrderItem>| NewOrder {
        user_id: buyer,
        subtotal_minor: items.iter().map(|i| i.unit_price_minor * i.quantity).sum(),
        total_minor: items.iter().map(|i| i.unit_price_minor * i.quantity).sum(),
        items,
        currency: "USD".into(),
        shipping_address: None,
        note: String::new(),
        cart_items: Vec::new(),
        idempotency: None,
        notification: NewTask {
            payload: serde_json::json!({}),
            ..task("confirm")
        },
    };
    // An order at the replica's price is refused by the primary's stock decrement.
    let refused = store.place_order(order(vec![stale])).await.unwrap();
    assert!(
        matches!(&refused, PlaceOrderOutcome::Rejected(problems) if problems.len() == 1),
        "{refused:?}"
    );
    let line = OrderItem {
        product_id: kettle.id,
        product_name: priced.name.clone(),
        unit_price_minor: priced.price_minor,
        quantity: 2,
    };
    let PlaceOrderOutcome::Placed(placed) = store.place_order(order(vec![line])).await.unwrap()
    else {
        panic!("the primary has the kettle in stock at its price");
    };
    assert_eq!(placed.total_minor, 3_000);
    assert_eq!(rows(&primary, "orders").await, 1);
    assert_eq!(rows(&replica, "orders").await, 0);

    // The replica's pool is set up like the primary's, and has a check of its own.
    let mut connection = store.read_pool().acquire().await.unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    assert_eq!(shown, "750ms");
    drop(connection);
    let check = store.replica_readiness().unwrap();
    assert_eq!(check.name(), "postgres-replica");
    check.check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_replica_fails_its_own_check_and_only_shopper_reads() {
    let Some((primary, replica)) = primary_and_replica().await else {
        return;
    };
    let (port, forwarding) = proxy(replica.server_address()).await;
    let store = primary
        .instance(PostgresSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresSettings::default()
        })
        .await
        .with_read_replica_options(replica.options().host("127.0.0.1").port(port))
        .await
        .unwrap();
    let check = store.replica_readiness().unwrap();
    check.check().await.unwrap();

    forwarding.abort();
    forwarding.await.ok();

    let replica_check = check.check().await;
    assert!(
        matches!(replica_check, Err(Error::Unavailable { .. })),
        "{replica_check:?}"
    );
    store.check().await.unwrap();
    let read = store.find_product(ProductId(1)).await;
    assert!(matches!(read, Err(Error::Unavailable { .. })), "{read:?}");
    let shelf = store.create_category(category("Still open")).await.unwrap();
    store
        .create_product(product("Still sold", shelf.id))
        .await
        .unwrap();
    assert_eq!(store.latest_change().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_read_url_is_named() {
    let Some((primary, _replica)) = primary_and_replica().await else {
        return;
    };
    let malformed = primary
        .instance(PostgresSettings::default())
        .await
        .with_read_replica("postgres://host:port/db")
        .await;
    let Err(Error::Validation(fields)) = &malformed else {
        panic!("{malformed:?}");
    };
    assert!(
        fields.as_map().contains_key("DATABASE_READ_URL"),
        "{fields:?}"
    );
    let refused = primary
        .instance(PostgresSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresSettings::default()
        })
        .await
        .with_read_replica("postgres://postgres@127.0.0.1:1/postgres")
        .await;
    assert!(
        matches!(refused, Err(Error::Unavailable { .. })),
        "{refused:?}"
    );
}

/// The plugin chosen by `DATABASE_URL`, given `DATABASE_READ_URL`, assembled into a whole shop:
/// a shopper sees the replica's product, and the cart and checkout charge the primary's price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_reads_the_catalogue_from_database_read_url() {
    let Some((primary, replica)) = primary_and_replica().await else {
        return;
    };
    let urls = (primary.url(), replica.url());
    let config = Config::from_lookup(move |name| match name {
        "DATABASE_URL" => Some(urls.0.clone()),
        "DATABASE_READ_URL" => Some(urls.1.clone()),
        "SEARCH_BACKEND" => Some("postgres".into()),
        _ => None,
    })
    .unwrap();
    let shop = ShopBuilder::from_registry(config)
        .await
        .unwrap()
        .build()
        .unwrap();

    let seeding = primary.instance(PostgresSettings::default()).await;
    let shelf = seeding
        .create_category(category("Primary shelf"))
        .await
        .unwrap();
    let mut kettle = product("Primary kettle", shelf.id);
    kettle.price_minor = 1_500;
    let kettle = seeding.create_product(kettle).await.unwrap();
    let buyer = user(&seeding, "buyer").await;
    let who = Principal {
        user_id: buyer,
        is_staff: false,
    };

    // The catalogue as shoppers read it is the replica's.
    let shown = shop.catalog().product(None, kettle.id).await.unwrap();
    assert_eq!(
        (shown.name.as_str(), shown.price_minor),
        ("Replica kettle", 1)
    );
    let categories = shop.catalog().categories().await.unwrap();
    assert_eq!(categories.len(), 1);
    assert_eq!(categories[0].name, "Replica shelf");

    // The cart and checkout are the primary's.
    let cart = shop.carts().add(who, kettle.id, 2).await.unwrap();
    assert_eq!(cart.lines[0].product_name, "Primary kettle");
    assert_eq!(cart.subtotal_minor, 3_000);
    let placed = shop.orders().place(who, Checkout::default()).await.unwrap();
    assert!(placed.created);
    assert_eq!(placed.order.total_minor, 3_000);
    assert_eq!(placed.order.items[0].unit_price_minor, 1_500);
    let stock: i64 = sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
        .bind(kettle.id.0)
        .fetch_one(seeding.pool())
        .await
        .unwrap();
    assert_eq!(stock, 1);
    assert_eq!(rows(&replica, "orders").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_read_url_stops_the_plugin() {
    let Some((primary, _replica)) = primary_and_replica().await else {
        return;
    };
    let url = primary.url();
    let config = Config::from_lookup(move |name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "DATABASE_READ_URL" => Some("postgres://postgres@127.0.0.1:1/postgres".into()),
        "SEARCH_BACKEND" => Some("postgres".into()),
        _ => None,
    })
    .unwrap();
    let built = ShopBuilder::from_registry(config).await;
    assert!(
        matches!(
            &built,
            Err(BuildError::Plugin {
                plugin: "postgres",
                source: Error::Unavailable { .. }
            })
        ),
        "{:?}",
        built.err()
    );
}
