//! # commerce-core
//!
//! The framework of a commerce-rs shop: domain types, the business rules, one port (trait) per
//! capability, and the HTTP API generated with poem-openapi.
//!
//! Layers depend in one direction only:
//!
//! ```text
//! api (poem-openapi handlers) → services (rules) → ports (traits) ← plugins (backends)
//! ```
//!
//! A shop is assembled from plugins by a [`ShopBuilder`], explicitly or
//! from the configuration, and served with [`Shop::run`].

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod plugin;
pub mod ports;
pub mod services;
mod shop;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{Config, ConfigError};
pub use error::{Error, FieldErrors, Result};
pub use plugin::{BuildError, Plugin, PluginFactory, ShopBuilder};
pub use shop::Shop;

/// Re-exported so that plugin crates register factories with the same `inventory`.
pub use inventory;
