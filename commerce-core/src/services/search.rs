//! Keeps a search index in step with the catalogue change log.
//!
//! The index is fed from the database, never from a request: the indexer reads the change
//! log after the position the index last recorded, loads the changed products, and applies
//! them as one batch with the new position. On start it catches up, or rebuilds when the index
//! is new, from another schema version, unreadable, or behind a pruned log. Every instance
//! sharing a database keeps its own index this way, with no extra service, and prunes the
//! log's old entries now and then.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::domain::ProductId;
use crate::error::Result;
use crate::ports::{CatalogStore, IndexBatch, SearchHits, SearchIndex, SearchQuery};

/// How many change-log entries or products one batch takes.
const BATCH: u32 = 2_000;
/// How many products one rebuild batch takes: each batch is a commit, so fewer is faster.
const REBUILD_BATCH: u32 = 20_000;
/// How often the background loop looks for changes made by other instances.
const POLL: Duration = Duration::from_millis(250);
/// How many of the newest change-log entries the background loop keeps. Every order writes
/// a few (its products' stock), so the log would otherwise grow without end. An instance that
/// falls further behind than this (stopped while the others sold a few hundred thousand
/// orders) finds the log pruned past its index's position and rebuilds its index, which at a
/// million products takes seconds.
pub const RETAINED_CHANGES: u64 = 1_000_000;
/// How often the background loop prunes the change log.
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
/// How many entries one pruning statement deletes: a short transaction each.
const PRUNE_BATCH: u32 = 10_000;

/// Applies catalogue changes to a search index.
#[derive(Clone)]
pub struct SearchIndexer {
    store: Arc<dyn CatalogStore>,
    index: Arc<dyn SearchIndex>,
    /// One catch-up at a time; a caller arriving meanwhile waits and then finds little to do.
    running: Arc<Mutex<()>>,
}

impl SearchIndexer {
    /// An indexer feeding `index` from `store`.
    pub fn new(store: Arc<dyn CatalogStore>, index: Arc<dyn SearchIndex>) -> Self {
        Self {
            store,
            index,
            running: Arc::default(),
        }
    }

    /// Searches the index.
    pub async fn search(&self, query: &SearchQuery) -> Result<SearchHits> {
        self.index.search(query).await
    }

    /// Applies every change committed before the call; returns the position reached. A write
    /// followed by this call is visible to searches on this instance.
    pub async fn catch_up(&self) -> Result<u64> {
        let _running = self.running.lock().await;
        self.catch_up_locked().await
    }

    /// As [`catch_up`](Self::catch_up), for a writer about to answer: waits at most `wait`
    /// for a catch-up already running (the background loop's, say) to end, and answers `None`
    /// if it has not, the write then reaching the index when that one is done.
    ///
    /// Ordinary catch-ups take milliseconds; a rebuild takes as long as reading the whole
    /// catalogue, and runs first thing on a fresh deployment. A staff write would otherwise
    /// wait for it, and a client that timed out might send a create again.
    pub async fn catch_up_for_write(&self, wait: Duration) -> Result<Option<u64>> {
        // Cancelled while waiting for the lock, nothing has started.
        let Ok(_running) = tokio::time::timeout(wait, self.running.lock()).await else {
            return Ok(None);
        };
        self.catch_up_locked().await.map(Some)
    }

    async fn catch_up_locked(&self) -> Result<u64> {
        let applied = match self.index.applied_through().await? {
            Some(position) if position > 0 || self.store.latest_change().await? == 0 => position,
            // New, foreign or half-built (a rebuild records 0 until it is complete).
            _ => return self.rebuild_locked().await,
        };
        let mut applied = applied;
        loop {
            let changes = self.store.changes_since(applied, BATCH).await?;
            let Some(last) = changes.last() else {
                return Ok(applied);
            };
            if changes[0].seq > applied + 1 && applied > 0 && self.log_was_pruned(applied).await? {
                tracing::warn!(
                    applied,
                    "the change log no longer reaches back to the index; rebuilding"
                );
                return self.rebuild_locked().await;
            }
            let through = last.seq;
            let ids: BTreeSet<ProductId> = changes.iter().map(|c| c.product).collect();
            let ids: Vec<ProductId> = ids.into_iter().collect();
            let upserts = self.store.index_documents(&ids).await?;
            let present: BTreeSet<ProductId> = upserts.iter().map(|d| d.id).collect();
            let deletes = ids.into_iter().filter(|id| !present.contains(id)).collect();
            self.index
                .apply(IndexBatch {
                    upserts,
                    deletes,
                    through,
                })
                .await?;
            applied = through;
        }
    }

    /// Gaps in sequence numbers are normal (rolled-back inserts); only a log whose oldest
    /// entry is past our position means entries were pruned before we applied them.
    async fn log_was_pruned(&self, applied: u64) -> Result<bool> {
        let oldest = self.store.changes_since(0, 1).await?;
        Ok(oldest.first().is_some_and(|c| c.seq > applied + 1))
    }

    /// Deletes the change-log entries more than `keep` entries older than this index's
    /// position (at least the newest entry always stays); returns how many it deleted.
    ///
    /// Any instance may prune: each keeps its own index, and one whose position the pruning
    /// passed rebuilds on its next catch-up.
    pub async fn prune_log(&self, keep: u64) -> Result<u64> {
        let position = self.index.applied_through().await?.unwrap_or(0);
        let before = position.saturating_sub(keep.max(1)).saturating_add(1);
        let mut deleted = 0;
        loop {
            let batch = self.store.prune_changes(before, PRUNE_BATCH).await?;
            deleted += batch;
            if batch < u64::from(PRUNE_BATCH) {
                return Ok(deleted);
            }
        }
    }

    /// Empties the index and indexes every product again.
    pub async fn rebuild(&self) -> Result<u64> {
        let _running = self.running.lock().await;
        self.rebuild_locked().await
    }

    async fn rebuild_locked(&self) -> Result<u64> {
        // Changes after this point are replayed by the next catch-up; upserts are idempotent.
        let start = self.store.latest_change().await?;
        tracing::info!(index = self.index.name(), "rebuilding the search index");
        self.index.clear().await?;
        let mut after = ProductId(0);
        let mut indexed = 0usize;
        loop {
            let documents = self
                .store
                .index_documents_after(after, REBUILD_BATCH)
                .await?;
            let Some(last) = documents.last() else { break };
            after = last.id;
            indexed += documents.len();
            self.index
                .apply(IndexBatch {
                    upserts: documents,
                    deletes: Vec::new(),
                    through: 0,
                })
                .await?;
        }
        self.index
            .apply(IndexBatch {
                through: start,
                ..IndexBatch::default()
            })
            .await?;
        tracing::info!(
            index = self.index.name(),
            indexed,
            through = start,
            "search index rebuilt"
        );
        Ok(start)
    }

    /// Catches up now and then every quarter second, until `shutdown` completes: changes made
    /// by other instances reach this one's index within a second. Every ten minutes, starting
    /// now, it prunes the change log to its newest [`RETAINED_CHANGES`] entries.
    ///
    /// `on_change` runs whenever a pass applied new changes: another instance wrote to the
    /// catalogue, so caches this instance keeps to itself must forget what they hold. The
    /// first pass counts too: an instance serves while its index catches up or rebuilds, and
    /// what it cached from the partial index must go once the index is whole.
    pub async fn run(self, on_change: impl AsyncFn(), shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // An index that cannot say where it is will be rebuilt: anything but its end differs.
        let mut seen = self
            .index
            .applied_through()
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        let mut pruned_at: Option<tokio::time::Instant> = None;
        loop {
            match self.catch_up().await {
                Ok(position) => {
                    if position != seen {
                        on_change().await;
                    }
                    seen = position;
                    if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                        pruned_at = Some(tokio::time::Instant::now());
                        match self.prune_log(RETAINED_CHANGES).await {
                            Ok(0) => {}
                            Ok(deleted) => tracing::info!(deleted, "change log pruned"),
                            Err(error) => tracing::warn!(%error, "could not prune the change log"),
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "search index could not catch up"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
