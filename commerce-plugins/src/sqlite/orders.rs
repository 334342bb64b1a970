//! Carts and orders. Checkout is one `BEGIN IMMEDIATE` transaction: SQLite then runs one
//! writer at a time, so the conditional stock decrements, the order, the idempotency key and
//! the outbox task commit together or not at all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commerce_core::domain::{
    CartId, CartItemId, CartLine, CategoryId, Order, OrderId, OrderItem, OrderStatus, Product,
    ProductId, Timestamp, UserId,
};
use commerce_core::ports::{
    CartAddition, CartStore, CatalogStore, CheckoutProblem, NewOrder, OrderListQuery, OrderStore,
    PlaceOrderOutcome, ProductNow, notification_for,
};
use commerce_core::{Error, Result};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{BACKEND, SqliteDatabase, db_error};
use crate::rows::{ItemRow, items_by_order, order_columns};

#[derive(sqlx::FromRow)]
struct CartRow {
    item_id: i64,
    product_id: i64,
    quantity: i64,
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
}

impl From<CartRow> for CartLine {
    fn from(row: CartRow) -> Self {
        let product = match (
            row.name,
            row.slug,
            row.sku,
            row.description,
            row.price_minor,
            row.category_id,
            row.stock,
            row.is_active,
            row.created_at,
            row.updated_at,
        ) {
            (
                Some(name),
                Some(slug),
                Some(sku),
                Some(description),
                Some(price_minor),
                Some(category),
                Some(stock),
                Some(is_active),
                Some(created_at),
                Some(updated_at),
            ) => Some(Product {
                id: ProductId(row.product_id),
                name,
                slug,
                sku,
                description,
                price_minor,
                category: CategoryId(category),
                stock,
                is_active,
                created_at,
                updated_at,
            }),
            _ => None,
        };
        CartLine {
            id: CartItemId(row.item_id),
            product_id: ProductId(row.product_id),
            quantity: row.quantity,
            product,
        }
    }
}

impl SqliteDatabase {
    async fn cart_id(&self, user: UserId) -> Result<CartId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO carts (user_id, created_at) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id
             RETURNING id",
        )
        .bind(user.0)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(CartId(id))
    }
}

#[async_trait]
impl CartStore for SqliteDatabase {
    async fn cart(&self, user: UserId) -> Result<(CartId, Vec<CartLine>)> {
        let cart = self.cart_id(user).await?;
        let rows = sqlx::query_as::<_, CartRow>(
            "SELECT i.id AS item_id, i.product_id, i.quantity, p.name, p.slug, p.sku,
                    p.description, p.price_minor, p.category_id, p.stock, p.is_active,
                    p.created_at, p.updated_at
             FROM cart_items i LEFT JOIN products p ON p.id = i.product_id
             WHERE i.cart_id = $1 ORDER BY i.id",
        )
        .bind(cart.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok((cart, rows.into_iter().map(CartLine::from).collect()))
    }

    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: i64,
        max_line: i64,
    ) -> Result<CartAddition> {
        // Reads are in-process here, so the answer's cart and product are read on their own;
        // the limits are checked by the write itself, which SQLite runs alone.
        let (cart, lines) = self.cart(user).await?;
        let item = self.product_to_update(product).await?;
        let added: Option<(i64, i64)> = sqlx::query_as(
            "INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
             SELECT $1, id, $3, $4 FROM products
             WHERE id = $2 AND is_active AND $3 <= MIN(stock, $5)
             ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = quantity + excluded.quantity
                 WHERE quantity + excluded.quantity
                     <= MIN((SELECT stock FROM products WHERE id = excluded.product_id), $5)
             RETURNING id, quantity",
        )
        .bind(cart.0)
        .bind(product.0)
        .bind(quantity)
        .bind(Utc::now())
        .bind(max_line)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(CartAddition {
            cart,
            lines,
            product: item,
            added: added.map(|(id, quantity)| (CartItemId(id), quantity)),
        })
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
    shipping_address: Option<String>,
    note: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Loads the items of `rows` in one query and assembles the orders, in the rows' order.
async fn assemble(connection: &mut SqliteConnection, rows: Vec<OrderRow>) -> Result<Vec<Order>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = QueryBuilder::<Sqlite>::new(
        "SELECT order_id, product_id, product_name, unit_price_minor, quantity
         FROM order_items WHERE order_id IN (",
    );
    let mut list = sql.separated(", ");
    for row in &rows {
        list.push_bind(row.id);
    }
    sql.push(") ORDER BY id");
    let items = sql
        .build_query_as::<ItemRow>()
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
                shipping_address: row
                    .shipping_address
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|e| Error::backend(BACKEND, e))?,
                note: row.note,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

async fn order_by_id(connection: &mut SqliteConnection, id: OrderId) -> Result<Option<Order>> {
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

#[async_trait]
impl OrderStore for SqliteDatabase {
    async fn place_order(&self, order: NewOrder) -> Result<PlaceOrderOutcome> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        if let Some(idempotency) = &order.idempotency {
            let existing: Option<(i64, String)> = sqlx::query_as(
                "SELECT order_id, fingerprint FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            )
            .bind(order.user_id.0)
            .bind(&idempotency.key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
            if let Some((id, fingerprint)) = existing {
                return Ok(PlaceOrderOutcome::Duplicate {
                    order: OrderId(id),
                    fingerprint,
                });
            }
        }

        // Fixed order (by product id) so that concurrent checkouts never wait on each other in
        // a cycle on backends with row locks; harmless here.
        let mut lines: Vec<&OrderItem> = order.items.iter().collect();
        lines.sort_by_key(|item| item.product_id);
        let mut problems = Vec::new();
        for item in lines {
            let taken = sqlx::query(
                "UPDATE products SET stock = stock - $2
                 WHERE id = $1 AND stock >= $2 AND is_active = 1 AND price_minor = $3",
            )
            .bind(item.product_id.0)
            .bind(item.quantity)
            .bind(item.unit_price_minor)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
            if taken == 1 {
                continue;
            }
            let now: Option<(i64, bool, i64)> =
                sqlx::query_as("SELECT stock, is_active, price_minor FROM products WHERE id = $1")
                    .bind(item.product_id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            problems.push(CheckoutProblem::judge(
                item.product_id,
                item.quantity,
                item.unit_price_minor,
                now.map(|(stock, is_active, price_minor)| ProductNow {
                    stock,
                    is_active,
                    price_minor,
                }),
            ));
        }
        if !problems.is_empty() {
            tx.rollback().await.map_err(db_error)?;
            return Ok(PlaceOrderOutcome::Rejected(problems));
        }

        let now = Utc::now();
        let shipping_address = order.shipping_address.as_ref().map(|v| v.to_string());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (user_id, status, subtotal_minor, total_minor, currency,
                 shipping_address, note, created_at, updated_at)
             VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(order.user_id.0)
        .bind(order.subtotal_minor)
        .bind(order.total_minor)
        .bind(&order.currency)
        .bind(shipping_address)
        .bind(&order.note)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut items = QueryBuilder::<Sqlite>::new(
            "INSERT INTO order_items (order_id, product_id, product_name, unit_price_minor, quantity) ",
        );
        items.push_values(&order.items, |mut row, item| {
            row.push_bind(id)
                .push_bind(item.product_id.0)
                .push_bind(&item.product_name)
                .push_bind(item.unit_price_minor)
                .push_bind(item.quantity);
        });
        items.build().execute(&mut *tx).await.map_err(db_error)?;
        if let Some(idempotency) = &order.idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, order_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(order.user_id.0)
            .bind(&idempotency.key)
            .bind(&idempotency.fingerprint)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        // Only the buyer's own lines, whatever ids the caller passed; a line left with units
        // (it grew while this order was placed) keeps them.
        let take_from_line = [
            "DELETE FROM cart_items
             WHERE id = $1 AND quantity <= $2
               AND cart_id = (SELECT id FROM carts WHERE user_id = $3)",
            "UPDATE cart_items SET quantity = quantity - $2
             WHERE id = $1 AND quantity > $2
               AND cart_id = (SELECT id FROM carts WHERE user_id = $3)",
        ];
        for taken in &order.cart_items {
            for statement in take_from_line {
                sqlx::query(statement)
                    .bind(taken.item.0)
                    .bind(taken.quantity)
                    .bind(order.user_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
        }
        let task = notification_for(order.notification, OrderId(id));
        sqlx::query(
            "INSERT INTO tasks (job, payload, run_at, max_attempts, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&task.job)
        .bind(task.payload.to_string())
        .bind(task.run_at)
        .bind(i64::from(task.max_attempts))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let placed = order_by_id(&mut tx, OrderId(id))
            .await?
            .ok_or(Error::NotFound("order"))?;
        tx.commit().await.map_err(db_error)?;
        Ok(PlaceOrderOutcome::Placed(placed))
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
        let filter = |sql: &mut QueryBuilder<Sqlite>| {
            sql.push(" WHERE 1 = 1");
            if let Some(user) = query.user {
                sql.push(" AND user_id = ").push_bind(user.0);
            }
            if let Some(status) = query.status {
                sql.push(" AND status = ").push_bind(status.as_str());
            }
        };
        let mut connection = self.pool.acquire().await.map_err(db_error)?;
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM orders");
        filter(&mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await
            .map_err(db_error)?;
        let mut page =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", order_columns!(), " FROM orders"));
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
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
            return Ok(None);
        }
        if restock {
            sqlx::query(
                "UPDATE products SET stock = stock + (
                     SELECT SUM(quantity) FROM order_items
                     WHERE order_id = $1 AND product_id = products.id)
                 WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)",
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
