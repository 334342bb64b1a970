//! Carts and orders. Checkout is one call of the `place_order` function
//! (`migrations/postgres/0006_place_order.sql`) in autocommit; status changes are one READ
//! COMMITTED transaction.
//!
//! Checkout never needs a retry. Under READ COMMITTED (which `open_pool` makes every session's
//! default) `place_order` first locks the order's products, and a lock that another checkout
//! holds is waited for and then read as that checkout committed it, so concurrent buyers of
//! the last units queue on the product row and each either gets its units or is told the
//! shortage. Locks are taken in one order everywhere (products by ascending id, then the new
//! order and its idempotency key, then cart lines; a status change locks its order and then
//! its products by ascending id, and no checkout waits for an existing order), so no two
//! checkouts, and no checkout and cancellation, can wait on each other in a cycle.
//! Serialisation failures and deadlocks (which `db_error` reports as unavailable) are thus
//! never part of the normal path.
//!
//! This module holds no business rules: prices, totals and which transitions are allowed
//! come from the order service.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use commerce_core::domain::{
    CartId, CartItemId, CartLine, CategoryId, Order, OrderId, OrderItem, OrderStatus, Product,
    ProductId, Timestamp, UserId,
};
use commerce_core::ports::{
    CartAddition, CartStore, CheckoutProblem, NewOrder, OrderListQuery, OrderStore,
    PlaceOrderOutcome, ProductNow,
};
use commerce_core::{Error, Result};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::queue::CHANNEL;
use super::{BACKEND, PostgresDatabase, db_error, is_unique_violation};
use crate::rows::{ItemRow, items_by_order, order_columns};

/// The primary key of `idempotency_keys`, named in the migration: violating it means another
/// placement under the same key committed first.
const IDEMPOTENCY_KEY_CONSTRAINT: &str = "idempotency_keys_pkey";

/// How often a cart lookup is tried when a concurrent first use of the same cart makes the
/// statement see neither the old row nor its own insert. The second try always sees the row
/// (the conflicting insert had committed when ours gave way); the third is for good measure.
const CART_ATTEMPTS: usize = 3;

/// The isolation level is explicit because the design relies on it: a server whose
/// `default_transaction_isolation` is `serializable` would turn every contended status change
/// into a serialisation failure.
const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

/// The user's cart (`$1`), created at `$2` if missing, as a CTE named `cart`.
///
/// Reading an existing cart writes nothing (an upsert would lock and rewrite the row on every
/// read, making concurrent reads of one cart queue). When two first uses race, the loser's
/// insert gives way and the statement returns no row; the caller asks again.
macro_rules! cart_cte {
    () => {
        "WITH existing AS (SELECT id FROM carts WHERE user_id = $1),
         created AS (
             INSERT INTO carts (user_id, created_at) SELECT $1, $2
             WHERE NOT EXISTS (SELECT FROM existing)
             ON CONFLICT (user_id) DO NOTHING
             RETURNING id),
         cart AS (SELECT id FROM existing UNION ALL SELECT id FROM created) "
    };
}

#[derive(sqlx::FromRow)]
struct CartRow {
    cart_id: i64,
    // The line, absent for an empty cart.
    item_id: Option<i64>,
    product_id: Option<i64>,
    quantity: Option<i64>,
    // The product, absent when it was deleted.
    name: Option<String>,
    slug: Option<String>,
    sku: Option<String>,
    description: Option<String>,
    price_minor: Option<i64>,
    category_id: Option<i64>,
    stock: Option<i64>,
    is_active: Option<bool>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    // `add_to_cart`'s last row: the product to add, and the line it was added to if it was.
    #[sqlx(default)]
    addition: bool,
}

impl CartRow {
    /// The product this row holds, if the join found one.
    fn into_product(self) -> Option<Product> {
        // Every product column is NOT NULL: all present when the join found the product.
        Some(Product {
            id: ProductId(self.product_id?),
            name: self.name?,
            slug: self.slug?,
            sku: self.sku?,
            description: self.description?,
            price_minor: self.price_minor?,
            category: CategoryId(self.category_id?),
            stock: self.stock?,
            is_active: self.is_active?,
            created_at: self.created_at?,
            updated_at: self.updated_at?,
        })
    }

    /// The line this row holds, if any.
    fn into_line(self) -> Option<CartLine> {
        let (id, product_id, quantity) = (self.item_id?, self.product_id?, self.quantity?);
        Some(CartLine {
            id: CartItemId(id),
            product_id: ProductId(product_id),
            quantity,
            product: self.into_product(),
        })
    }
}

/// A cart lookup that lost a race with a concurrent first use more often than possible.
fn cart_not_found() -> Error {
    Error::backend(BACKEND, "the cart was neither found nor created")
}

#[async_trait]
impl CartStore for PostgresDatabase {
    async fn cart(&self, user: UserId) -> Result<(CartId, Vec<CartLine>)> {
        for _ in 0..CART_ATTEMPTS {
            // One round trip: the cart (made if missing) left-joined to its lines and products.
            let rows = sqlx::query_as::<_, CartRow>(concat!(
                cart_cte!(),
                "SELECT cart.id AS cart_id, i.id AS item_id, i.product_id, i.quantity, p.name,
                        p.slug, p.sku, p.description, p.price_minor, p.category_id, p.stock,
                        p.is_active, p.created_at, p.updated_at
                 FROM cart
                 LEFT JOIN cart_items i ON i.cart_id = cart.id
                 LEFT JOIN products p ON p.id = i.product_id
                 ORDER BY i.id"
            ))
            .bind(user.0)
            .bind(Utc::now())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            let Some(cart) = rows.first().map(|row| CartId(row.cart_id)) else {
                continue;
            };
            return Ok((
                cart,
                rows.into_iter().filter_map(CartRow::into_line).collect(),
            ));
        }
        Err(cart_not_found())
    }

    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: i64,
        max_line: i64,
    ) -> Result<CartAddition> {
        for _ in 0..CART_ATTEMPTS {
            // One round trip: the cart, its lines and their products as they were, and the
            // product with the line it was added to (a last row, `addition`). The insert
            // checks the line as the statement found it; when it meets a line added
            // concurrently, the update re-checks against that line's committed quantity, so
            // concurrent adds of one product to one cart queue on the row and cannot together
            // pass the stock.
            let rows = sqlx::query_as::<_, CartRow>(concat!(
                cart_cte!(),
                ",
                 -- Named columns: the row's search vector is large and read by nothing here.
                 product AS (
                     SELECT id, name, slug, sku, description, price_minor, category_id, stock,
                            is_active, created_at, updated_at
                     FROM products WHERE id = $3),
                 lines AS (
                     SELECT id, product_id, quantity FROM cart_items
                     WHERE cart_id = (SELECT id FROM cart)),
                 added AS (
                     INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
                     SELECT cart.id, product.id, $4, $2 FROM cart, product
                     WHERE product.is_active
                       AND COALESCE((SELECT quantity FROM lines WHERE product_id = $3), 0) + $4
                           <= LEAST(product.stock, $5)
                     ON CONFLICT (cart_id, product_id) DO UPDATE
                         SET quantity = cart_items.quantity + excluded.quantity
                         WHERE cart_items.quantity + excluded.quantity
                             <= LEAST((SELECT stock FROM product), $5)
                     RETURNING id, quantity)
                 SELECT cart.id AS cart_id, l.id AS item_id, l.product_id, l.quantity, p.name,
                        p.slug, p.sku, p.description, p.price_minor, p.category_id, p.stock,
                        p.is_active, p.created_at, p.updated_at, FALSE AS addition
                 FROM cart
                 LEFT JOIN lines l ON TRUE
                 LEFT JOIN products p ON p.id = l.product_id
                 UNION ALL
                 SELECT cart.id, added.id, product.id, added.quantity, product.name,
                        product.slug, product.sku, product.description, product.price_minor,
                        product.category_id, product.stock, product.is_active,
                        product.created_at, product.updated_at, TRUE
                 FROM cart CROSS JOIN product LEFT JOIN added ON TRUE
                 ORDER BY addition, item_id"
            ))
            .bind(user.0)
            .bind(Utc::now())
            .bind(product.0)
            .bind(quantity)
            .bind(max_line)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            let Some(cart) = rows.first().map(|row| CartId(row.cart_id)) else {
                continue;
            };
            let mut addition = CartAddition {
                cart,
                lines: Vec::with_capacity(rows.len()),
                product: None,
                added: None,
            };
            for row in rows {
                if row.addition {
                    addition.added = row
                        .item_id
                        .zip(row.quantity)
                        .map(|(id, n)| (CartItemId(id), n));
                    addition.product = row.into_product();
                } else if let Some(line) = row.into_line() {
                    addition.lines.push(line);
                }
            }
            return Ok(addition);
        }
        Err(cart_not_found())
    }

    async fn set_cart_quantity(&self, user: UserId, item: CartItemId, quantity: i64) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE cart_items SET quantity = $3
             WHERE id = $2 AND cart_id = (SELECT id FROM carts WHERE user_id = $1)",
        )
        .bind(user.0)
        .bind(item.0)
        .bind(quantity)
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
        if updated == 0 {
            return Err(Error::NotFound("cart item"));
        }
        Ok(())
    }

    async fn remove_cart_item(&self, user: UserId, item: CartItemId) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM cart_items
             WHERE id = $2 AND cart_id = (SELECT id FROM carts WHERE user_id = $1)",
        )
        .bind(user.0)
        .bind(item.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
        if deleted == 0 {
            return Err(Error::NotFound("cart item"));
        }
        Ok(())
    }

    async fn clear_cart(&self, user: UserId) -> Result<()> {
        sqlx::query(
            "DELETE FROM cart_items WHERE cart_id = (SELECT id FROM carts WHERE user_id = $1)",
        )
        .bind(user.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: i64,
    status: String,
    subtotal_minor: i64,
    total_minor: i64,
    currency: String,
    shipping_address: Option<serde_json::Value>,
    note: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Loads the items of `rows` in one query and assembles the orders, in the rows' order.
async fn assemble(connection: &mut PgConnection, rows: Vec<OrderRow>) -> Result<Vec<Order>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let items = sqlx::query_as::<_, ItemRow>(
        "SELECT order_id, product_id, product_name, unit_price_minor, quantity
         FROM order_items WHERE order_id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    let mut by_order = items_by_order(items);
    rows.into_iter()
        .map(|row| {
            Ok(Order {
                id: OrderId(row.id),
                user_id: UserId(row.user_id),
                status: row
                    .status
                    .parse()
                    .map_err(|e: String| Error::backend(BACKEND, e))?,
                items: by_order.remove(&row.id).unwrap_or_default(),
                subtotal_minor: row.subtotal_minor,
                total_minor: row.total_minor,
                currency: row.currency,
                shipping_address: row.shipping_address,
                note: row.note,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

async fn order_by_id(connection: &mut PgConnection, id: OrderId) -> Result<Option<Order>> {
    let row = sqlx::query_as::<_, OrderRow>(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *connection)
    .await
    .map_err(db_error)?;
    let orders = assemble(connection, row.into_iter().collect()).await?;
    Ok(orders.into_iter().next())
}

/// Whether `error` is a violation of the unique constraint named `constraint`; the name is
/// read from the error's fields, never from its message.
fn violated_unique(error: &sqlx::Error, constraint: &str) -> bool {
    is_unique_violation(error)
        && matches!(error, sqlx::Error::Database(db) if db.constraint() == Some(constraint))
}

/// A row of `place_order`'s answer: the order placed, or one product that stopped it, as it
/// is now (absent when it no longer exists).
#[derive(sqlx::FromRow)]
struct PlacementRow {
    order_id: Option<i64>,
    shipping_address: Option<serde_json::Value>,
    refused_product: Option<i64>,
    refused_stock: Option<i64>,
    refused_active: Option<bool>,
    refused_price: Option<i64>,
}

impl PlacementRow {
    /// Why the refused product's lines could not be taken.
    fn problem(&self, lines: &[OrderItem]) -> CheckoutProblem {
        let product = ProductId(self.refused_product.unwrap_or_default());
        let wanted: Vec<&OrderItem> = lines.iter().filter(|l| l.product_id == product).collect();
        // Should the product stand on several lines, one at another price is the problem;
        // when none is, every line was at the product's price.
        let shown_price = wanted
            .iter()
            .map(|line| line.unit_price_minor)
            .find(|price| Some(*price) != self.refused_price)
            .or(self.refused_price)
            .unwrap_or_default();
        let now = match (self.refused_stock, self.refused_active, self.refused_price) {
            (Some(stock), Some(is_active), Some(price_minor)) => Some(ProductNow {
                stock,
                is_active,
                price_minor,
            }),
            _ => None,
        };
        CheckoutProblem::judge(
            product,
            wanted.iter().map(|line| line.quantity).sum(),
            shown_price,
            now,
        )
    }
}

#[async_trait]
impl OrderStore for PostgresDatabase {
    async fn place_order(&self, order: NewOrder) -> Result<PlaceOrderOutcome> {
        // One statement in autocommit, whatever the number of lines: the function
        // (migrations/postgres/0006_place_order.sql, its arguments as of 0008) writes the
        // order, its key, the stock, the lines, the cart and the outbox task, or answers the
        // products that stopped it, having written nothing.
        // What the order reads back as: timestamps at the column's microsecond precision, so a
        // replay under the same idempotency key answers the very same body.
        let now = Utc::now().trunc_subsecs(6);
        let lines = &order.items;
        let task = &order.notification;
        let placed = sqlx::query_as::<_, PlacementRow>(
            "SELECT * FROM place_order(
                 $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20)",
        )
        .bind(order.user_id.0)
        .bind(order.subtotal_minor)
        .bind(order.total_minor)
        .bind(&order.currency)
        .bind(&order.shipping_address)
        .bind(&order.note)
        .bind(now)
        .bind(order.idempotency.as_ref().map(|i| &i.key))
        .bind(order.idempotency.as_ref().map(|i| &i.fingerprint))
        .bind(lines.iter().map(|i| i.product_id.0).collect::<Vec<_>>())
        .bind(
            lines
                .iter()
                .map(|i| i.product_name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(lines.iter().map(|i| i.unit_price_minor).collect::<Vec<_>>())
        .bind(lines.iter().map(|i| i.quantity).collect::<Vec<_>>())
        .bind(
            order
                .cart_items
                .iter()
                .map(|t| t.item.0)
                .collect::<Vec<_>>(),
        )
        .bind(
            order
                .cart_items
                .iter()
                .map(|t| t.quantity)
                .collect::<Vec<_>>(),
        )
        .bind(&task.job)
        .bind(&task.payload)
        .bind(task.run_at)
        .bind(i32::try_from(task.max_attempts).unwrap_or(i32::MAX))
        .bind(CHANNEL)
        .fetch_all(&self.pool)
        .await;
        let rows = match placed {
            Ok(rows) => rows,
            // Waited while another placement held the same key uncommitted, then found it
            // committed.
            Err(error) if violated_unique(&error, IDEMPOTENCY_KEY_CONSTRAINT) => {
                let key = order.idempotency.as_ref().map_or("", |i| i.key.as_str());
                return match self.find_order_by_key(order.user_id, key).await? {
                    Some((existing, fingerprint)) => Ok(PlaceOrderOutcome::Duplicate {
                        order: existing,
                        fingerprint,
                    }),
                    // Committed a moment ago and purged already: only a purge with a cut-off
                    // in the future does that. The client may simply retry.
                    None => Err(Error::Conflict(
                        "a concurrent request under this Idempotency-Key was just forgotten; \
                         retry"
                            .into(),
                    )),
                };
            }
            Err(error) => return Err(db_error(error)),
        };
        let placed = rows
            .iter()
            .find_map(|row| row.order_id.map(|id| (id, row.shipping_address.clone())));
        let Some((id, shipping_address)) = placed else {
            if rows.is_empty() {
                return Err(Error::backend(BACKEND, "place_order answered no row"));
            }
            return Ok(PlaceOrderOutcome::Rejected(
                rows.iter().map(|row| row.problem(lines)).collect(),
            ));
        };

        // Everything the order reads back as is known here; no need to read it.
        Ok(PlaceOrderOutcome::Placed(Order {
            id: OrderId(id),
            user_id: order.user_id,
            status: OrderStatus::Pending,
            items: order.items,
            subtotal_minor: order.subtotal_minor,
            total_minor: order.total_minor,
            currency: order.currency,
            // As stored: JSONB's own key order, as every later read answers.
            shipping_address,
            note: order.note,
            created_at: now,
            updated_at: now,
        }))
    }

    async fn find_order(&self, id: OrderId) -> Result<Option<Order>> {
        let mut connection = self.pool.acquire().await.map_err(db_error)?;
        order_by_id(&mut connection, id).await
    }

    async fn find_order_by_key(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<(OrderId, String)>> {
        let found: Option<(i64, String)> = sqlx::query_as(
            "SELECT order_id, fingerprint FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(user.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(found.map(|(id, fingerprint)| (OrderId(id), fingerprint)))
    }

    async fn list_orders(&self, query: &OrderListQuery) -> Result<(Vec<Order>, u64)> {
        let filter = |sql: &mut QueryBuilder<Postgres>| {
            sql.push(" WHERE TRUE");
            if let Some(user) = query.user {
                sql.push(" AND user_id = ").push_bind(user.0);
            }
            if let Some(status) = query.status {
                sql.push(" AND status = ").push_bind(status.as_str());
            }
        };
        let mut connection = self.pool.acquire().await.map_err(db_error)?;
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM orders");
        filter(&mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await
            .map_err(db_error)?;
        let mut page =
            QueryBuilder::<Postgres>::new(concat!("SELECT ", order_columns!(), " FROM orders"));
        filter(&mut page);
        page.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let rows = page
            .build_query_as::<OrderRow>()
            .fetch_all(&mut *connection)
            .await
            .map_err(db_error)?;
        let orders = assemble(&mut connection, rows).await?;
        Ok((orders, u64::try_from(total).unwrap_or(0)))
    }

    async fn change_status(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        restock: bool,
    ) -> Result<Option<Order>> {
        let mut tx = self.pool.begin_with(BEGIN).await.map_err(db_error)?;
        // A concurrent change of the same order waits for this row, then finds the status
        // changed and updates nothing: exactly one of them happens.
        let changed = sqlx::query(
            "UPDATE orders SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
        )
        .bind(id.0)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if changed == 0 {
            tx.rollback().await.map_err(db_error)?;
            return Ok(None);
        }
        if restock {
            // Locks the products in ascending id order first, as checkout does: an UPDATE
            // alone would lock them in whatever order its plan visits them, and could then
            // wait in a cycle with a checkout. Deleted products are skipped.
            sqlx::query(
                "SELECT id FROM products
                 WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)
                 ORDER BY id FOR NO KEY UPDATE",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            sqlx::query(
                "UPDATE products p SET stock = p.stock + returned.quantity
                 FROM (SELECT product_id, sum(quantity)::int8 AS quantity
                       FROM order_items WHERE order_id = $1 GROUP BY product_id) AS returned
                 WHERE p.id = returned.product_id",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        let order = order_by_id(&mut tx, id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(order)
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected(),
        )
    }
}
