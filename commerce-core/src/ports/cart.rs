//! Shoppers' carts: one per user, created on first use.

use async_trait::async_trait;

use crate::domain::{CartId, CartItemId, CartLine, Product, ProductId, UserId};
use crate::error::Result;

/// What [`CartStore::add_to_cart`] found and did.
#[derive(Debug, Clone)]
pub struct CartAddition {
    /// The cart.
    pub cart: CartId,
    /// Its lines as they were before the addition, oldest first, each with its product.
    pub lines: Vec<CartLine>,
    /// The product to add, as read in the same step; `None` when there is no such product.
    pub product: Option<Product>,
    /// The line added to and its new quantity; `None` when the addition was refused.
    pub added: Option<(CartItemId, i64)>,
}

/// Stores carts and their lines.
///
/// A line refers to a product by id only: deleting a product leaves the line, reported with
/// no product, for the shopper to see and remove.
#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// The user's cart (created if it has none) and its lines, oldest first, each with its
    /// product as it is now, in one round trip where the backend allows.
    async fn cart(&self, user: UserId) -> Result<(CartId, Vec<CartLine>)>;

    /// Adds `quantity` of `product` to the user's cart (created if it has none): a new line,
    /// or more of an existing one; but only if the product is active and the line then holds
    /// no more than the product's stock and no more than `max_line`. The check and the change
    /// are one atomic step, so concurrent additions cannot together pass the stock.
    ///
    /// Answers what the caller needs to reply either way (the cart as it was, the product, and
    /// the changed line), in one round trip where the backend allows: adding to a cart is
    /// most of what a busy shop writes.
    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: i64,
        max_line: i64,
    ) -> Result<CartAddition>;

    /// Sets a line's quantity; `NotFound` unless the line is in this user's cart.
    async fn set_cart_quantity(&self, user: UserId, item: CartItemId, quantity: i64) -> Result<()>;

    /// Removes a line; `NotFound` unless the line is in this user's cart.
    async fn remove_cart_item(&self, user: UserId, item: CartItemId) -> Result<()>;

    /// Removes every line of the user's cart.
    async fn clear_cart(&self, user: UserId) -> Result<()>;
}
