//! An embedded full-text product index over tantivy: the default search backend, chosen by
//! `SEARCH_BACKEND=tantivy` and kept in the directory `SEARCH_INDEX_PATH`.
//!
//! The index holds only what matching, filtering and ordering need; shoppers never see its
//! contents (the catalogue service loads the products by id from the store). It is fed by the
//! core indexer from the catalogue change log and can always be rebuilt from it, which is why
//! an index that cannot be read, or was written by another schema version, is wiped and
//! recreated at start rather than stopping the shop: the indexer sees no position and
//! rebuilds it.
//!
//! One writer per directory: a second process opening the same directory fails to start.

mod query;
mod schema;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{IndexBatch, ReadinessCheck, SearchHits, SearchIndex, SearchQuery};
use commerce_core::{Error, Plugin, Result, ShopBuilder};
use tantivy::directory::{INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::{Directory, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyError};
use tokio::sync::{Mutex, Semaphore};

use self::schema::{Fields, SCHEMA_VERSION};

const BACKEND: &str = "tantivy";
/// The indexing buffer: a rebuild flushes a segment each time it fills. 50 MB keeps the
/// resident size modest while a million products still index in seconds.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// A product index in a local directory.
///
/// Cheap to clone; clones share one writer and one reader. Every call runs tantivy's blocking
/// work on tokio's blocking pool.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    index: Index,
    fields: Fields,
    /// Reloaded by `apply` and `clear` after each commit, so a search right after them sees it.
    reader: IndexReader,
    /// One batch at a time: tantivy's writer is single, and a batch is one commit.
    writer: Arc<Mutex<IndexWriter>>,
    /// One search per core, plus one, at a time; the others wait their turn in arrival order.
    /// A search is pure CPU: with dozens running at once the operating system slices them all
    /// and the long ones finish last (filtered lists at 32 clients on 2 cores: p99 114 ms
    /// unbounded, 46 ms so). The extra turn keeps the cores busy while a finished search's
    /// task hands its answer back (with exactly one per core, throughput fell by a fifth).
    searches: Arc<Semaphore>,
}

impl TantivyIndex {
    /// Opens the index in `path`, creating the directory and an empty index as needed.
    ///
    /// An index there that cannot be opened, or was written by another schema version, is
    /// deleted (its files only: anything else in the directory stays) and recreated empty,
    /// with a warning. Fails when the directory cannot be created or written, or when another
    /// process holds the index.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        blocking(move || Self::open_blocking(path)).await
    }

    /// The directory holding the index.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn open_blocking(path: PathBuf) -> Result<Self> {
        fs::create_dir_all(&path).map_err(|e| Error::backend(BACKEND, e))?;
        let (schema, fields) = schema::schema();
        let index = match existing_index(&path, &schema) {
            Existing::Usable(index) => index,
            Existing::Missing => create_index(&path, schema)?,
            Existing::Unusable(reason) => {
                tracing::warn!(
                    path = %path.display(),
                    %reason,
                    "search index unusable; recreating it empty for the indexer to rebuild"
                );
                remove_index_files(&path)?;
                create_index(&path, schema)?
            }
        };
        schema::register_tokenizer(&index);
        // One indexing thread: rebuilds are rare, and the shop's requests share the cores.
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
            .map_err(backend)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(backend)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                index,
                fields,
                reader,
                writer: Arc::new(Mutex::new(writer)),
                searches: Arc::new(Semaphore::new(
                    std::thread::available_parallelism().map_or(1, |cores| cores.get()) + 1,
                )),
            }),
        })
    }

    /// Runs `work` with the writer, on the blocking pool; a failed batch is rolled back, so
    /// that nothing of it is committed later with another batch's position.
    async fn write<F>(&self, work: F) -> Result<()>
    where
        F: FnOnce(&Inner, &mut IndexWriter) -> tantivy::Result<()> + Send + 'static,
    {
        let mut writer = Arc::clone(&self.inner.writer).lock_owned().await;
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let done = work(&inner, &mut writer);
            if done.is_err()
                && let Err(error) = writer.rollback()
            {
                tracing::error!(%error, "could not roll back a failed search index batch");
            }
            done.map_err(backend)?;
            // Committed: make it visible before returning, as the port promises. Should this
            // fail, the error makes the indexer apply the batch again, which is harmless.
            inner.reader.reload().map_err(backend)
        })
        .await
    }
}

fn create_index(path: &Path, schema: tantivy::schema::Schema) -> Result<Index> {
    Index::builder()
        .schema(schema)
        .settings(schema::settings())
        .create_in_dir(path)
        .map_err(backend)
}

enum Existing {
    Missing,
    Usable(Index),
    Unusable(String),
}

/// What is in `path` already, checked as far as opening a reader, without taking the writer.
fn existing_index(path: &Path, schema: &tantivy::schema::Schema) -> Existing {
    let directory = match MmapDirectory::open(path) {
        Ok(directory) => directory,
        Err(e) => return Existing::Unusable(e.to_string()),
    };
    match Index::exists(&directory) {
        Ok(false) => return Existing::Missing,
        Ok(true) => {}
        Err(e) => return Existing::Unusable(e.to_string()),
    }
    let index = match Index::open(directory) {
        Ok(index) => index,
        Err(e) => return Existing::Unusable(e.to_string()),
    };
    if index.schema() != *schema {
        return Existing::Unusable("its schema differs from this version's".into());
    }
    if index.settings().sort_by_field != schema::settings().sort_by_field {
        return Existing::Unusable("its documents are kept in another order".into());
    }
    match index.load_metas() {
        Ok(metas) => match metas.payload.as_deref() {
            None => {}
            Some(payload) if position(payload).is_some() => {}
            Some(payload) => {
                return Existing::Unusable(format!("written by another version ({payload:?})"));
            }
        },
        Err(e) => return Existing::Unusable(e.to_string()),
    }
    // Opening a reader opens every segment: a missing or truncated file shows here.
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into();
    if let Err(e) = reader.map(|_: IndexReader| ()) {
        return Existing::Unusable(e.to_string());
    }
    Existing::Usable(index)
}

/// Deletes tantivy's files in `path` and nothing else, in case the directory is shared.
/// Refuses while another process holds the index's writer lock.
fn remove_index_files(path: &Path) -> Result<()> {
    let directory = MmapDirectory::open(path).map_err(|e| Error::backend(BACKEND, e))?;
    let _lock = directory
        .acquire_lock(&INDEX_WRITER_LOCK)
        .map_err(|e| Error::backend(BACKEND, e))?;
    let entries = fs::read_dir(path).map_err(|e| Error::backend(BACKEND, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::backend(BACKEND, e))?;
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && is_index_file(&name.to_string_lossy()) {
            fs::remove_file(entry.path()).map_err(|e| Error::backend(BACKEND, e))?;
        }
    }
    Ok(())
}

/// tantivy's metadata files and segment files (`<32 hex digits>.<extension>`). Lock files
/// stay: they are locked by handle, not by existence.
fn is_index_file(name: &str) -> bool {
    if name == "meta.json" || name == ".managed.json" {
        return true;
    }
    match name.split_once('.') {
        Some((segment, _)) => segment.len() == 32 && segment.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// The commit payload recording `through` for this schema version.
fn payload(through: u64) -> String {
    format!("{SCHEMA_VERSION}:{through}")
}

/// The position in a payload written by this schema version.
fn position(payload: &str) -> Option<u64> {
    payload
        .strip_prefix(SCHEMA_VERSION)?
        .strip_prefix(':')?
        .parse()
        .ok()
}

fn backend(error: TantivyError) -> Error {
    Error::backend(BACKEND, error)
}

async fn blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::backend(BACKEND, e))?
}

#[async_trait]
impl SearchIndex for TantivyIndex {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchHits> {
        let turn = Arc::clone(&self.inner.searches)
            .acquire_owned()
            .await
            .map_err(|e| Error::backend(BACKEND, e))?;
        let inner = Arc::clone(&self.inner);
        let query = query.clone();
        blocking(move || {
            let hits = query::search(&inner.reader.searcher(), &inner.fields, &query);
            // The turn ends with the work, not when the waiting task next runs.
            drop(turn);
            hits.map_err(backend)
        })
        .await
    }

    async fn applied_through(&self) -> Result<Option<u64>> {
        let inner = Arc::clone(&self.inner);
        blocking(move || match inner.index.load_metas() {
            Ok(metas) => Ok(metas.payload.as_deref().and_then(position)),
            Err(error) => {
                // Unreadable counts as new: the indexer then rebuilds, and a still broken
                // directory fails loudly there.
                tracing::warn!(%error, "search index metadata unreadable");
                Ok(None)
            }
        })
        .await
    }

    async fn apply(&self, batch: IndexBatch) -> Result<()> {
        self.write(move |inner, writer| {
            let fields = &inner.fields;
            for product in &batch.upserts {
                // Deletes apply to documents added before them, so the new one survives.
                writer.delete_term(fields.id_term(product.id.0));
                writer.add_document(fields.document(product))?;
            }
            // After the upserts, so a product both upserted and deleted ends up deleted.
            for id in &batch.deletes {
                writer.delete_term(fields.id_term(id.0));
            }
            // The position goes in the same commit as the documents: both or neither.
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(&payload(batch.through));
            commit.commit()?;
            Ok(())
        })
        .await
    }

    async fn clear(&self) -> Result<()> {
        self.write(|_, writer| {
            writer.delete_all_documents()?;
            // No payload: the position is forgotten with the documents.
            writer.prepare_commit()?.commit()?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ReadinessCheck for TantivyIndex {
    fn name(&self) -> &'static str {
        BACKEND
    }

    /// Reads the index's metadata from disk: fails when the directory is gone or unreadable.
    async fn check(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.index.load_metas().map(drop).map_err(backend)).await
    }
}

/// Provides a [`TantivyIndex`] in a directory, and a readiness check on it.
#[derive(Debug, Clone)]
pub struct TantivySearchPlugin {
    path: PathBuf,
}

impl TantivySearchPlugin {
    /// A plugin keeping its index in `path`, created if missing.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl Plugin for TantivySearchPlugin {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        let index = Arc::new(TantivyIndex::open(self.path.clone()).await?);
        shop.provide_search_index(index.clone());
        shop.add_readiness_check(index);
        Ok(())
    }
}

/// `tantivy://data/search` keeps the index in `data/search` (relative to the working directory).
fn create(url: &str, _config: &Config) -> Result<Box<dyn Plugin>> {
    let path = url.strip_prefix("tantivy://").unwrap_or(url);
    if path.trim().is_empty() {
        return Err(Error::invalid(
            "SEARCH_INDEX_PATH",
            "name the directory for the search index",
        ));
    }
    Ok(Box::new(TantivySearchPlugin::new(path)))
}

commerce_core::inventory::submit! {
    PluginFactory { name: "tantivy", role: Role::Search, schemes: &["tantivy"], create }
}

#[cfg(test)]
mod tests {
    use super::{is_index_file, payload, position};

    #[test]
    fn positions_round_trip_only_for_this_version() {
        assert_eq!(position(&payload(42)), Some(42));
        assert_eq!(position("v0:42"), None);
        assert_eq!(position("v1"), None);
        assert_eq!(position("v1:"), None);
        assert_eq!(position("v1:x"), None);
        assert_eq!(position("v10:42"), None);
    }

    #[test]
    fn only_tantivy_files_are_removed() {
        assert!(is_index_file("meta.json"));
        assert!(is_index_file(".managed.json"));
        assert!(is_index_file("0123456789abcdef0123456789abcdef.idx"));
        assert!(is_index_file("0123456789abcdef0123456789abcdef.12.del"));
        assert!(!is_index_file(".tantivy-writer.lock"));
        assert!(!is_index_file("shop.db"));
        assert!(!is_index_file("notes.txt"));
    }
}
