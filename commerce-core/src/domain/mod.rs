//! Domain types: the shop's vocabulary, valid by construction.
//!
//! Every type that carries a rule (a username's alphabet, a price's decimals) checks it in its
//! constructor, so a value that reaches a service or a store is already valid. Nothing here does
//! I/O.

pub mod catalog;
mod ids;
mod money;
pub mod orders;
mod user;

pub use catalog::{Category, CategoryRecord, Product, ProductRecord};
pub use ids::{CartId, CartItemId, CategoryId, OrderId, ProductId, TaskId, UserId};
pub use money::{Currency, Money, MoneyError};
pub use orders::{CartLine, Order, OrderItem, OrderStatus};
pub use user::{Email, NewUser, Password, PasswordHash, User, Username};

/// A point in time, always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
