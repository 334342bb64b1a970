//! PostgreSQL: the database for deployments with more than one instance, over sqlx.
//!
//! One database holds users, tokens, the task queue, the catalogue, carts and orders, in the
//! same tables as on SQLite (`migrations/postgres/` at the workspace root); [`PostgresSearch`]
//! searches that catalogue in place (`SEARCH_BACKEND=postgres`). This module owns connecting,
//! migrating and turning sqlx errors into [`commerce_core::Error`]; it holds no business rules.
//!
//! Every pooled connection runs with a statement timeout (`DATABASE_STATEMENT_TIMEOUT_MS`), so
//! a query stuck behind a lock fails as [`Error::Unavailable`] instead of holding a request and
//! a connection forever. Migrations run on a connection of their own under an advisory lock,
//! so several instances starting at once apply each migration exactly once.
//!
//! With a read replica (`DATABASE_READ_URL`), a second pool with the same settings connects to
//! it, and the catalogue reads that serve shoppers go there (see `catalog.rs` for which). The
//! store always holds a `reader` pool, which is the primary's own pool when no replica is
//! configured, so a query only chooses a pool and never branches on the configuration. The
//! replica is never migrated: it receives the primary's schema through replication.

mod accounts;
mod catalog;
mod orders;
mod queue;
mod search;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::ReadinessCheck;
use commerce_core::{Error, Plugin, Result, ShopBuilder};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Pool, Postgres};

use queue::TaskWakeups;
pub use search::{PostgresSearch, PostgresSearchPlugin};

const BACKEND: &str = "postgres";
/// A pooled connection idle this long is pinged before use (see `open_pool`).
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);
/// The name of the read replica's readiness check.
const REPLICA_CHECK: &str = "postgres-replica";

/// The migrations, as a migrator that starts against a database a newer release has migrated
/// further. During a rollback, or a rolling deploy, the previous release's instances start on
/// a schema with migrations they do not know; those only add what the previous release does
/// not use (`docs/deploy.md`), so refusing to start would take the fleet down for nothing. A
/// migration it knows whose file differs from the one applied is still refused.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../migrations/postgres");
    migrator.set_ignore_missing(true);
    migrator
}

/// How a [`PostgresDatabase`] uses its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresSettings {
    /// The most connections the pool opens; at least one is always allowed.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// How long one statement may run before the server cancels it; zero means no limit.
    pub statement_timeout: Duration,
}

impl Default for PostgresSettings {
    /// Eight connections, five seconds to get one, five seconds per statement.
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl PostgresSettings {
    /// The settings the configuration asks for (`DATABASE_MAX_CONNECTIONS`,
    /// `DATABASE_STATEMENT_TIMEOUT_MS`), with the default acquire timeout.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_connections: config.database_max_connections,
            statement_timeout: config.database_statement_timeout,
            ..Self::default()
        }
    }
}

/// A PostgreSQL database implementing the account, token, task-queue, catalogue, cart and
/// order ports, optionally reading part of the catalogue from a read replica.
#[derive(Clone, Debug)]
pub struct PostgresDatabase {
    /// The primary: every write, transaction and consistent read.
    pool: Pool<Postgres>,
    /// Where the catalogue's shopper reads go: the replica's pool, or a clone of `pool` (the
    /// same pool, not a second one) when there is no replica.
    reader: Pool<Postgres>,
    /// Whether `reader` is a replica's pool rather than `pool`.
    reads_from_replica: bool,
    /// Kept so that a replica's pool is made exactly like the primary's.
    settings: PostgresSettings,
    /// Shared by clones, so that one listener connection serves every clone's workers.
    wakeups: Arc<TaskWakeups>,
}

impl PostgresDatabase {
    /// Connects to the database at `url`, such as `postgres://user:password@host:5432/shop`.
    ///
    /// One connection is opened now, so that a wrong URL or password fails here rather than on
    /// the first request. A malformed URL is a validation error on `DATABASE_URL`; a server
    /// that cannot be reached is [`Error::Unavailable`].
    pub async fn connect(url: &str, settings: PostgresSettings) -> Result<Self> {
        Self::connect_with(parse_url("DATABASE_URL", url)?, settings).await
    }

    /// Connects with options built in code rather than parsed from a URL: a CA certificate
    /// for `verify-full`, a password fetched at start-up, a database made for a test.
    pub async fn connect_with(
        options: PgConnectOptions,
        settings: PostgresSettings,
    ) -> Result<Self> {
        let pool = open_pool(options, settings).await?;
        Ok(Self {
            wakeups: Arc::new(TaskWakeups::new(pool.connect_options())),
            reader: pool.clone(),
            reads_from_replica: false,
            settings,
            pool,
        })
    }

    /// Sends the catalogue's shopper reads to the read replica at `url` (`DATABASE_READ_URL`)
    /// through a pool of its own with this database's settings; everything else stays on the
    /// primary.
    ///
    /// One connection is opened now, as by [`connect`](Self::connect). A malformed URL is a
    /// validation error on `DATABASE_READ_URL`; a server that cannot be reached is
    /// [`Error::Unavailable`]. The replica is not migrated, and must serve the same schema.
    pub async fn with_read_replica(self, url: &str) -> Result<Self> {
        self.with_read_replica_options(parse_url("DATABASE_READ_URL", url)?)
            .await
    }

    /// [`with_read_replica`](Self::with_read_replica) with options built in code.
    pub async fn with_read_replica_options(mut self, options: PgConnectOptions) -> Result<Self> {
        self.reader = open_pool(options, self.settings).await?;
        self.reads_from_replica = true;
        Ok(self)
    }

    /// Applies the migrations not yet applied; safe to run from several instances at once.
    ///
    /// sqlx's migrator serialises migrators itself: on PostgreSQL it takes a session-level
    /// `pg_advisory_lock` keyed by the database's name before reading which migrations are
    /// applied, and releases it when done. It runs here on a connection of its own that is
    /// closed afterwards, for two reasons: a failed migration returns without unlocking, and a
    /// pooled connection would then hold the lock until it happened to be closed, stalling
    /// every other instance; and a pooled connection carries the statement timeout, which
    /// would cancel an instance waiting its turn for the lock, or a long index build.
    pub async fn migrate(&self) -> Result<()> {
        // A pool of one rather than a bare connection: `Migrator::run` on `&mut PgConnection`
        // trips a higher-ranked `Send` bound inside `#[async_trait]` plugins; on a pool it
        // does not, and closing the pool closes its one connection all the same.
        let session = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(PgConnectOptions::clone(&self.pool.connect_options()))
            .await
            .map_err(db_error)?;
        let migrated = migrator().run(&session).await;
        // Ends the session, which releases the advisory lock whatever happened above.
        session.close().await;
        migrated.map_err(migrate_error)
    }

    /// Fails unless every migration of this release is applied: a release serving without
    /// applying them (`migrate(false)`, `AUTO_MIGRATE=false`) would otherwise answer 500 to
    /// whatever needs what the missing ones add, while `/ready` passed.
    pub async fn check_migrated(&self) -> Result<()> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .or_else(|error| match &error {
                    // No migration was ever applied here.
                    sqlx::Error::Database(cause) if cause.code().as_deref() == Some("42P01") => {
                        Ok(Vec::new())
                    }
                    _ => Err(db_error(error)),
                })?;
        crate::migrations::all_applied(&migrator(), &applied)
            .map_err(|missing| Error::backend(BACKEND, missing))
    }

    /// The connection pool, for embedders that add tables of their own.
    pub fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    /// The pool the catalogue's shopper reads use: the read replica's, or the same pool as
    /// [`pool`](Self::pool) when there is none. Never write through it.
    pub fn read_pool(&self) -> &Pool<Postgres> {
        &self.reader
    }

    /// The readiness check of the read replica, named `postgres-replica`, or `None` when
    /// there is no replica (the primary's own check then covers every read).
    pub fn replica_readiness(&self) -> Option<Arc<dyn ReadinessCheck>> {
        self.reads_from_replica.then(|| {
            Arc::new(ReplicaReadiness {
                pool: self.reader.clone(),
            }) as Arc<dyn ReadinessCheck>
        })
    }
}

/// Parses a PostgreSQL URL, naming `variable` when it is malformed.
fn parse_url(variable: &'static str, url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| Error::invalid(variable, e.to_string()))
}

/// A pool set up as every pool of this plugin is: sessions named, statements timed out, and
/// one connection opened now so that a wrong address or password fails at start-up.
async fn open_pool(
    mut options: PgConnectOptions,
    settings: PostgresSettings,
) -> Result<Pool<Postgres>> {
    if options.get_application_name().is_none() {
        // Names our sessions in pg_stat_activity, for whoever is looking at a busy server.
        options = options.application_name("commerce-rs");
    }
    // `SET` takes no bind parameters; set_config is the same setting with the value bound.
    let statement_timeout = settings.statement_timeout.as_millis().to_string();
    PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        // sqlx pings every connection it hands out, a round trip before each query or
        // transaction, and again when it takes the connection back. One returned moments ago
        // answered that second ping, so only connections idle long enough for the server or
        // the network to have dropped them are tested: under load that halves the round trips.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |connection, _| {
            let statement_timeout = statement_timeout.clone();
            Box::pin(async move {
                // READ COMMITTED whatever the server's default: checkout runs in autocommit,
                // and its locking relies on it (see `orders.rs`).
                sqlx::query(
                    "SELECT set_config('statement_timeout', $1, false),
                            set_config('default_transaction_isolation', 'read committed', false)",
                )
                .bind(statement_timeout)
                .execute(connection)
                .await
                .map(drop)
            })
        })
        .connect_with(options)
        .await
        .map_err(db_error)
}

async fn select_one(pool: &Pool<Postgres>) -> Result<()> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(drop)
        .map_err(db_error)
}

#[async_trait]
impl ReadinessCheck for PostgresDatabase {
    fn name(&self) -> &'static str {
        BACKEND
    }

    /// The primary only; the replica has a check of its own, so `/ready` names which failed.
    async fn check(&self) -> Result<()> {
        select_one(&self.pool).await
    }
}

/// `/ready`'s check of the read replica: shoppers' catalogue reads fail while it is down.
#[derive(Debug)]
struct ReplicaReadiness {
    pool: Pool<Postgres>,
}

#[async_trait]
impl ReadinessCheck for ReplicaReadiness {
    fn name(&self) -> &'static str {
        REPLICA_CHECK
    }

    async fn check(&self) -> Result<()> {
        select_one(&self.pool).await
    }
}

/// Provides users, tokens, the task queue, the catalogue, carts and orders from one PostgreSQL
/// database.
#[derive(Debug, Clone)]
pub struct PostgresPlugin {
    url: String,
    read_url: Option<String>,
    settings: PostgresSettings,
    migrate: bool,
}

impl PostgresPlugin {
    /// The database at `url` (`postgres://…` or `postgresql://…`), with default settings,
    /// migrated on start.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            read_url: None,
            settings: PostgresSettings::default(),
            migrate: true,
        }
    }

    /// Reads the catalogue for shoppers from the read replica at `url` (`DATABASE_READ_URL`),
    /// through a second pool with the same settings, and adds a readiness check for it. See
    /// [`PostgresDatabase::with_read_replica`].
    pub fn read_url(mut self, url: impl Into<String>) -> Self {
        self.read_url = Some(url.into());
        self
    }

    /// Sets how connections are used (for the replica's pool too).
    pub fn settings(mut self, settings: PostgresSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets the pool size.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.settings.max_connections = max_connections;
        self
    }

    /// Sets how long one statement may run; zero means no limit.
    pub fn statement_timeout(mut self, statement_timeout: Duration) -> Self {
        self.settings.statement_timeout = statement_timeout;
        self
    }

    /// Whether pending migrations are applied on start.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
}

#[async_trait]
impl Plugin for PostgresPlugin {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        let mut database = PostgresDatabase::connect(&self.url, self.settings).await?;
        // Before migrating, so that a wrong replica URL fails without waiting for migrations.
        if let Some(read_url) = &self.read_url {
            database = database.with_read_replica(read_url).await?;
        }
        if self.migrate {
            database.migrate().await?;
        } else {
            database.check_migrated().await?;
        }
        let database = Arc::new(database);
        if let Some(replica) = database.replica_readiness() {
            shop.add_readiness_check(replica);
        }
        shop.provide_user_store(database.clone())
            .provide_token_store(database.clone())
            .provide_task_queue(database.clone())
            .provide_catalog_store(database.clone())
            .provide_cart_store(database.clone())
            .provide_order_store(database.clone())
            .add_readiness_check(database);
        Ok(())
    }
}

fn create(url: &str, config: &Config) -> Result<Box<dyn Plugin>> {
    let mut plugin = PostgresPlugin::new(url)
        .settings(PostgresSettings::from_config(config))
        .migrate(config.auto_migrate);
    if let Some(read_url) = &config.database_read_url {
        plugin = plugin.read_url(read_url.clone());
    }
    Ok(Box::new(plugin))
}

commerce_core::inventory::submit! {
    PluginFactory {
        name: "postgres",
        role: Role::Database,
        schemes: &["postgres", "postgresql"],
        create,
    }
}

/// Converts a sqlx error: an outage (no connection, a server shutting down or overloaded, a
/// statement cancelled by the timeout) is [`Error::Unavailable`], which the API answers with
/// 503; anything else is a failure a retry will not fix.
fn db_error(error: sqlx::Error) -> Error {
    if is_outage(&error) {
        Error::unavailable(BACKEND, error)
    } else {
        Error::backend(BACKEND, error)
    }
}

fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // The conversation broke off: a server, proxy or pooler that hangs up during the
        // start-up handshake surfaces as a protocol error (sqlx reads the closed socket's
        // SSLRequest answer as a zero byte), not as I/O. sqlx drops the connection, and a
        // new one may well succeed.
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_transient_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATE codes (PostgreSQL appendix A) after which the same request may well succeed.
fn is_transient_sqlstate(code: &str) -> bool {
    // 08: connection exceptions; 53: insufficient resources (too many connections, out of
    // memory or disk).
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            // The server is shutting down, crashed, or is still starting.
            "57P01" | "57P02" | "57P03"
            // Cancelled: the statement timeout ran out, so the database is overloaded or a
            // lock is held too long.
            | "57014"
            // Serialisation failure, deadlock: the transaction lost a race and may be rerun.
            | "40001" | "40P01"
            // A lock that could not be had in time.
            | "55P03"
            // A read-only transaction refusing a write: after a failover, a client can still
            // be connected to the former primary, now a replica, until it reconnects.
            | "25006"
            // The server's own system or I/O error.
            | "58000" | "58030"
        )
}

/// Converts a migration error, keeping the failed migration's version in the source; a lost
/// connection while migrating is still an outage.
fn migrate_error(error: MigrateError) -> Error {
    let outage = matches!(
        &error,
        MigrateError::Execute(cause) | MigrateError::ExecuteMigration(cause, _) if is_outage(cause)
    );
    if outage {
        Error::unavailable(BACKEND, error)
    } else {
        Error::backend(BACKEND, error)
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn outages_are_told_apart_from_failures() {
        for code in [
            "08006", "08001", "53300", "57P01", "57014", "40001", "40P01", "55P03", "25006",
            "58030",
        ] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "28P01"] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
        assert!(is_outage(&sqlx::Error::PoolTimedOut));
        assert!(is_outage(&sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x00".into()
        )));
        assert!(!is_outage(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn the_url_built_from_rds_variables_reads_back_as_given() {
        let config = Config::from_lookup(|name| {
            let value = match name {
                "RDS_HOSTNAME" => "db.example.rds.amazonaws.com",
                "RDS_USERNAME" => "shop admin@eu",
                "RDS_PASSWORD" => "p@ss:w/rd%?#",
                "RDS_DB_NAME" => "ebdb",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .unwrap();
        let options = PgConnectOptions::from_str(&config.database_url).unwrap();
        assert_eq!(options.get_host(), "db.example.rds.amazonaws.com");
        assert_eq!(options.get_port(), 5432);
        assert_eq!(options.get_username(), "shop admin@eu");
        assert_eq!(options.get_database(), Some("ebdb"));
    }
}
