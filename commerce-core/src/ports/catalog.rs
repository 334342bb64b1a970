//! The product catalogue: categories, products, list queries, and the change log that keeps
//! search indexes in step with the database.

use async_trait::async_trait;

use crate::domain::{
    Category, CategoryId, CategoryRecord, Product, ProductId, ProductRecord, Timestamp,
};
use crate::error::Result;

/// How a product list is ordered. Ties are broken by id in the same direction (ascending
/// orderings by ascending id, descending by descending id), so pages never overlap and an index
/// on (key, id) serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProductOrdering {
    /// Cheapest first.
    PriceAscending,
    /// Dearest first.
    PriceDescending,
    /// A to Z.
    NameAscending,
    /// Z to A.
    NameDescending,
    /// Oldest first.
    CreatedAscending,
    /// Newest first: the default.
    #[default]
    CreatedDescending,
    /// Fewest in stock first.
    StockAscending,
    /// Most in stock first.
    StockDescending,
}

impl ProductOrdering {
    /// Every ordering, with the name the API's `ordering` parameter uses for it.
    pub const ALL: [(Self, &'static str); 8] = [
        (Self::PriceAscending, "price"),
        (Self::PriceDescending, "-price"),
        (Self::NameAscending, "name"),
        (Self::NameDescending, "-name"),
        (Self::CreatedAscending, "created_at"),
        (Self::CreatedDescending, "-created_at"),
        (Self::StockAscending, "stock"),
        (Self::StockDescending, "-stock"),
    ];

    /// The ordering the API calls `name`, such as `"-price"`.
    pub fn from_api_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(o, _)| *o)
    }

    /// Whether this ordering is by stock, which every order changes. Stores keep no index on
    /// stock (it would make each checkout's decrement rewrite every index of the product), so
    /// the catalogue service asks the search index for lists in these orderings.
    pub fn is_by_stock(self) -> bool {
        matches!(self, Self::StockAscending | Self::StockDescending)
    }

    /// The API's name for this ordering.
    pub fn api_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("-created_at", |(_, n)| n)
    }
}

/// Which products a list or search includes. Every condition present must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProductFilter {
    /// Only products in one of these categories (a category and its subcategories).
    pub categories: Option<Vec<CategoryId>>,
    /// Only products costing at least this, in minor units.
    pub min_price: Option<i64>,
    /// Only products costing at most this, in minor units.
    pub max_price: Option<i64>,
    /// Only products with (true) or without (false) stock.
    pub in_stock: Option<bool>,
    /// Only active products; false shows inactive ones too (staff).
    pub active_only: bool,
}

/// One page of a product list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductListQuery {
    /// Which products.
    pub filter: ProductFilter,
    /// In what order.
    pub ordering: ProductOrdering,
    /// How many to skip.
    pub offset: u64,
    /// How many at most.
    pub limit: u32,
}

/// A page of products and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    /// The products of the page, in order.
    pub items: Vec<Product>,
    /// How many products match the filter.
    pub total: u64,
}

/// One entry of the catalogue change log: this product changed (or was deleted) at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogChange {
    /// The position in the log; increases with every change.
    pub seq: u64,
    /// The product that changed.
    pub product: ProductId,
}

/// What a search index holds of a product: enough to match, filter and order it. Prices and
/// names shown to shoppers always come from the store, never from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDocument {
    /// The product.
    pub id: ProductId,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its category.
    pub category: CategoryId,
    /// Its category's name, so a search for the category finds it.
    pub category_name: String,
    /// Its price in minor units.
    pub price_minor: i64,
    /// Units in stock.
    pub stock: i64,
    /// Whether customers can see it.
    pub is_active: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Whether [`CatalogStore::update_product`] writes the product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockWrite {
    /// Sets it to the record's `stock`: staff counted it, or replaced the whole product.
    Set,
    /// Leaves it as the update finds it. Orders take from it between the read a patch starts
    /// from and the write, so writing back the figure read would undo their decrements and let
    /// the units they took be sold again.
    Keep,
}

/// What a conditional product update requires of the stored product: that it is as the
/// change was built on. Every change to a product moves one of the two: its own fields move
/// `updated_at`, orders and cancellations move `stock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductState {
    /// When its fields were last written.
    pub updated_at: Timestamp,
    /// Its stock.
    pub stock: i64,
}

impl ProductState {
    /// The state `product` was read in.
    pub fn of(product: &Product) -> Self {
        Self {
            updated_at: product.updated_at,
            stock: product.stock,
        }
    }
}

/// A rule a category change must satisfy against the whole tree; see
/// [`CatalogStore::update_category`].
pub type CategoryTreeCheck<'a> = dyn Fn(&[Category]) -> Result<()> + Send + Sync + 'a;

/// A rule a category must satisfy, as committed, for a change to it to go ahead; see
/// [`CatalogStore::delete_category`].
pub type CategoryCheck<'a> = dyn Fn(&Category) -> Result<()> + Send + Sync + 'a;

/// Stores the catalogue.
///
/// Every write that changes a product (its own fields, its stock, its category's name, its
/// deletion) appends the product to the change log in the same transaction, so that a search
/// index tailing the log never misses a committed change.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Creates a category. [`Error::AlreadyExists`](crate::Error::AlreadyExists) names `name`
    /// (compared case-insensitively) or `slug` when taken; an unknown parent is
    /// [`Error::Validation`](crate::Error::Validation) on `parent`.
    async fn create_category(&self, category: CategoryRecord) -> Result<Category>;

    /// Replaces a category's fields once `check` has accepted every category as committed,
    /// with other category writes held off until this one commits: two moves that each look
    /// fine alone (A under B, B under A) cannot both pass. An error from `check` is returned
    /// and nothing is written; otherwise errors as for create, and `NotFound`.
    async fn update_category(
        &self,
        id: CategoryId,
        category: CategoryRecord,
        check: &CategoryTreeCheck<'_>,
    ) -> Result<Category>;

    /// Deletes a category once `check` has accepted it as committed, with other category
    /// writes held off until the delete commits. `NotFound` if there is none; an error from
    /// `check` is returned next, and nothing is deleted; then
    /// [`Error::InUse`](crate::Error::InUse) naming `products` or `subcategories` while any
    /// are in it.
    async fn delete_category(&self, id: CategoryId, check: &CategoryCheck<'_>) -> Result<()>;

    /// The category with this id.
    async fn find_category(&self, id: CategoryId) -> Result<Option<Category>>;

    /// Every category, by name.
    async fn list_categories(&self) -> Result<Vec<Category>>;

    /// The category with this id as last committed, for a change built on it (a PATCH keeps
    /// the fields it does not name). A store reading shoppers' requests from a replica must
    /// answer this one from the primary; the others need not override it.
    async fn category_to_update(&self, id: CategoryId) -> Result<Option<Category>> {
        self.find_category(id).await
    }

    /// Every category as last committed, for checks a change relies on (no cycles).
    async fn categories_to_update(&self) -> Result<Vec<Category>> {
        self.list_categories().await
    }

    /// Creates a product. `AlreadyExists` names `sku` or `slug` when taken; an unknown
    /// category is `Validation` on `category`.
    async fn create_product(&self, product: ProductRecord) -> Result<Product>;

    /// Creates many products at once, for imports and demo data: all or none. Far faster than
    /// one `create_product` per product; the same rules hold. Returns how many were created.
    async fn import_products(&self, products: &[ProductRecord]) -> Result<u64>;

    /// Replaces a product's fields, its stock only with [`StockWrite::Set`]; errors as for
    /// create, and `NotFound`. With `expected`, only if the product is still in that state,
    /// checked so that nothing changes it between the check and the write (in the same
    /// statement, or under the write's lock):
    /// [`Error::PreconditionFailed`](crate::Error::PreconditionFailed) when it is not.
    async fn update_product(
        &self,
        id: ProductId,
        product: ProductRecord,
        stock: StockWrite,
        expected: Option<ProductState>,
    ) -> Result<Product>;

    /// Deletes a product; `NotFound` if there is none. With `expected`, only if the product is
    /// still in that state, checked as for [`update_product`](Self::update_product):
    /// [`Error::PreconditionFailed`](crate::Error::PreconditionFailed) when it is not.
    async fn delete_product(&self, id: ProductId, expected: Option<ProductState>) -> Result<()>;

    /// The product with this id.
    async fn find_product(&self, id: ProductId) -> Result<Option<Product>>;

    /// The product as last committed, for a change built on it; see
    /// [`category_to_update`](Self::category_to_update).
    async fn product_to_update(&self, id: ProductId) -> Result<Option<Product>> {
        self.find_product(id).await
    }

    /// The products with these ids that exist, in one round trip, in any order.
    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>>;

    /// A page of products and the total matching, in at most two round trips. Every ordering
    /// must be answered correctly; only those the catalogue service sends here need an index
    /// (not the stock orderings: see [`ProductOrdering::is_by_stock`]).
    async fn list_products(&self, query: &ProductListQuery) -> Result<ProductPage>;

    /// Up to `limit` change-log entries after position `after`, in order.
    async fn changes_since(&self, after: u64, limit: u32) -> Result<Vec<CatalogChange>>;

    /// The position of the newest change-log entry (0 when empty).
    async fn latest_change(&self) -> Result<u64>;

    /// Deletes up to `limit` of the oldest change-log entries numbered below `before`; returns
    /// how many it deleted. Positions are never reused: entries written later are numbered
    /// above every entry ever written, pruned or not.
    async fn prune_changes(&self, before: u64, limit: u32) -> Result<u64>;

    /// What a search index needs of these products; deleted ones are simply absent.
    async fn index_documents(&self, ids: &[ProductId]) -> Result<Vec<IndexDocument>>;

    /// Up to `limit` index documents of products with ids above `after`, by id: for
    /// rebuilding an index from scratch.
    async fn index_documents_after(
        &self,
        after: ProductId,
        limit: u32,
    ) -> Result<Vec<IndexDocument>>;
}
