//! Categories, products, list queries and the change log.
//!
//! The change log is written by triggers (see `migrations/sqlite/0003_catalog.sql`), so this
//! module never appends to it itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commerce_core::domain::{
    Category, CategoryId, CategoryRecord, Product, ProductId, ProductRecord,
};
use commerce_core::ports::{
    CatalogChange, CatalogStore, CategoryCheck, CategoryTreeCheck, IndexDocument, ProductFilter,
    ProductListQuery, ProductOrdering, ProductPage, ProductState, StockWrite,
};
use commerce_core::{Error, Result};
use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteDatabase, db_error, is_unique_violation};
use crate::rows::{
    CHANGES_SINCE, CategoryRow, CategoryToDelete, ChangeRow, INDEX_SELECT, IndexRow, PRUNE_CHANGES,
    ProductRow, category_columns, kept_count_column, product_columns,
};

fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

impl SqliteDatabase {
    /// Says which unique value of a category is taken, after a unique violation.
    async fn category_conflict(&self, category: &CategoryRecord, id: Option<CategoryId>) -> Error {
        let name_taken: Result<bool> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM categories WHERE name_key = $1 AND id IS NOT $2)",
        )
        .bind(category.name.to_lowercase())
        .bind(id.map(|id| id.0))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error);
        match name_taken {
            Ok(true) => Error::AlreadyExists {
                field: "name",
                message: "category with this name already exists".into(),
            },
            Ok(false) => Error::AlreadyExists {
                field: "slug",
                message: "category with this slug already exists".into(),
            },
            Err(error) => error,
        }
    }

    /// Says which unique value of a product is taken, after a unique violation.
    async fn product_conflict(&self, product: &ProductRecord, id: Option<ProductId>) -> Error {
        let sku_taken: Result<bool> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1 AND id IS NOT $2)",
        )
        .bind(&product.sku)
        .bind(id.map(|id| id.0))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error);
        match sku_taken {
            Ok(true) => Error::AlreadyExists {
                field: "sku",
                message: "product with this sku already exists".into(),
            },
            Ok(false) => Error::AlreadyExists {
                field: "slug",
                message: "product with this slug already exists".into(),
            },
            Err(error) => error,
        }
    }

    /// A transaction holding the write lock, returned only if the product is in the
    /// `expected` state: nothing changes it before the caller's write commits. Times are
    /// compared as read, not as stored text.
    async fn product_in_state(
        &self,
        id: ProductId,
        expected: ProductState,
    ) -> Result<sqlx::Transaction<'static, Sqlite>> {
        // IMMEDIATE takes the write lock up front.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let state: Option<(DateTime<Utc>, i64)> =
            sqlx::query_as("SELECT updated_at, stock FROM products WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        match state {
            None => Err(Error::NotFound("product")),
            Some((updated_at, stock)) if (ProductState { updated_at, stock }) != expected => {
                Err(Error::PreconditionFailed("product"))
            }
            Some(_) => Ok(tx),
        }
    }
}

fn unknown_parent(parent: Option<CategoryId>) -> Error {
    let id = parent.map_or(0, |id| id.0);
    Error::invalid(
        "parent",
        format!("invalid pk \"{id}\": object does not exist"),
    )
}

fn unknown_category(category: CategoryId) -> Error {
    Error::invalid(
        "category",
        format!("invalid pk \"{category}\": object does not exist"),
    )
}

/// Appends the filter's conditions; every value is bound, never spliced.
fn push_filter(sql: &mut QueryBuilder<Sqlite>, filter: &ProductFilter) {
    sql.push(" WHERE 1 = 1");
    if filter.active_only {
        sql.push(" AND is_active = 1");
    }
    if let Some(categories) = &filter.categories {
        if categories.is_empty() {
            sql.push(" AND 0 = 1");
        } else {
            sql.push(" AND category_id IN (");
            let mut list = sql.separated(", ");
            for category in categories {
                list.push_bind(category.0);
            }
            sql.push(")");
        }
    }
    if let Some(min) = filter.min_price {
        sql.push(" AND price_minor >= ").push_bind(min);
    }
    if let Some(max) = filter.max_price {
        sql.push(" AND price_minor <= ").push_bind(max);
    }
    match filter.in_stock {
        Some(true) => {
            sql.push(" AND stock > 0");
        }
        Some(false) => {
            sql.push(" AND stock = 0");
        }
        None => {}
    }
}

/// The ORDER BY clause; the id breaks ties in the same direction so an index serves both.
fn order_by(ordering: ProductOrdering) -> &'static str {
    match ordering {
        ProductOrdering::PriceAscending => " ORDER BY price_minor ASC, id ASC",
        ProductOrdering::PriceDescending => " ORDER BY price_minor DESC, id DESC",
        ProductOrdering::NameAscending => " ORDER BY name ASC, id ASC",
        ProductOrdering::NameDescending => " ORDER BY name DESC, id DESC",
        ProductOrdering::CreatedAscending => " ORDER BY created_at ASC, id ASC",
        ProductOrdering::CreatedDescending => " ORDER BY created_at DESC, id DESC",
        ProductOrdering::StockAscending => " ORDER BY stock ASC, id ASC",
        ProductOrdering::StockDescending => " ORDER BY stock DESC, id DESC",
    }
}

fn push_ids(sql: &mut QueryBuilder<Sqlite>, ids: &[ProductId]) {
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.0);
    }
    sql.push(")");
}

#[async_trait]
impl CatalogStore for SqliteDatabase {
    async fn create_category(&self, category: CategoryRecord) -> Result<Category> {
        let inserted = sqlx::query_as::<_, CategoryRow>(concat!(
            "INSERT INTO categories (name, name_key, slug, description, parent_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            category_columns!()
        ))
        .bind(&category.name)
        .bind(category.name.to_lowercase())
        .bind(&category.slug)
        .bind(&category.description)
        .bind(category.parent.map(|p| p.0))
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(row.into()),
            Err(error) if is_unique_violation(&error) => {
                Err(self.category_conflict(&category, None).await)
            }
            Err(error) if is_foreign_key_violation(&error) => Err(unknown_parent(category.parent)),
            Err(error) => Err(db_error(error)),
        }
    }

    async fn update_category(
        &self,
        id: CategoryId,
        category: CategoryRecord,
        check: &CategoryTreeCheck<'_>,
    ) -> Result<Category> {
        // IMMEDIATE takes the write lock up front: no other write lands between the check and
        // the update.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        check(&all_categories(&mut *tx).await?)?;
        let updated = sqlx::query_as::<_, CategoryRow>(concat!(
            "UPDATE categories SET name = $2, name_key = $3, slug = $4, description = $5,
                 parent_id = $6, updated_at = $7
             WHERE id = $1 RETURNING ",
            category_columns!()
        ))
        .bind(id.0)
        .bind(&category.name)
        .bind(category.name.to_lowercase())
        .bind(&category.slug)
        .bind(&category.description)
        .bind(category.parent.map(|p| p.0))
        .bind(Utc::now())
        .fetch_optional(&mut *tx)
        .await;
        match updated {
            Ok(Some(row)) => {
                tx.commit().await.map_err(db_error)?;
                Ok(row.into())
            }
            Ok(None) => Err(Error::NotFound("category")),
            Err(error) if is_unique_violation(&error) => {
                // The conflict is named from outside the transaction, which holds the write
                // lock and the only connection allowed to write.
                drop(tx);
                Err(self.category_conflict(&category, Some(id)).await)
            }
            Err(error) if is_foreign_key_violation(&error) => Err(unknown_parent(category.parent)),
            Err(error) => Err(db_error(error)),
        }
    }

    async fn delete_category(&self, id: CategoryId, check: &CategoryCheck<'_>) -> Result<()> {
        // IMMEDIATE takes the write lock up front, so the checks and the delete see one state.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let found = sqlx::query_as::<_, CategoryToDelete>(concat!(
            "SELECT ",
            category_columns!(),
            ", (SELECT COUNT(*) FROM products WHERE category_id = $1) AS products,
               (SELECT COUNT(*) FROM categories WHERE parent_id = $1) AS subcategories
             FROM categories WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        found
            .ok_or(Error::NotFound("category"))?
            .may_be_deleted(check)?;
        sqlx::query("DELETE FROM categories WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn find_category(&self, id: CategoryId) -> Result<Option<Category>> {
        let row = sqlx::query_as::<_, CategoryRow>(concat!(
            "SELECT ",
            category_columns!(),
            " FROM categories WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.map(Category::from))
    }

    async fn list_categories(&self) -> Result<Vec<Category>> {
        all_categories(&self.pool).await
    }

    async fn create_product(&self, product: ProductRecord) -> Result<Product> {
        let now = Utc::now();
        let inserted = sqlx::query_as::<_, ProductRow>(concat!(
            "INSERT INTO products (name, slug, sku, description, price_minor, category_id, stock,
                 is_active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
            product_columns!()
        ))
        .bind(&product.name)
        .bind(&product.slug)
        .bind(&product.sku)
        .bind(&product.description)
        .bind(product.price_minor)
        .bind(product.category.0)
        .bind(product.stock)
        .bind(product.is_active)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(row.into()),
            Err(error) if is_unique_violation(&error) => {
                Err(self.product_conflict(&product, None).await)
            }
            Err(error) if is_foreign_key_violation(&error) => {
                Err(unknown_category(product.category))
            }
            Err(error) => Err(db_error(error)),
        }
    }

    async fn import_products(&self, products: &[ProductRecord]) -> Result<u64> {
        let now = Utc::now();
        let mut connection = self.pool.acquire().await.map_err(db_error)?;
        // Seven B-trees take every row, most keyed at random (slug, SKU, name): with SQLite's
        // default 2 MiB page cache a large import spends its time re-reading index pages. A
        // larger cache for this connection while it imports, then the default again.
        sqlx::query("PRAGMA cache_size = -131072")
            .execute(&mut *connection)
            .await
            .map_err(db_error)?;
        let imported = self.import_on(&mut connection, products, now).await;
        sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *connection)
            .await
            .map_err(db_error)?;
        imported
    }

    async fn update_product(
        &self,
        id: ProductId,
        product: ProductRecord,
        stock: StockWrite,
        expected: Option<ProductState>,
    ) -> Result<Product> {
        let (updated, tx) = match expected {
            None => (write_product(&self.pool, id, &product, stock).await, None),
            Some(expected) => {
                let mut tx = self.product_in_state(id, expected).await?;
                let updated = write_product(&mut *tx, id, &product, stock).await;
                (updated, Some(tx))
            }
        };
        match updated {
            Ok(Some(row)) => {
                if let Some(tx) = tx {
                    tx.commit().await.map_err(db_error)?;
                }
                Ok(row.into())
            }
            Ok(None) => Err(Error::NotFound("product")),
            Err(error) if is_unique_violation(&error) => {
                // Named from outside the transaction, which holds the write lock.
                drop(tx);
                Err(self.product_conflict(&product, Some(id)).await)
            }
            Err(error) if is_foreign_key_violation(&error) => {
                Err(unknown_category(product.category))
            }
            Err(error) => Err(db_error(error)),
        }
    }

    async fn delete_product(&self, id: ProductId, expected: Option<ProductState>) -> Result<()> {
        let delete = sqlx::query("DELETE FROM products WHERE id = $1").bind(id.0);
        let deleted = match expected {
            None => delete.execute(&self.pool).await,
            Some(expected) => {
                let mut tx = self.product_in_state(id, expected).await?;
                let deleted = delete.execute(&mut *tx).await.map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(deleted)
            }
        };
        if deleted.map_err(db_error)?.rows_affected() == 0 {
            return Err(Error::NotFound("product"));
        }
        Ok(())
    }

    async fn find_product(&self, id: ProductId) -> Result<Option<Product>> {
        let row = sqlx::query_as::<_, ProductRow>(concat!(
            "SELECT ",
            product_columns!(),
            " FROM products WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.map(Product::from))
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            product_columns!(),
            " FROM products WHERE id IN ("
        ));
        push_ids(&mut sql, ids);
        let rows = sql
            .build_query_as::<ProductRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(Product::from).collect())
    }

    async fn list_products(&self, query: &ProductListQuery) -> Result<ProductPage> {
        let mut count = match kept_count_column(&query.filter) {
            Some(column) => {
                QueryBuilder::<Sqlite>::new(format!("SELECT {column} FROM product_counts"))
            }
            None => {
                let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM products");
                push_filter(&mut count, &query.filter);
                count
            }
        };
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let total = u64::try_from(total).unwrap_or(0);
        if query.offset >= total || query.limit == 0 {
            return Ok(ProductPage {
                items: Vec::new(),
                total,
            });
        }
        let mut page =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", product_columns!(), " FROM products"));
        push_filter(&mut page, &query.filter);
        page.push(order_by(query.ordering));
        page.push(" LIMIT ")
            .push_bind(i64::from(query.limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let rows = page
            .build_query_as::<ProductRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(ProductPage {
            items: rows.into_iter().map(Product::from).collect(),
            total,
        })
    }

    async fn changes_since(&self, after: u64, limit: u32) -> Result<Vec<CatalogChange>> {
        let rows: Vec<ChangeRow> = sqlx::query_as(CHANGES_SINCE)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(CatalogChange::from).collect())
    }

    async fn latest_change(&self) -> Result<u64> {
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM catalog_changes")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    async fn prune_changes(&self, before: u64, limit: u32) -> Result<u64> {
        let deleted = sqlx::query(PRUNE_CHANGES)
            .bind(i64::try_from(before).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected())
    }

    async fn index_documents(&self, ids: &[ProductId]) -> Result<Vec<IndexDocument>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(INDEX_SELECT);
        sql.push(" WHERE p.id IN (");
        push_ids(&mut sql, ids);
        let rows = sql
            .build_query_as::<IndexRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(IndexDocument::from).collect())
    }

    async fn index_documents_after(
        &self,
        after: ProductId,
        limit: u32,
    ) -> Result<Vec<IndexDocument>> {
        let mut sql = QueryBuilder::<Sqlite>::new(INDEX_SELECT);
        sql.push(" WHERE p.id > ")
            .push_bind(after.0)
            .push(" ORDER BY p.id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = sql
            .build_query_as::<IndexRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(IndexDocument::from).collect())
    }
}

impl SqliteDatabase {
    /// The import itself, in one transaction on `connection`.
    async fn import_on(
        &self,
        connection: &mut sqlx::SqliteConnection,
        products: &[ProductRecord],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        // SQLite binds at most 32766 values per statement; ten columns a row.
        const ROWS_PER_STATEMENT: usize = 3_000;
        let mut tx = sqlx::Connection::begin_with(&mut *connection, "BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        for chunk in products.chunks(ROWS_PER_STATEMENT) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "INSERT INTO products (name, slug, sku, description, price_minor, category_id,
                     stock, is_active, created_at, updated_at) ",
            );
            sql.push_values(chunk, |mut row, product| {
                row.push_bind(&product.name)
                    .push_bind(&product.slug)
                    .push_bind(&product.sku)
                    .push_bind(&product.description)
                    .push_bind(product.price_minor)
                    .push_bind(product.category.0)
                    .push_bind(product.stock)
                    .push_bind(product.is_active)
                    .push_bind(now)
                    .push_bind(now);
            });
            if let Err(error) = sql.build().execute(&mut *tx).await {
                return Err(if is_unique_violation(&error) {
                    Error::Conflict("an imported product's sku or slug is already taken".into())
                } else if is_foreign_key_violation(&error) {
                    Error::invalid("category", "an imported product's category does not exist")
                } else {
                    db_error(error)
                });
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(products.len() as u64)
    }
}

async fn all_categories(db: impl sqlx::SqliteExecutor<'_>) -> Result<Vec<Category>> {
    let rows = sqlx::query_as::<_, CategoryRow>(concat!(
        "SELECT ",
        category_columns!(),
        " FROM categories ORDER BY name_key, id"
    ))
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(Category::from).collect())
}

/// Writes a product's fields, and its stock with [`StockWrite::Set`]; the row as written, or
/// `None` when there is no such product.
async fn write_product(
    db: impl sqlx::SqliteExecutor<'_>,
    id: ProductId,
    product: &ProductRecord,
    stock: StockWrite,
) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as::<_, ProductRow>(concat!(
        "UPDATE products SET name = $2, slug = $3, sku = $4, description = $5,
             price_minor = $6, category_id = $7, stock = COALESCE($8, stock),
             is_active = $9, updated_at = $10
         WHERE id = $1 RETURNING ",
        product_columns!()
    ))
    .bind(id.0)
    .bind(&product.name)
    .bind(&product.slug)
    .bind(&product.sku)
    .bind(&product.description)
    .bind(product.price_minor)
    .bind(product.category.0)
    .bind((stock == StockWrite::Set).then_some(product.stock))
    .bind(product.is_active)
    .bind(Utc::now())
    .fetch_optional(db)
    .await
}
