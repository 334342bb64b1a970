//! Full-text product search, apart from the catalogue store.
//!
//! A search index answers product ids and a total; the catalogue service then loads those
//! products from the store (or its cache) in one query, so a result never shows a stale price.
//! Indexes are fed from the catalogue change log by the core indexer
//! (`services::search::SearchIndexer`), never from a request.

use async_trait::async_trait;

use super::catalog::{IndexDocument, ProductFilter, ProductOrdering};
use crate::domain::ProductId;
use crate::error::Result;

/// A search for products.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    /// What the shopper typed. Words match name (weighted highest), category name and
    /// description; the last word also matches as a prefix, for search-as-you-type.
    pub text: String,
    /// Which products may match.
    pub filter: ProductFilter,
    /// The order of results; `None` ranks by relevance (BM25 or the backend's equivalent),
    /// ties broken by id.
    pub ordering: Option<ProductOrdering>,
    /// How many results to skip.
    pub offset: u64,
    /// How many results at most.
    pub limit: u32,
}

/// The ids of one page of results, in order, and how many match in all (exactly).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchHits {
    /// The products of the page, best first (or in the requested order).
    pub ids: Vec<ProductId>,
    /// How many products match.
    pub total: u64,
}

/// Changes to apply to an index atomically, with the change-log position they bring it to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexBatch {
    /// Products to add or replace.
    pub upserts: Vec<IndexDocument>,
    /// Products to remove.
    pub deletes: Vec<ProductId>,
    /// The change-log position the index reflects once this batch is applied.
    pub through: u64,
}

/// A full-text index of products.
#[async_trait]
pub trait SearchIndex: Send + Sync + 'static {
    /// A short name for logs, e.g. "tantivy".
    fn name(&self) -> &'static str;

    /// One page of the products matching `query`.
    async fn search(&self, query: &SearchQuery) -> Result<SearchHits>;

    /// The change-log position the index reflects, as stored with the index; `None` when the
    /// index is new, from another schema version, or unreadable, and must be rebuilt.
    async fn applied_through(&self) -> Result<Option<u64>>;

    /// Applies a batch and records its position, atomically: after a crash the index holds
    /// either the whole batch and its position or neither. Visible to searches on return.
    async fn apply(&self, batch: IndexBatch) -> Result<()>;

    /// Removes every document and forgets the position, before a rebuild.
    async fn clear(&self) -> Result<()>;
}
