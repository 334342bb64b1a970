//! Catalogue, order and task rows as both SQL backends read them, and the domain values they
//! become.
//!
//! The SQLite and PostgreSQL schemas give these columns the same names and compatible types,
//! and sqlx's `FromRow` is generic over the database, so one definition serves both.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use commerce_core::domain::TaskId;
use commerce_core::domain::{Category, CategoryId, OrderItem, Product, ProductId};
use commerce_core::ports::{
    BuriedTask, CatalogChange, CategoryCheck, IndexDocument, ProductFilter, StrandedJob,
};
use commerce_core::{Error, Result};

#[derive(sqlx::FromRow)]
pub(crate) struct CategoryRow {
    id: i64,
    name: String,
    slug: String,
    description: String,
    parent_id: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CategoryRow> for Category {
    fn from(row: CategoryRow) -> Self {
        Category {
            id: CategoryId(row.id),
            name: row.name,
            slug: row.slug,
            description: row.description,
            parent: row.parent_id.map(CategoryId),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A category read for its deletion, with what it still holds.
#[derive(sqlx::FromRow)]
pub(crate) struct CategoryToDelete {
    #[sqlx(flatten)]
    category: CategoryRow,
    products: i64,
    subcategories: i64,
}

impl CategoryToDelete {
    /// Whether the category may go: `check` first, then nothing may be left in it.
    pub(crate) fn may_be_deleted(self, check: &CategoryCheck<'_>) -> Result<()> {
        check(&self.category.into())?;
        let (products, subcategories) = (self.products, self.subcategories);
        if products > 0 {
            return Err(Error::InUse {
                field: "products",
                message: format!(
                    "the category still has {products} products; move or delete them first"
                ),
            });
        }
        if subcategories > 0 {
            return Err(Error::InUse {
                field: "subcategories",
                message: format!(
                    "the category still has {subcategories} subcategories; move or delete them \
                     first"
                ),
            });
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProductRow {
    id: i64,
    name: String,
    slug: String,
    sku: String,
    description: String,
    price_minor: i64,
    category_id: i64,
    stock: i64,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Product {
            id: ProductId(row.id),
            name: row.name,
            slug: row.slug,
            sku: row.sku,
            description: row.description,
            price_minor: row.price_minor,
            category: CategoryId(row.category_id),
            stock: row.stock,
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IndexRow {
    id: i64,
    name: String,
    description: String,
    category_id: i64,
    category_name: String,
    price_minor: i64,
    stock: i64,
    is_active: bool,
    created_at: DateTime<Utc>,
}

impl From<IndexRow> for IndexDocument {
    fn from(row: IndexRow) -> Self {
        IndexDocument {
            id: ProductId(row.id),
            name: row.name,
            description: row.description,
            category: CategoryId(row.category_id),
            category_name: row.category_name,
            price_minor: row.price_minor,
            stock: row.stock,
            is_active: row.is_active,
            created_at: row.created_at,
        }
    }
}

/// The columns of a [`CategoryRow`], as a literal so that queries stay static strings.
macro_rules! category_columns {
    () => {
        "id, name, slug, description, parent_id, created_at, updated_at"
    };
}

/// The columns of a [`ProductRow`], as a literal so that queries stay static strings.
macro_rules! product_columns {
    () => {
        "id, name, slug, sku, description, price_minor, category_id, stock, is_active, created_at, updated_at"
    };
}

/// The query of index documents, joined with their category's name.
pub(crate) const INDEX_SELECT: &str = "SELECT p.id, p.name, p.description, p.category_id, \
     c.name AS category_name, p.price_minor, p.stock, p.is_active, p.created_at \
     FROM products p JOIN categories c ON c.id = p.category_id";

/// The change log after `$1`, oldest first, at most `$2` entries: `(seq, product_id)`.
pub(crate) const CHANGES_SINCE: &str =
    "SELECT seq, product_id FROM catalog_changes WHERE seq > $1 ORDER BY seq LIMIT $2";

/// One change-log entry, as [`CHANGES_SINCE`] reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct ChangeRow {
    seq: i64,
    product_id: i64,
}

impl From<ChangeRow> for CatalogChange {
    fn from(row: ChangeRow) -> Self {
        Self {
            // Sequence numbers start at 1; the column is signed only because SQL's are.
            seq: u64::try_from(row.seq).unwrap_or(0),
            product: ProductId(row.product_id),
        }
    }
}

/// Deletes the oldest change-log entries before `$1`, at most `$2` of them, so that pruning a
/// long log holds its locks for one batch at a time.
pub(crate) const PRUNE_CHANGES: &str = "DELETE FROM catalog_changes WHERE seq IN \
     (SELECT seq FROM catalog_changes WHERE seq < $1 ORDER BY seq LIMIT $2)";

/// A line of an order, with the order it belongs to.
#[derive(sqlx::FromRow)]
pub(crate) struct ItemRow {
    order_id: i64,
    product_id: i64,
    product_name: String,
    unit_price_minor: i64,
    quantity: i64,
}

/// The columns of an order row, as a literal so that queries stay static strings.
macro_rules! order_columns {
    () => {
        "id, user_id, status, subtotal_minor, total_minor, currency, shipping_address, note, created_at, updated_at"
    };
}

/// The lines of several orders, by order id, in the order they were read.
pub(crate) fn items_by_order(items: Vec<ItemRow>) -> HashMap<i64, Vec<OrderItem>> {
    let mut by_order: HashMap<i64, Vec<OrderItem>> = HashMap::new();
    for item in items {
        by_order.entry(item.order_id).or_default().push(OrderItem {
            product_id: ProductId(item.product_id),
            product_name: item.product_name,
            unit_price_minor: item.unit_price_minor,
            quantity: item.quantity,
        });
    }
    by_order
}

pub(crate) use {category_columns, order_columns, product_columns};

/// The column of `product_counts` (kept by the migrations' triggers) that holds the number of
/// products `filter` keeps, when one does: lists filtered only by activity. Other filters are
/// counted over the products.
pub(crate) fn kept_count_column(filter: &ProductFilter) -> Option<&'static str> {
    let ProductFilter {
        categories,
        min_price,
        max_price,
        in_stock,
        active_only,
    } = filter;
    let only_activity =
        categories.is_none() && min_price.is_none() && max_price.is_none() && in_stock.is_none();
    only_activity.then_some(if *active_only { "active" } else { "total" })
}

/// One job's tasks as `TaskQueue::stranded`'s statement counts them (`job`, `tasks`,
/// `oldest_due`).
#[derive(sqlx::FromRow)]
pub(crate) struct StrandedRow {
    job: String,
    tasks: i64,
    oldest_due: DateTime<Utc>,
}

impl From<StrandedRow> for StrandedJob {
    fn from(row: StrandedRow) -> Self {
        StrandedJob {
            job: row.job,
            tasks: u64::try_from(row.tasks).unwrap_or(0),
            oldest_due: row.oldest_due,
        }
    }
}

/// A buried task as `TaskQueue::buried`'s statement reads it, the payload as JSON text on both
/// backends.
#[derive(sqlx::FromRow)]
pub(crate) struct BuriedRow {
    id: i64,
    job: String,
    payload: String,
    attempts: i64,
    last_error: Option<String>,
    buried_at: DateTime<Utc>,
}

impl BuriedRow {
    pub(crate) fn into_task(self) -> Result<BuriedTask, serde_json::Error> {
        Ok(BuriedTask {
            id: TaskId(self.id),
            job: self.job,
            payload: serde_json::from_str(&self.payload)?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            last_error: self.last_error,
            buried_at: self.buried_at,
        })
    }
}

/// The most attempts a task may be given: the `INTEGER` column PostgreSQL keeps them in holds
/// no more, and SQLite keeps to the same.
pub(crate) const MOST_ATTEMPTS: i64 = i32::MAX as i64;

/// The moment a task must have fallen due by to have been due for `due_for` at `now`; `None`
/// when that is before any time the clock can tell, so no task can be that old.
pub(crate) fn due_before(
    now: DateTime<Utc>,
    due_for: std::time::Duration,
) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(due_for)
        .ok()
        .and_then(|due_for| now.checked_sub_signed(due_for))
}
