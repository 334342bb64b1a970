//! The reference shop driven from outside: over HTTP against the real server, and as a process.
//!
//! One test binary rather than one per file: each binary links the whole stack (poem, sqlx,
//! tantivy), and several of them cost minutes of linking and gigabytes of `target/`.

mod auth_api;
mod catalog_api;
mod cli;
mod common;
mod openapi_spec;
mod orders_api;
mod postgres_api;
