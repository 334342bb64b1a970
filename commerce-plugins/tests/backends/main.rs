//! Every backend against the real thing: the core conformance suites per port, and what only
//! one backend promises. Each module is gated on its backend's feature.
//!
//! One test binary rather than one per file: each binary links every backend (sqlx, tantivy,
//! redis), and several of them cost minutes of linking and gigabytes of `target/`.

mod assembly;
mod jobs;
mod mail_conformance;
mod moka_conformance;
mod postgres_conformance;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod records;
mod redis_conformance;
mod response_cache;
mod smtp;
mod sqlite_conformance;
mod tantivy_conformance;
