//! Orders and checkout.

/// Stores orders and performs checkout atomically. Its operations arrive with the orders API.
pub trait OrderStore: Send + Sync + 'static {}
