//! The assembled shop: services over their ports, ready to serve HTTP and run jobs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem_openapi::OpenApi;

use crate::config::Config;
use crate::plugin::ShopBuilder;
use crate::ports::{Cache, ReadinessCheck};
use crate::services::{
    AuthService, CartService, CatalogService, JobQueue, JobRegistry, OrderService, Worker,
};

/// A shop whose every port is provided. Built by [`ShopBuilder::build`].
pub struct Shop {
    pub(crate) config: Config,
    pub(crate) plugins: Vec<&'static str>,
    pub(crate) auth: AuthService,
    pub(crate) catalog: CatalogService,
    pub(crate) carts: CartService,
    pub(crate) orders: OrderService,
    pub(crate) cache: Arc<dyn Cache>,
    pub(crate) jobs: JobQueue,
    pub(crate) job_registry: JobRegistry,
    pub(crate) readiness: Arc<[Arc<dyn ReadinessCheck>]>,
}

impl Shop {
    /// A builder to add plugins to.
    pub fn builder(config: Config) -> ShopBuilder {
        ShopBuilder::new(config)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The names of its plugins, in the order they were added.
    pub fn plugins(&self) -> &[&'static str] {
        &self.plugins
    }

    /// Accounts and sessions.
    pub fn auth(&self) -> &AuthService {
        &self.auth
    }

    /// The catalogue.
    pub fn catalog(&self) -> &CatalogService {
        &self.catalog
    }

    /// Shoppers' carts.
    pub fn carts(&self) -> &CartService {
        &self.carts
    }

    /// Orders and checkout.
    pub fn orders(&self) -> &OrderService {
        &self.orders
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.cache
    }

    /// The background job queue.
    pub fn jobs(&self) -> &JobQueue {
        &self.jobs
    }

    /// A worker running this shop's jobs.
    pub fn worker(&self) -> Worker {
        Worker::new(self.jobs.clone(), self.job_registry.clone())
    }

    /// The HTTP application: every core API, `/openapi.json`, `/docs`, `/health`, `/ready`.
    pub fn endpoint(&self) -> poem::endpoint::BoxEndpoint<'static> {
        crate::api::app(self, ())
    }

    /// The HTTP application with `extra` API modules beside the core ones, in one spec.
    pub fn endpoint_with(
        &self,
        extra: impl OpenApi + 'static,
    ) -> poem::endpoint::BoxEndpoint<'static> {
        crate::api::app(self, extra)
    }

    /// Serves the core API on `listener` and runs the shop's background work (the job
    /// worker, the search indexer, the hourly housekeeping) until `shutdown` completes, then
    /// finishes requests in flight (for at most ten seconds) and the task being run.
    pub async fn run(
        self,
        listener: TcpListener<String>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let acceptor = listener.into_acceptor().await?;
        self.run_on(acceptor, shutdown).await
    }

    /// As [`run`](Self::run), on an acceptor already bound (port 0 in tests).
    pub async fn run_on(
        self,
        acceptor: impl Acceptor + 'static,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.endpoint();
        self.serve(app, acceptor, shutdown).await
    }

    /// As [`run_on`](Self::run_on), serving `app` instead of the core API alone: an
    /// [`endpoint_with`](Self::endpoint_with) the embedder's own APIs, perhaps wrapped in
    /// middleware of its own. The shop's background work runs beside it as with `run`: the
    /// job worker, the search indexer and the hourly housekeeping.
    pub async fn serve(
        self,
        app: impl poem::Endpoint + 'static,
        acceptor: impl Acceptor + 'static,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let when_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let worker = tokio::spawn(self.worker().run(when_stopped()));
        // The index catches up (or rebuilds) in the background, so start-up never waits for it.
        // A change applied in the background was made elsewhere (this instance's own writes
        // invalidate as they happen): cached responses may show it stale.
        let responses = self.catalog.responses().clone();
        let indexer = tokio::spawn(self.catalog.indexer().clone().run(
            async move || responses.invalidate_all().await,
            when_stopped(),
        ));
        let housekeeping = tokio::spawn(housekeeping(
            self.auth.clone(),
            self.orders.clone(),
            when_stopped(),
        ));
        let served = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(10)))
            .await;
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = indexer.await;
        let _ = housekeeping.await;
        served
    }
}

/// Periodic upkeep, hourly: expired refresh tokens and idempotency keys older than two days
/// (clients are promised at least one) are forgotten.
async fn housekeeping(auth: AuthService, orders: OrderService, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut hourly = tokio::time::interval(Duration::from_secs(60 * 60));
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = hourly.tick() => {}
        }
        match auth.purge_expired_tokens().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired refresh tokens forgotten"),
            Err(error) => tracing::warn!(%error, "could not purge expired refresh tokens"),
        }
        if let Err(error) = orders.purge_idempotency_keys().await {
            tracing::warn!(%error, "could not purge old idempotency keys");
        }
    }
}
