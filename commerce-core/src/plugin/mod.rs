//! Plugins: how backends and extensions join a shop.
//!
//! A [`Plugin`] is added to a [`ShopBuilder`]; its [`Plugin::build`] provides port
//! implementations, readiness checks, event subscribers and background jobs. A shop is
//! assembled either explicitly (`ShopBuilder::new(config).add(SqlitePlugin)…`, for embedders:
//! no discovery, nothing implicit) or from the [`registry`] of plugin factories, which picks
//! backends by the scheme of a configured URL (`sqlite://`, `postgres://`, `redis://`).
//!
//! HTTP API modules are not chosen at run time: poem-openapi's `OpenApi` trait has only static
//! methods, so APIs are composed as a tuple of types when the program is compiled, and the
//! spec is fixed by the binary. An extra API joins with `Shop::endpoint_with`.

mod builder;
pub mod registry;

use async_trait::async_trait;

pub use builder::{BuildError, ShopBuilder};
pub use registry::{PluginFactory, Role};

use crate::error::Result;

/// A unit of functionality added to a shop.
///
/// Life cycle: a plugin is created (by hand, or by its factory from the configuration), then
/// [`build`](Plugin::build) runs once, in the order plugins were added, while the shop is
/// assembled. A plugin added twice, or two plugins providing the same port, stop assembly
/// with a [`BuildError`] naming both.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// A short, unique name for logs and errors, e.g. `"sqlite"`.
    fn name(&self) -> &'static str;

    /// Connects to its backend (migrating it if the configuration says so) and provides what
    /// it implements to `shop`.
    async fn build(&self, shop: &mut ShopBuilder) -> Result<()>;
}
