//! Shoppers' carts.

/// Stores carts and their items. Its operations arrive with the cart API.
pub trait CartStore: Send + Sync + 'static {}
