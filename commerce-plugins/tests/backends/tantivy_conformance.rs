//! The core search index conformance suite, run against the tantivy index in a fresh
//! temporary directory per test; then what only an on-disk index has to get right: reopening,
//! and recovering from a directory it cannot use.
#![cfg(feature = "tantivy")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commerce_core::Result;
use commerce_core::config::Config;
use commerce_core::domain::{CategoryId, ProductId};
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{
    IndexBatch, IndexDocument, ProductFilter, ReadinessCheck, SearchHits, SearchIndex, SearchQuery,
    StockWrite,
};
use commerce_plugins::tantivy::TantivyIndex;
use tempfile::TempDir;

/// An index that deletes its directory when the test drops it.
struct TempIndex {
    index: TantivyIndex,
    _dir: TempDir,
}

#[async_trait]
impl SearchIndex for TempIndex {
    fn name(&self) -> &'static str {
        SearchIndex::name(&self.index)
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchHits> {
        self.index.search(query).await
    }

    async fn applied_through(&self) -> Result<Option<u64>> {
        self.index.applied_through().await
    }

    async fn apply(&self, batch: IndexBatch) -> Result<()> {
        self.index.apply(batch).await
    }

    async fn clear(&self) -> Result<()> {
        self.index.clear().await
    }
}

async fn fresh() -> Arc<TempIndex> {
    let dir = TempDir::new().unwrap();
    let index = TantivyIndex::open(dir.path().join("search")).await.unwrap();
    Arc::new(TempIndex { index, _dir: dir })
}

commerce_core::search_index_conformance!(fresh);

/// A migrated SQLite catalogue in a temporary directory, which lives as long as the guard.
#[cfg(feature = "sqlite")]
async fn sqlite_store() -> (Arc<commerce_plugins::sqlite::SqliteDatabase>, TempDir) {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let store = commerce_plugins::sqlite::SqliteDatabase::connect(&url, 4)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), dir)
}

/// A category, Kitchen, holding one product, Copper Kettle.
#[cfg(feature = "sqlite")]
async fn kettle_in_a_kitchen(
    store: &commerce_plugins::sqlite::SqliteDatabase,
) -> (
    commerce_core::domain::Category,
    commerce_core::domain::Product,
) {
    use commerce_core::ports::CatalogStore;

    use crate::records::{category, product};

    let kitchen = store.create_category(category("Kitchen")).await.unwrap();
    let kettle = store
        .create_product(product("Copper Kettle", kitchen.id))
        .await
        .unwrap();
    (kitchen, kettle)
}

fn product(id: i64, name: &str) -> IndexDocument {
    IndexDocument {
        id: ProductId(id),
        name: name.into(),
        description: "Made to last.".into(),
        category: CategoryId(1),
        category_name: "Kitchen".into(),
        price_minor: 1250,
        stock: 3,
        is_active: true,
        created_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
    }
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

async fn found(index: &TantivyIndex, query: &str) -> Vec<i64> {
    let hits = index.search(&text(query)).await.unwrap();
    hits.ids.iter().map(|id| id.0).collect()
}

async fn index_two_products(path: &Path) {
    let index = TantivyIndex::open(path).await.unwrap();
    index
        .apply(IndexBatch {
            upserts: vec![product(1, "Copper Kettle"), product(2, "Cast Iron Pan")],
            deletes: Vec::new(),
            through: 7,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn reopening_keeps_documents_and_position() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    index_two_products(&path).await;

    let reopened = TantivyIndex::open(&path).await.unwrap();
    assert_eq!(reopened.applied_through().await.unwrap(), Some(7));
    assert_eq!(found(&reopened, "kettle").await, vec![1]);
    assert_eq!(found(&reopened, "").await, vec![1, 2]);
    ReadinessCheck::check(&reopened).await.unwrap();
}

#[tokio::test]
async fn a_second_writer_on_the_same_directory_fails_without_wiping_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    index_two_products(&path).await;
    let first = TantivyIndex::open(&path).await.unwrap();
    assert!(TantivyIndex::open(&path).await.is_err());
    assert_eq!(first.applied_through().await.unwrap(), Some(7));
    assert_eq!(found(&first, "pan").await, vec![2]);
}

/// Whatever was wrong, the index opens empty with no position, keeps the directory's other
/// files, and works.
async fn assert_recreated(path: &Path) {
    let index = TantivyIndex::open(path).await.unwrap();
    assert_eq!(index.applied_through().await.unwrap(), None);
    assert_eq!(found(&index, "").await, Vec::<i64>::new());
    assert_eq!(
        fs::read_to_string(path.join("notes.txt")).unwrap(),
        "not ours"
    );
    index
        .apply(IndexBatch {
            upserts: vec![product(5, "Copper Kettle")],
            deletes: Vec::new(),
            through: 3,
        })
        .await
        .unwrap();
    assert_eq!(found(&index, "kettle").await, vec![5]);
    drop(index);
    let reopened = TantivyIndex::open(path).await.unwrap();
    assert_eq!(reopened.applied_through().await.unwrap(), Some(3));
}

#[tokio::test]
async fn a_corrupt_index_is_recreated_empty() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    index_two_products(&path).await;
    fs::write(path.join("notes.txt"), "not ours").unwrap();
    fs::write(path.join("meta.json"), "{ not json").unwrap();
    assert_recreated(&path).await;
}

#[tokio::test]
async fn an_index_with_missing_segment_files_is_recreated_empty() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    index_two_products(&path).await;
    fs::write(path.join("notes.txt"), "not ours").unwrap();
    for entry in fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "idx") {
            fs::remove_file(entry.path()).unwrap();
        }
    }
    assert_recreated(&path).await;
}

#[tokio::test]
async fn a_foreign_index_is_recreated_empty() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    fs::create_dir_all(&path).unwrap();
    fs::write(path.join("notes.txt"), "not ours").unwrap();
    let mut schema = tantivy::schema::Schema::builder();
    let title = schema.add_text_field("title", tantivy::schema::TEXT);
    let foreign = tantivy::Index::create_in_dir(&path, schema.build()).unwrap();
    let mut writer: tantivy::IndexWriter = foreign.writer(15_000_000).unwrap();
    writer
        .add_document(tantivy::doc!(title => "Copper Kettle"))
        .unwrap();
    writer.commit().unwrap();
    drop(writer);
    assert_recreated(&path).await;
}

#[tokio::test]
async fn an_index_from_another_version_is_recreated_empty() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    index_two_products(&path).await;
    fs::write(path.join("notes.txt"), "not ours").unwrap();
    // Same schema, but the commit says another version wrote it.
    let index = tantivy::Index::open_in_dir(&path).unwrap();
    let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
    let mut commit = writer.prepare_commit().unwrap();
    commit.set_payload("v0:7");
    commit.commit().unwrap();
    drop(writer);
    assert_recreated(&path).await;
}

#[tokio::test]
async fn an_index_kept_in_another_order_is_recreated_empty() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("search");
    index_two_products(&path).await;
    let ours = tantivy::Index::open_in_dir(&path).unwrap();
    let payload = ours.load_metas().unwrap().payload.unwrap();
    // Same schema and version, documents in the order they came.
    let other = dir.path().join("unsorted");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("notes.txt"), "not ours").unwrap();
    let unsorted = tantivy::Index::create_in_dir(&other, ours.schema()).unwrap();
    let mut writer: tantivy::IndexWriter = unsorted.writer(15_000_000).unwrap();
    let mut commit = writer.prepare_commit().unwrap();
    commit.set_payload(&payload);
    commit.commit().unwrap();
    drop(writer);
    assert_recreated(&other).await;
}

#[tokio::test]
async fn accents_and_case_fold_both_ways() {
    let index = fresh().await;
    index
        .apply(IndexBatch {
            upserts: vec![product(1, "Café Crème"), product(2, "Creme Brulee Torch")],
            deletes: Vec::new(),
            through: 1,
        })
        .await
        .unwrap();
    assert_eq!(found(&index.index, "cafe").await, vec![1]);
    assert_eq!(found(&index.index, "CAFÉ").await, vec![1]);
    assert_eq!(found(&index.index, "crème").await, vec![1, 2]);
    assert_eq!(found(&index.index, "brûlée").await, vec![2]);
}

#[tokio::test]
async fn the_factory_takes_the_directory_from_the_url() {
    let factory = PluginFactory::all()
        .find(|f| f.role == Role::Search && f.schemes.contains(&"tantivy"))
        .expect("the tantivy factory is registered");
    let config = Config::from_lookup(|_| None).unwrap();
    let plugin = (factory.create)("tantivy://data/search", &config).unwrap();
    assert_eq!(plugin.name(), "tantivy");
    assert!((factory.create)("tantivy://", &config).is_err());
}

/// Not a check but a measurement, run by hand: `cargo test -p commerce-plugins --test
/// tantivy_conformance -- --ignored --nocapture`. Indexes generated products the way a
/// rebuild does and times searches that match many of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow; a measurement"]
async fn search_latency_at_scale() {
    use commerce_core::ports::ProductOrdering;
    use std::time::Instant;

    const PRODUCTS: i64 = 300_000;
    const WORDS: [&str; 12] = [
        "copper",
        "kettle",
        "steel",
        "pan",
        "wireless",
        "headphones",
        "garden",
        "hose",
        "oak",
        "table",
        "wool",
        "blanket",
    ];
    let index = fresh().await;
    let started = Instant::now();
    for chunk in (1..=PRODUCTS).collect::<Vec<_>>().chunks(20_000) {
        let upserts = chunk
            .iter()
            .map(|&id| {
                let word = |n: i64| WORDS[(n % WORDS.len() as i64) as usize];
                IndexDocument {
                    id: ProductId(id),
                    name: format!("{} {} {id}", word(id), word(id / 7)),
                    description: format!(
                        "{} {} {} model {}",
                        word(id / 3),
                        word(id / 11),
                        word(id / 13),
                        id % 1000
                    ),
                    category: CategoryId(id % 40),
                    category_name: format!("Category {}", id % 40),
                    price_minor: (id * 37) % 100_000,
                    stock: id % 17,
                    is_active: id % 10 != 0,
                    created_at: DateTime::<Utc>::from_timestamp(1_700_000_000 + id, 0).unwrap(),
                }
            })
            .collect();
        let through = u64::try_from(*chunk.last().unwrap()).unwrap();
        index
            .apply(IndexBatch {
                upserts,
                deletes: Vec::new(),
                through,
            })
            .await
            .unwrap();
    }
    println!("indexed {PRODUCTS} in {:?}", started.elapsed());
    let queries = [
        ("kettle", None, ProductFilter::default()),
        ("k", None, ProductFilter::default()),
        ("copper kettle", None, ProductFilter::default()),
        (
            "copper kett",
            None,
            ProductFilter {
                active_only: true,
                min_price: Some(1000),
                max_price: Some(50_000),
                ..ProductFilter::default()
            },
        ),
        (
            "",
            Some(ProductOrdering::PriceAscending),
            ProductFilter {
                active_only: true,
                ..ProductFilter::default()
            },
        ),
        (
            "",
            None,
            ProductFilter {
                categories: Some(vec![CategoryId(3), CategoryId(4)]),
                in_stock: Some(true),
                ..ProductFilter::default()
            },
        ),
        (
            "steel",
            Some(ProductOrdering::NameAscending),
            ProductFilter::default(),
        ),
        (
            "model 12",
            Some(ProductOrdering::CreatedDescending),
            ProductFilter::default(),
        ),
    ];
    for (text, ordering, filter) in queries {
        let query = SearchQuery {
            text: text.into(),
            filter,
            ordering,
            offset: 40,
            limit: 20,
        };
        index.search(&query).await.unwrap();
        let started = Instant::now();
        let mut hits = SearchHits::default();
        for _ in 0..10 {
            hits = index.search(&query).await.unwrap();
        }
        println!(
            "{text:?} {ordering:?}: {} hits, {:?} per search",
            hits.total,
            started.elapsed() / 10
        );
    }
}

/// One instance prunes the change log it has applied; another, whose index the pruning
/// passed, finds the log no longer reaching back to it and rebuilds, missing nothing.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_index_behind_a_pruned_change_log_rebuilds() {
    use commerce_core::ports::CatalogStore;
    use commerce_core::services::SearchIndexer;

    use crate::records::product;

    let (store, _dir) = sqlite_store().await;
    let ahead = SearchIndexer::new(store.clone(), fresh().await);
    let behind_index = fresh().await;
    let behind = SearchIndexer::new(store.clone(), behind_index.clone());

    let (kitchen, kettle) = kettle_in_a_kitchen(&store).await;
    assert_eq!(
        ahead.catch_up().await.unwrap(),
        behind.catch_up().await.unwrap()
    );

    let pan = store
        .create_product(product("Cast Iron Pan", kitchen.id))
        .await
        .unwrap();
    store
        .update_product(
            kettle.id,
            product("Steel Kettle", kitchen.id),
            StockWrite::Set,
            None,
        )
        .await
        .unwrap();
    let position = ahead.catch_up().await.unwrap();
    // Keeping one entry deletes everything below this instance's position.
    assert_eq!(ahead.prune_log(1).await.unwrap(), 2);
    assert_eq!(ahead.prune_log(1).await.unwrap(), 0);
    assert_eq!(store.changes_since(0, 10).await.unwrap().len(), 1);

    assert_eq!(behind.catch_up().await.unwrap(), position);
    let hits = behind_index.search(&text("kettle pan")).await.unwrap();
    assert!(hits.ids.is_empty());
    let hits = behind_index.search(&text("steel")).await.unwrap();
    assert_eq!(hits.ids, [kettle.id]);
    let hits = behind_index.search(&text("cast")).await.unwrap();
    assert_eq!(hits.ids, [pan.id]);
}

/// An instance serves while its index is built: the pass that completes the index tells the
/// caches, which may hold answers from the partial one. An index already whole tells nothing.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_pass_that_builds_the_index_tells_the_caches() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use commerce_core::services::SearchIndexer;

    let (store, _dir) = sqlite_store().await;
    kettle_in_a_kitchen(&store).await;

    // Runs an indexer over `index` for `passes` quarter-second passes; answers how many times
    // it told the caches.
    let changes_told = async |index: Arc<TempIndex>, passes: u32| {
        let told = Arc::new(AtomicU32::new(0));
        let counter = told.clone();
        SearchIndexer::new(store.clone(), index)
            .run(
                async move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                },
                tokio::time::sleep(Duration::from_millis(250 * u64::from(passes))),
            )
            .await;
        told.load(Ordering::SeqCst)
    };
    let index = fresh().await;
    assert_eq!(changes_told(index.clone(), 3).await, 1, "built: told once");
    assert_eq!(
        changes_told(index, 3).await,
        0,
        "already whole: nothing to tell"
    );
}

/// A category written through another instance, whose caches are its own, enters no change log
/// this instance hears of: its category list still catches up within the response cache's
/// lifetime, as its cached responses do.
#[cfg(all(feature = "sqlite", feature = "moka"))]
#[tokio::test]
async fn another_instances_category_is_seen_within_the_cache_lifetime() {
    use std::time::Duration;

    use commerce_core::domain::Currency;
    use commerce_core::ports::CatalogStore;
    use commerce_core::services::{CatalogService, ResponseCache, SearchIndexer};
    use commerce_plugins::moka::MokaCache;

    use crate::records::category;

    let (store, _dir) = sqlite_store().await;
    let lifetime = Duration::from_millis(300);
    let this_instance = CatalogService::new(
        store.clone(),
        SearchIndexer::new(store.clone(), fresh().await),
        ResponseCache::new(Arc::new(MokaCache::default()), lifetime),
        Currency::USD,
    );
    assert!(this_instance.categories().await.unwrap().is_empty());

    store.create_category(category("Kitchen")).await.unwrap();
    assert!(
        this_instance.categories().await.unwrap().is_empty(),
        "the snapshot holds for now"
    );
    tokio::time::sleep(lifetime + Duration::from_millis(50)).await;
    let categories = this_instance.categories().await.unwrap();
    let names: Vec<&str> = categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Kitchen"]);
}

/// A writer's catch-up waits a little for one already running, and otherwise does what
/// `catch_up` does: here, with nothing running, build the index, then follow the writes.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_writers_catch_up_reaches_its_write() {
    use std::time::Duration;

    use commerce_core::ports::CatalogStore;
    use commerce_core::services::SearchIndexer;

    use crate::records::product;

    let (store, _dir) = sqlite_store().await;
    let (kitchen, kettle) = kettle_in_a_kitchen(&store).await;
    let index = fresh().await;
    let indexer = SearchIndexer::new(store.clone(), index.clone());
    let wait = Duration::from_secs(1);

    let built = indexer.catch_up_for_write(wait).await.unwrap();
    assert!(built.is_some(), "nothing running: it builds");
    assert_eq!(
        index.search(&text("kettle")).await.unwrap().ids,
        [kettle.id]
    );
    let pan = store
        .create_product(product("Cast Iron Pan", kitchen.id))
        .await
        .unwrap();
    let reached = indexer.catch_up_for_write(wait).await.unwrap();
    assert!(reached > built, "{reached:?} after {built:?}");
    assert_eq!(index.search(&text("pan")).await.unwrap().ids, [pan.id]);
}

/// A tantivy index whose writes wait until the test lets them through, so that a catch-up can
/// be held in the middle of its work.
struct HeldIndex {
    index: Arc<TempIndex>,
    entered: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
}

#[async_trait]
impl SearchIndex for HeldIndex {
    fn name(&self) -> &'static str {
        self.index.name()
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchHits> {
        self.index.search(query).await
    }

    async fn applied_through(&self) -> Result<Option<u64>> {
        self.index.applied_through().await
    }

    async fn apply(&self, batch: IndexBatch) -> Result<()> {
        self.entered.notify_one();
        let _permit = self.release.acquire().await.unwrap();
        self.index.apply(batch).await
    }

    async fn clear(&self) -> Result<()> {
        self.index.clear().await
    }
}

/// While another catch-up runs long (a rebuild on a fresh deployment), a writer waits only
/// briefly for it, and answers.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_writer_does_not_wait_for_a_long_catch_up() {
    use std::time::Duration;

    use commerce_core::services::SearchIndexer;

    let (store, _dir) = sqlite_store().await;
    kettle_in_a_kitchen(&store).await;
    let held = Arc::new(HeldIndex {
        index: fresh().await,
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Semaphore::new(0),
    });
    let indexer = SearchIndexer::new(store.clone(), held.clone());

    let background = tokio::spawn({
        let indexer = indexer.clone();
        async move { indexer.catch_up().await }
    });
    held.entered.notified().await;
    let waited = tokio::time::timeout(
        Duration::from_secs(5),
        indexer.catch_up_for_write(Duration::from_millis(100)),
    )
    .await
    .expect("answers without waiting for the other catch-up");
    assert_eq!(waited.unwrap(), None);

    held.release.add_permits(1_000);
    let position = background.await.unwrap().unwrap();
    assert_eq!(
        indexer
            .catch_up_for_write(Duration::from_millis(100))
            .await
            .unwrap(),
        Some(position)
    );
}
