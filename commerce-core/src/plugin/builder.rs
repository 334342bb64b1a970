//! Assembling a shop from plugins, with every missing or doubled piece reported at start-up.

use std::sync::Arc;

use super::Plugin;
use crate::config::Config;
use crate::error::Error;
use crate::ports::{
    Cache, CartStore, CatalogStore, Mailer, OrderStore, RateLimiter, ReadinessCheck, SearchIndex,
    TaskQueue, TokenStore, UserStore,
};
use crate::services::notifications::{EmailNotifications, SendWelcomeEmail};
use crate::services::orders::{ConfirmationContext, SendOrderConfirmation};
use crate::services::{
    AuthService, BackgroundJob, CatalogService, EventBus, EventSubscriber, JobQueue, JobRegistry,
    ResponseCache, SearchIndexer, TokenSigner,
};
use crate::services::{CartService, OrderService};
use crate::shop::Shop;

/// Why a shop could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A port nobody provides.
    #[error("no plugin provides the {port}; add one that does, such as {hint}")]
    MissingPort {
        /// The port.
        port: &'static str,
        /// A plugin that would provide it.
        hint: &'static str,
    },
    /// A port provided twice.
    #[error("the {port} is provided by both the {first} and the {second} plugin")]
    DuplicatePort {
        /// The port.
        port: &'static str,
        /// The plugin that provided it first.
        first: &'static str,
        /// The plugin that tried again.
        second: &'static str,
    },
    /// The same plugin added twice.
    #[error("the {0} plugin was added twice")]
    DuplicatePlugin(&'static str),
    /// No linked plugin handles a configured URL.
    #[error("{variable}: no plugin handles URLs starting with {scheme:?}:// (known: {known})")]
    UnknownScheme {
        /// The variable holding the URL.
        variable: &'static str,
        /// Its scheme.
        scheme: String,
        /// The schemes that would work.
        known: String,
    },
    /// A configured value that is not a URL: it is not repeated, since it may be credentials
    /// that lost their scheme (`user:secret@host`).
    #[error("{variable}: not a URL; give scheme://… (known schemes: {known})")]
    NotAUrl {
        /// The variable holding the value.
        variable: &'static str,
        /// The schemes that would work.
        known: String,
    },
    /// Two factories claim one scheme for one role.
    #[error("the {first} and {second} plugins both claim {scheme}:// URLs")]
    DuplicateFactory {
        /// The contested scheme.
        scheme: String,
        /// One claimant.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// Two jobs under one persisted name.
    #[error("{0}")]
    DuplicateJob(String),
    /// A plugin failed while building (could not connect, could not migrate…, or a setting of
    /// its own cannot be read). The reason is the source, not part of this message, so that
    /// printing the chain names it once.
    #[error("the {plugin} plugin failed to start")]
    Plugin {
        /// The plugin.
        plugin: &'static str,
        /// Why.
        #[source]
        source: Error,
    },
}

impl BuildError {
    /// Whether a setting is at fault (a URL no plugin handles, or a value a plugin cannot
    /// read) rather than the code assembling the shop or a backend that failed to start:
    /// fixing the environment fixes it.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::UnknownScheme { .. }
                | Self::NotAUrl { .. }
                | Self::Plugin {
                    source: Error::Validation(_),
                    ..
                }
        )
    }
}

/// How long a cached catalogue response lives at most; writes invalidate sooner.
const RESPONSE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

struct Provided<T: ?Sized> {
    port: Arc<T>,
    by: &'static str,
}

/// Collects what plugins provide, then checks it is complete and builds the [`Shop`].
pub struct ShopBuilder {
    config: Config,
    plugins: Vec<&'static str>,
    /// The plugin whose `build` is running, credited with what is provided meanwhile.
    building: &'static str,
    first_error: Option<BuildError>,
    users: Option<Provided<dyn UserStore>>,
    tokens: Option<Provided<dyn TokenStore>>,
    catalog: Option<Provided<dyn CatalogStore>>,
    carts: Option<Provided<dyn CartStore>>,
    orders: Option<Provided<dyn OrderStore>>,
    cache: Option<Provided<dyn Cache>>,
    rate_limiter: Option<Provided<dyn RateLimiter>>,
    queue: Option<Provided<dyn TaskQueue>>,
    mailer: Option<Provided<dyn Mailer>>,
    search: Option<Provided<dyn SearchIndex>>,
    readiness: Vec<Arc<dyn ReadinessCheck>>,
    subscribers: Vec<Arc<dyn EventSubscriber>>,
    jobs: JobRegistry,
}

macro_rules! provide {
    ($(#[$doc:meta])* $method:ident, $field:ident, $trait:ident, $label:literal) => {
        $(#[$doc])*
        pub fn $method(&mut self, port: Arc<dyn $trait>) -> &mut Self {
            match &self.$field {
                Some(existing) => self.fail(BuildError::DuplicatePort {
                    port: $label,
                    first: existing.by,
                    second: self.building,
                }),
                None => {
                    self.$field = Some(Provided { port, by: self.building });
                }
            }
            self
        }
    };
}

impl ShopBuilder {
    /// An empty builder; nothing is discovered, every plugin is added by hand.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            plugins: Vec::new(),
            building: "application",
            first_error: None,
            users: None,
            tokens: None,
            catalog: None,
            carts: None,
            orders: None,
            cache: None,
            rate_limiter: None,
            queue: None,
            mailer: None,
            search: None,
            readiness: Vec::new(),
            subscribers: Vec::new(),
            jobs: JobRegistry::default(),
        }
    }

    /// A builder holding the plugins the configuration chooses from the linked
    /// [`PluginFactory`](super::PluginFactory) registry.
    pub async fn from_registry(config: Config) -> Result<Self, BuildError> {
        let plugins = super::PluginFactory::plugins_for(&config)?;
        let mut builder = Self::new(config);
        for plugin in plugins {
            builder = builder.add_boxed(plugin).await?;
        }
        Ok(builder)
    }

    /// The configuration plugins build from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Adds a plugin and runs its `build`.
    pub async fn add(self, plugin: impl Plugin) -> Result<Self, BuildError> {
        self.add_boxed(Box::new(plugin)).await
    }

    /// Adds a boxed plugin and runs its `build`.
    pub async fn add_boxed(mut self, plugin: Box<dyn Plugin>) -> Result<Self, BuildError> {
        let name = plugin.name();
        if self.plugins.contains(&name) {
            return Err(BuildError::DuplicatePlugin(name));
        }
        self.plugins.push(name);
        self.building = name;
        plugin
            .build(&mut self)
            .await
            .map_err(|source| BuildError::Plugin {
                plugin: name,
                source,
            })?;
        self.building = "application";
        match self.first_error.take() {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }

    provide!(
        /// Provides the store of user accounts.
        provide_user_store, users, UserStore, "user store"
    );
    provide!(
        /// Provides the store of refresh tokens.
        provide_token_store, tokens, TokenStore, "token store"
    );
    provide!(
        /// Provides the catalogue store.
        provide_catalog_store, catalog, CatalogStore, "catalog store"
    );
    provide!(
        /// Provides the cart store.
        provide_cart_store, carts, CartStore, "cart store"
    );
    provide!(
        /// Provides the order store.
        provide_order_store, orders, OrderStore, "order store"
    );
    provide!(
        /// Provides the cache.
        provide_cache, cache, Cache, "cache"
    );
    provide!(
        /// Provides the rate limiter (login attempts are counted with it).
        provide_rate_limiter, rate_limiter, RateLimiter, "rate limiter"
    );
    provide!(
        /// Provides the task queue.
        provide_task_queue, queue, TaskQueue, "task queue"
    );
    provide!(
        /// Provides the mailer.
        provide_mailer, mailer, Mailer, "mailer"
    );
    provide!(
        /// Provides the product search index.
        provide_search_index, search, SearchIndex, "search index"
    );

    /// Adds a check that `/ready` runs.
    pub fn add_readiness_check(&mut self, check: Arc<dyn ReadinessCheck>) -> &mut Self {
        self.readiness.push(check);
        self
    }

    /// Adds a subscriber to domain events.
    pub fn add_event_subscriber(&mut self, subscriber: Arc<dyn EventSubscriber>) -> &mut Self {
        self.subscribers.push(subscriber);
        self
    }

    /// Registers a background job with its context.
    pub fn register_job<J: BackgroundJob>(&mut self, context: J::Context) -> &mut Self {
        if let Err(message) = self.jobs.register::<J>(context) {
            self.fail(BuildError::DuplicateJob(message));
        }
        self
    }

    fn fail(&mut self, error: BuildError) {
        self.first_error.get_or_insert(error);
    }

    /// Checks every port is provided and builds the shop.
    pub fn build(mut self) -> Result<Shop, BuildError> {
        let users = required(self.users.take(), "user store", "SqlitePlugin")?;
        let tokens = required(self.tokens.take(), "token store", "SqlitePlugin")?;
        let queue = required(self.queue.take(), "task queue", "SqlitePlugin")?;
        let cache = required(self.cache.take(), "cache", "MokaCachePlugin")?;
        let rate_limiter = required(
            self.rate_limiter.take(),
            "rate limiter",
            "MokaCachePlugin, or a MokaRateLimiter provided beside another cache",
        )?;
        let mailer = required(self.mailer.take(), "mailer", "LogMailPlugin")?;
        let catalog_store = required(self.catalog.take(), "catalog store", "SqlitePlugin")?;
        let cart_store = required(self.carts.take(), "cart store", "SqlitePlugin")?;
        let order_store = required(self.orders.take(), "order store", "SqlitePlugin")?;
        let search = required(self.search.take(), "search index", "TantivySearchPlugin")?;

        let jobs = JobQueue::new(queue);
        self.register_job::<SendWelcomeEmail>(mailer.clone());
        self.register_job::<SendOrderConfirmation>(ConfirmationContext {
            orders: order_store.clone(),
            users: users.clone(),
            mailer,
            currency: self.config.currency,
        });
        self.subscribers
            .push(Arc::new(EmailNotifications::new(jobs.clone())));
        if let Some(error) = self.first_error.take() {
            return Err(error);
        }

        let events = EventBus::new(self.subscribers);
        let signer = TokenSigner::new(self.config.tokens.clone());
        let auth = AuthService::new(
            users,
            tokens,
            rate_limiter,
            self.config.login_limit,
            signer,
            events,
        );
        let responses = ResponseCache::new(cache.clone(), RESPONSE_TTL);
        let indexer = SearchIndexer::new(catalog_store.clone(), search);
        let carts = CartService::new(cart_store, self.config.currency);
        let orders = OrderService::new(
            order_store,
            carts.clone(),
            jobs.clone(),
            responses.clone(),
            self.config.currency,
        );
        let catalog = CatalogService::new(catalog_store, indexer, responses, self.config.currency);
        Ok(Shop {
            config: self.config,
            plugins: self.plugins,
            auth,
            catalog,
            carts,
            orders,
            cache,
            jobs,
            job_registry: self.jobs,
            readiness: self.readiness.into(),
        })
    }
}

fn required<T: ?Sized>(
    provided: Option<Provided<T>>,
    port: &'static str,
    hint: &'static str,
) -> Result<Arc<T>, BuildError> {
    provided
        .map(|p| p.port)
        .ok_or(BuildError::MissingPort { port, hint })
}
