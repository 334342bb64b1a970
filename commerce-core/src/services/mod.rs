//! Services: the business rules, over the ports.
//!
//! A service receives only the ports it uses. HTTP handlers call services and nothing below
//! them; plugins are called only through ports. A rule is written here once and holds for
//! every backend.

pub mod auth;
pub mod cart;
pub mod catalog;
mod digest;
pub mod events;
pub mod jobs;
pub mod notifications;
pub mod orders;
pub mod passwords;
pub mod response_cache;
pub mod search;
pub mod tokens;

pub use auth::{AuthService, LoginLimit, Registration, TokenPair};
pub use cart::CartService;
pub use catalog::CatalogService;
pub use events::{DomainEvent, EventBus, EventSubscriber};
pub use jobs::{BackgroundJob, JobQueue, JobRegistry, Worker};
pub use orders::OrderService;
pub use passwords::PasswordHasher;
pub use response_cache::{CachedResponse, ResponseCache};
pub use search::SearchIndexer;
pub use tokens::{AccessClaims, Principal, TokenSettings, TokenSigner};
