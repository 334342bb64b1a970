//! A shop assembled by hand: the plugins chosen in code rather than from the registry, and an
//! HTTP API of the shop's own served beside the core one, in the same OpenAPI document.
//!
//! ```text
//! cargo run -p embedded-shop      # then: curl localhost:8000/api/about/
//! ```
//!
//! No `use commerce_plugins as _;` is needed: nothing is looked up in the plugin registry, so
//! nothing depends on which crates the linker kept.

use std::path::Path;

use commerce_core::config::Config;
use commerce_core::{BuildError, Shop, ShopBuilder};
use commerce_plugins::{LogMailPlugin, MokaCachePlugin, SqlitePlugin, TantivySearchPlugin};
use poem_openapi::OpenApi;
use poem_openapi::payload::PlainText;

/// The shop's own API: one operation, documented in `/openapi.json` with the core's.
pub struct AboutApi;

#[OpenApi]
impl AboutApi {
    /// Which shop this is.
    #[oai(path = "/api/about/", method = "get")]
    async fn about(&self) -> PlainText<&'static str> {
        PlainText("the corner shop")
    }
}

/// The shop over an SQLite database and a search index, both in `data`, with an in-process
/// cache of 32 MiB and mail written to the log. `config` supplies the rest (secrets, token
/// lifetimes, limits); its database and search settings are not consulted.
pub async fn assemble(config: Config, data: &Path) -> Result<Shop, BuildError> {
    let database = format!("sqlite://{}", data.join("shop.db").display());
    ShopBuilder::new(config)
        .add(SqlitePlugin::new(database).max_connections(16))
        .await?
        .add(MokaCachePlugin::new(32 * 1024 * 1024))
        .await?
        .add(LogMailPlugin)
        .await?
        .add(TantivySearchPlugin::new(data.join("search")))
        .await?
        .build()
}
