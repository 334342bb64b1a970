//! SQLite: the embedded default database, over sqlx.
//!
//! One file holds users, tokens, the catalogue, carts, orders and the task queue. The pool runs in WAL mode (readers never
//! wait for the writer), waits up to five seconds for a busy database instead of failing, and
//! enforces foreign keys. Migrations live in `migrations/sqlite/` at the workspace root.

mod accounts;
mod catalog;
mod orders;
mod queue;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::ReadinessCheck;
use commerce_core::{Error, Plugin, Result, ShopBuilder};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

const BACKEND: &str = "sqlite";

/// The migrations, as a migrator that starts against a database a newer release has migrated
/// further. During a rollback, or a rolling deploy, the previous release's instances start on
/// a schema with migrations they do not know; those only add what the previous release does
/// not use (`docs/deploy.md`), so refusing to start would take the fleet down for nothing. A
/// migration it knows whose file differs from the one applied is still refused.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../migrations/sqlite");
    migrator.set_ignore_missing(true);
    migrator
}

/// A SQLite database implementing the account, token, catalogue and task-queue ports.
#[derive(Clone, Debug)]
pub struct SqliteDatabase {
    pool: Pool<Sqlite>,
}

impl SqliteDatabase {
    /// Opens (creating the file and its directory if missing) the database at `url`, such as
    /// `sqlite://data/shop.db`, with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::invalid("DATABASE_URL", e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(directory) = options.get_filename().parent()
            && !directory.as_os_str().is_empty()
        {
            std::fs::create_dir_all(directory).map_err(|e| Error::unavailable(BACKEND, e))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            // A file has no network to drop a connection: sqlx's ping before each use would
            // only be a hand-off to the connection's thread and back.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Ok(Self { pool })
    }

    /// Applies the migrations not yet applied.
    pub async fn migrate(&self) -> Result<()> {
        migrator()
            .run(&self.pool)
            .await
            .map_err(|e| Error::backend(BACKEND, e))
    }

    /// Fails unless every migration of this release is applied: a release serving without
    /// applying them (`migrate(false)`, `AUTO_MIGRATE=false`) would otherwise answer 500 to
    /// whatever needs what the missing ones add, while `/ready` passed.
    pub async fn check_migrated(&self) -> Result<()> {
        let recorded: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let applied: Vec<i64> = if recorded {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
        } else {
            Vec::new()
        };
        crate::migrations::all_applied(&migrator(), &applied)
            .map_err(|missing| Error::backend(BACKEND, missing))
    }

    /// The connection pool, for embedders that add tables of their own.
    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }
}

#[async_trait]
impl ReadinessCheck for SqliteDatabase {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn check(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(db_error)
    }
}

/// Provides users, tokens, the catalogue and the task queue from one SQLite database.
#[derive(Debug, Clone)]
pub struct SqlitePlugin {
    url: String,
    max_connections: u32,
    migrate: bool,
}

impl SqlitePlugin {
    /// The database at `url` (`sqlite://path/to/file.db`), migrated on start.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            migrate: true,
        }
    }

    /// Sets the pool size.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Whether pending migrations are applied on start.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
}

#[async_trait]
impl Plugin for SqlitePlugin {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        let database = Arc::new(SqliteDatabase::connect(&self.url, self.max_connections).await?);
        if self.migrate {
            database.migrate().await?;
        } else {
            database.check_migrated().await?;
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
    Ok(Box::new(
        SqlitePlugin::new(url)
            .max_connections(config.database_max_connections)
            .migrate(config.auto_migrate),
    ))
}

commerce_core::inventory::submit! {
    PluginFactory { name: "sqlite", role: Role::Database, schemes: &["sqlite"], create }
}

/// Converts a sqlx error: lost or exhausted connections, a locked database and a machine short
/// of resources are worth a retry; anything else is a failure.
fn db_error(error: sqlx::Error) -> Error {
    // Primary result codes, which the extended ones (517, 261, 266, …) carry in their low
    // byte: SQLITE_BUSY (5) and SQLITE_LOCKED (6), another connection holds the lock;
    // SQLITE_NOMEM (7), SQLITE_IOERR (10), SQLITE_FULL (13) and SQLITE_CANTOPEN (14, out of
    // file handles, say), the machine is short of something that may come back.
    let transient = match &error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 7 | 10 | 13 | 14)),
        _ => false,
    };
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => Error::unavailable(BACKEND, error),
        _ if transient => Error::unavailable(BACKEND, error),
        _ => Error::backend(BACKEND, error),
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}
