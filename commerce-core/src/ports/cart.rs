//! Shoppers' carts: one per user, created on first use.

use async_trait::async_trait;

use crate::domain::{CartId, CartItemId, CartLine, ProductId, UserId};
use crate::error::Result;

/// Stores carts and their lines.
///
/// A line refers to a product by id only: deleting a product leaves the line, reported with
/// no product, for the shopper to see and remove.
#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// The user's cart (created if it has none) and its lines, oldest first, each with its
    /// product as it is now, in one round trip where the backend allows.
    async fn cart(&self, user: UserId) -> Result<(CartId, Vec<CartLine>)>;

    /// Adds `quantity` of `product`: a new line, or more of an existing one. Returns the line
    /// and its new quantity.
    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: i64,
    ) -> Result<(CartItemId, i64)>;

    /// Sets a line's quantity; `NotFound` unless the line is in this user's cart.
    async fn set_cart_quantity(&self, user: UserId, item: CartItemId, quantity: i64) -> Result<()>;

    /// Removes a line; `NotFound` unless the line is in this user's cart.
    async fn remove_cart_item(&self, user: UserId, item: CartItemId) -> Result<()>;

    /// Removes every line of the user's cart.
    async fn clear_cart(&self, user: UserId) -> Result<()>;
}
