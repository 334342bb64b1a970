//! Ports: one trait per capability the services need from the outside world.
//!
//! Each trait is object safe and `Send + Sync`, so a shop holds its backends as `Arc<dyn …>` and
//! picks them at run time. Ports persist and transport; the rules (who may log in, when a token
//! is stolen) live in the services that call them. Every port has a conformance suite in
//! the `testkit` module (feature `testkit`) that each backend runs.

pub mod auth;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod health;
pub mod mail;
pub mod orders;
pub mod queue;
pub mod rate_limit;
pub mod search;

pub use auth::{NewRefreshToken, RefreshTokenUse, TokenStore, UserCredentials, UserStore};
pub use cache::{Cache, CacheExt};
pub use cart::{CartAddition, CartStore};
pub use catalog::{
    CatalogChange, CatalogStore, CategoryCheck, CategoryTreeCheck, IndexDocument, ProductFilter,
    ProductListQuery, ProductOrdering, ProductPage, ProductState, StockWrite,
};
pub use health::ReadinessCheck;
pub use mail::{Mailer, OutgoingMail};
pub use orders::{
    CartLineTaken, CheckoutProblem, CheckoutProblemKind, IdempotencyKey, NewOrder, ORDER_ID_MEMBER,
    OrderListQuery, OrderStore, PlaceOrderOutcome, ProductNow, notification_for,
};
pub use queue::{BuriedTask, ClaimedTask, NewTask, StrandedJob, TaskClaim, TaskQueue};
pub use rate_limit::{RateLimiter, WindowCount};
pub use search::{IndexBatch, SearchHits, SearchIndex, SearchQuery};
