//! # commerce-plugins
//!
//! The default backends of commerce-rs, one cargo feature each. Every module implements ports
//! of `commerce-core` and nothing else: no business rules live here, and each backend proves
//! itself by running the core conformance suites (`commerce_core::testkit`).
//!
//! | feature    | plugin            | provides                                   | URL            |
//! |------------|-------------------|--------------------------------------------|----------------|
//! | `sqlite`   | [`SqlitePlugin`]   | users, tokens, task queue                  | `sqlite://…`   |
//! | `postgres` | [`PostgresPlugin`] | users, tokens, task queue (LISTEN/NOTIFY)  | `postgres://…` |
//! | `moka`     | [`MokaCachePlugin`]| an in-process cache                        | `memory://`    |
//! | `redis`    | [`RedisCachePlugin`] | a cache shared by every instance         | `redis://…`, `rediss://…` |
//! | `log-mail` | [`LogMailPlugin`]  | a mailer writing to the log (development)  | `log://`       |
//! | `tantivy`  | [`TantivySearchPlugin`] | an embedded product search index     | `tantivy://…`  |
//!
//! Each plugin registers a factory with `inventory`, so a binary that links this crate (for
//! example with `use commerce_plugins as _;`) can assemble a shop from its configuration.

#[cfg(feature = "log-mail")]
pub mod log_mail;
#[cfg(feature = "moka")]
pub mod moka;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "tantivy")]
pub mod tantivy;

#[cfg(feature = "redis")]
pub use self::redis::RedisCachePlugin;
#[cfg(feature = "tantivy")]
pub use self::tantivy::TantivySearchPlugin;
#[cfg(feature = "log-mail")]
pub use log_mail::LogMailPlugin;
#[cfg(feature = "moka")]
pub use moka::MokaCachePlugin;
#[cfg(feature = "postgres")]
pub use postgres::PostgresPlugin;
#[cfg(feature = "sqlite")]
pub use sqlite::SqlitePlugin;
