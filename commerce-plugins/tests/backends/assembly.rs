//! Assembling shops from plugins: explicitly, from the registry, and the errors in between.
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "moka",
    feature = "log-mail",
    feature = "tantivy"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::{BuildError, Plugin, ShopBuilder};
use commerce_plugins::moka::MokaCache;
use commerce_plugins::{LogMailPlugin, MokaCachePlugin, SqlitePlugin, TantivySearchPlugin};

fn config(data: &tempfile::TempDir) -> (Config, String) {
    let url = format!("sqlite://{}", data.path().join("shop.db").display());
    let lookup_url = url.clone();
    let search = data.path().join("search").display().to_string();
    let config = Config::from_lookup(move |name| match name {
        "DATABASE_URL" => Some(lookup_url.clone()),
        "SEARCH_INDEX_PATH" => Some(search.clone()),
        _ => None,
    })
    .unwrap();
    (config, url)
}

struct SecondCache;

#[async_trait]
impl Plugin for SecondCache {
    fn name(&self) -> &'static str {
        "second-cache"
    }

    async fn build(&self, shop: &mut ShopBuilder) -> commerce_core::Result<()> {
        shop.provide_cache(Arc::new(MokaCache::default()));
        Ok(())
    }
}

#[tokio::test]
async fn an_explicit_builder_assembles_a_shop() {
    let dir = tempfile::tempdir().unwrap();
    let (config, url) = config(&dir);
    let shop = ShopBuilder::new(config)
        .add(SqlitePlugin::new(url))
        .await
        .unwrap()
        .add(MokaCachePlugin::default())
        .await
        .unwrap()
        .add(LogMailPlugin)
        .await
        .unwrap()
        .add(TantivySearchPlugin::new(dir.path().join("search")))
        .await
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(shop.plugins(), ["sqlite", "moka", "log-mail", "tantivy"]);
}

#[tokio::test]
async fn a_missing_port_is_named_at_build_time() {
    let dir = tempfile::tempdir().unwrap();
    let (config, url) = config(&dir);
    let result = ShopBuilder::new(config)
        .add(SqlitePlugin::new(url))
        .await
        .unwrap()
        .build();
    let Err(error) = result else {
        panic!("a shop without a cache was built")
    };
    assert!(matches!(
        error,
        BuildError::MissingPort { port: "cache", .. }
    ));
    assert!(error.to_string().contains("cache"));
}

#[tokio::test]
async fn a_port_provided_twice_names_both_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(&dir);
    let builder = ShopBuilder::new(config)
        .add(MokaCachePlugin::default())
        .await
        .unwrap();
    let Err(error) = builder.add(SecondCache).await else {
        panic!("two caches were accepted")
    };
    assert!(
        matches!(
            error,
            BuildError::DuplicatePort {
                port: "cache",
                first: "moka",
                second: "second-cache"
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_plugin_added_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(&dir);
    let builder = ShopBuilder::new(config).add(LogMailPlugin).await.unwrap();
    let Err(error) = builder.add(LogMailPlugin).await else {
        panic!("a plugin was added twice")
    };
    assert!(matches!(error, BuildError::DuplicatePlugin("log-mail")));
}

#[tokio::test]
async fn the_registry_picks_plugins_by_url_scheme() {
    let schemes: Vec<(Role, &str)> = PluginFactory::all()
        .flat_map(|f| f.schemes.iter().map(move |s| (f.role, *s)))
        .collect();
    for expected in [
        (Role::Database, "sqlite"),
        (Role::Cache, "memory"),
        (Role::Mail, "log"),
        (Role::Search, "tantivy"),
        (Role::Database, "postgres"),
        (Role::Database, "postgresql"),
    ] {
        assert!(schemes.contains(&expected), "{expected:?} in {schemes:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(&dir);
    let shop = ShopBuilder::from_registry(config)
        .await
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(shop.plugins(), ["sqlite", "moka", "log-mail", "tantivy"]);
}

#[tokio::test]
async fn an_unknown_scheme_lists_the_known_ones() {
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some("oracle://db/shop".into()),
        _ => None,
    })
    .unwrap();
    let Err(error) = ShopBuilder::from_registry(config).await else {
        panic!("an unknown scheme was accepted")
    };
    let message = error.to_string();
    assert!(message.starts_with("DATABASE_URL"), "{message}");
    assert!(message.contains("sqlite"), "{message}");
}

#[tokio::test]
async fn a_value_that_is_not_a_url_is_not_repeated() {
    // Credentials that lost their scheme: the error names the variable, never the value.
    let config = Config::from_lookup(|name| match name {
        "SMTP_URL" => Some("shop:hunter22@mail.example.com:587".into()),
        _ => None,
    })
    .unwrap();
    let Err(error) = ShopBuilder::from_registry(config).await else {
        panic!("a value without a scheme was accepted")
    };
    let message = error.to_string();
    assert!(message.starts_with("SMTP_URL: not a URL"), "{message}");
    assert!(!message.contains("hunter22"), "{message}");
}
