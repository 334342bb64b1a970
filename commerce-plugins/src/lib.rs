//! # commerce-plugins
//!
//! The default backends of commerce-rs, one cargo feature each. Every module implements ports
//! of `commerce-core` and nothing else: no business rules live here, and each backend proves
//! itself by running the core conformance suites (`commerce_core::testkit`).
//!
//! | feature    | plugin                  | provides                                      | chosen by                   |
//! |------------|-------------------------|-----------------------------------------------|-----------------------------|
//! | `sqlite`   | [`SqlitePlugin`]        | users, tokens, catalogue, carts, orders, task queue | `DATABASE_URL=sqlite://…` |
//! | `postgres` | [`PostgresPlugin`]      | the same, the queue woken by LISTEN/NOTIFY    | `DATABASE_URL=postgres://…` |
//! | `postgres` | `PostgresSearchPlugin`  | product search in the database (tsvector)     | `SEARCH_BACKEND=postgres`   |
//! | `tantivy`  | [`TantivySearchPlugin`] | an embedded product search index (default)    | `SEARCH_BACKEND=tantivy`    |
//! | `moka`     | [`MokaCachePlugin`]     | an in-process cache (default)                 | `REDIS_URL` unset           |
//! | `redis`    | [`RedisCachePlugin`]    | a cache shared by every instance              | `REDIS_URL=redis://…`       |
//! | `log-mail` | [`LogMailPlugin`]       | a mailer writing to the log (development)     | `SMTP_URL` unset            |
//! | `smtp`     | [`SmtpMailPlugin`]      | a mailer sending through an SMTP server       | `SMTP_URL=smtp://…`, `smtps://…` |
//!
//! Each plugin registers a factory with `inventory`, so a binary that links this crate (for
//! example with `use commerce_plugins as _;`) can assemble a shop from its configuration.
//!
//! The feature `testkit` adds test support: a PostgreSQL database of its own per test.

#[cfg(feature = "log-mail")]
pub mod log_mail;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod migrations;
#[cfg(feature = "moka")]
pub mod moka;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "tantivy")]
pub mod tantivy;
#[cfg(feature = "testkit")]
pub mod testkit;

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
#[cfg(feature = "smtp")]
pub use smtp::SmtpMailPlugin;
#[cfg(feature = "sqlite")]
pub use sqlite::SqlitePlugin;
