//! The reference commerce-rs shop: every default plugin behind one HTTP server.
//!
//! ```text
//! cargo run -p reference-shop                  # serve on 0.0.0.0:8000 (SQLite under ./data/)
//! cargo run -p reference-shop -- migrate       # apply database migrations and exit
//! cargo run -p reference-shop -- openapi       # print the OpenAPI document
//! cargo run -p reference-shop -- create-admin --username U --email E
//! cargo run -p reference-shop -- seed-demo --products 1000000 --categories 50
//! cargo run -p reference-shop -- reindex                # rebuild the search index
//! cargo run -p reference-shop -- tasks                  # list buried background tasks
//! cargo run -p reference-shop -- tasks requeue 17 18    # give them more attempts
//! cargo run -p reference-shop -- tasks discard 19       # delete one for good
//! ```
//!
//! Backends are chosen from the environment by URL scheme (see docs/configuration.md).

mod seed;

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use commerce_core::config::{Config, LogFormat};
use commerce_core::domain::TaskId;
use commerce_core::ports::TaskQueue;
use commerce_core::services::Registration;
use commerce_core::{BuildError, Shop, ShopBuilder};
use poem::listener::TcpListener;
// The plugins register themselves with `inventory`; naming the crate keeps it linked.
use commerce_plugins as _;

#[derive(Parser)]
#[command(version, about = "The reference commerce-rs shop")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the shop over HTTP (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Fill the catalogue with generated demo categories and products, then index them.
    SeedDemo {
        /// How many products to add.
        #[arg(long, default_value_t = 1_000)]
        products: u64,
        /// How many categories to spread them over.
        #[arg(long, default_value_t = 30)]
        categories: u64,
    },
    /// Rebuild the search index from the database.
    Reindex,
    /// List the background tasks given up on, or give them more attempts.
    Tasks {
        #[command(subcommand)]
        action: Option<TasksCommand>,
    },
    /// Create a staff user; the password comes from ADMIN_PASSWORD or the first line of stdin.
    CreateAdmin {
        /// The staff user's login name.
        #[arg(long)]
        username: String,
        /// The staff user's e-mail address.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum TasksCommand {
    /// List buried tasks, the latest first, with their last error (the default).
    Buried {
        /// How many to list at most.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Give buried tasks more attempts, the first at once.
    Requeue {
        #[command(flatten)]
        tasks: BuriedTaskIds,
        /// How many more tries each task gets.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        attempts: u32,
    },
    /// Delete buried tasks, for good: those no fix will let succeed.
    Discard {
        #[command(flatten)]
        tasks: BuriedTaskIds,
        /// Confirms `--all`, which deletes every buried task.
        #[arg(long, requires = "all")]
        yes: bool,
    },
}

/// The buried tasks a command acts on.
#[derive(clap::Args)]
struct BuriedTaskIds {
    /// The tasks' ids, as `tasks buried` lists them.
    #[arg(required_unless_present = "all")]
    ids: Vec<i64>,
    /// Every buried task.
    #[arg(long, conflicts_with = "ids")]
    all: bool,
}

impl BuriedTaskIds {
    async fn resolve(self, queue: &dyn TaskQueue) -> commerce_core::Result<Vec<TaskId>> {
        if self.all {
            let buried = queue.buried(usize::MAX).await?;
            Ok(buried.into_iter().map(|task| task.id).collect())
        } else {
            Ok(self.ids.into_iter().map(TaskId).collect())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", commerce_core::api::spec_json::<()>());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format, &command);
    match run(command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        // A setting only a plugin can read is told as the settings `Config` reads are.
        Err(error)
            if error
                .downcast_ref::<BuildError>()
                .is_some_and(BuildError::is_configuration) =>
        {
            eprintln!("configuration error: {error:#}");
            ExitCode::from(2)
        }
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            config.auto_migrate = true;
            build(config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::CreateAdmin { username, email } => {
            let password = match std::env::var("ADMIN_PASSWORD") {
                Ok(password) => password,
                Err(_) => read_password_line()?,
            };
            let shop = build(config).await?;
            let user = shop
                .auth()
                .create_staff(Registration {
                    username,
                    email,
                    password,
                })
                .await?;
            tracing::info!(id = %user.id, username = %user.username, "staff user created");
            Ok(())
        }
        Command::SeedDemo {
            products,
            categories,
        } => seed::seed_demo(&build(config).await?, products, categories).await,
        Command::Reindex => {
            let through = build(config).await?.catalog().indexer().rebuild().await?;
            tracing::info!(through, "search index rebuilt");
            Ok(())
        }
        Command::Tasks { action } => {
            let action = action.unwrap_or(TasksCommand::Buried { limit: 50 });
            // Refused before the shop is assembled, which connects to everything and opens
            // (and may rebuild) the search index.
            if let TasksCommand::Discard { tasks, yes: false } = &action
                && tasks.all
            {
                anyhow::bail!(
                    "`tasks discard --all` deletes every buried task for good; `tasks` lists \
                     them, and `--yes` confirms"
                );
            }
            tasks(&build(config).await?, action).await
        }
        Command::Openapi => Ok(()),
    }
}

async fn tasks(shop: &Shop, action: TasksCommand) -> anyhow::Result<()> {
    let queue = shop.jobs().port();
    match action {
        TasksCommand::Buried { limit } => {
            for task in queue.buried(limit).await? {
                println!(
                    "{}\t{}\t{} attempts\tburied {}\t{}\t{}",
                    task.id,
                    task.job,
                    task.attempts,
                    task.buried_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    task.last_error.as_deref().unwrap_or("-"),
                    task.payload,
                );
            }
        }
        TasksCommand::Requeue { tasks, attempts } => {
            let ids = tasks.resolve(queue.as_ref()).await?;
            let requeued = queue.requeue(&ids, chrono::Utc::now(), attempts).await?;
            report(requeued, ids.len(), "requeued");
        }
        TasksCommand::Discard { tasks, .. } => {
            let ids = tasks.resolve(queue.as_ref()).await?;
            let discarded = queue.discard(&ids).await?;
            report(discarded, ids.len(), "discarded");
        }
    }
    Ok(())
}

fn report(done: u64, asked: usize, what: &str) {
    println!("{done} of {asked} tasks {what}");
    if done < asked as u64 {
        eprintln!("the others were not buried: done, waiting, or unknown");
    }
}

async fn build(config: Config) -> anyhow::Result<Shop> {
    let builder = ShopBuilder::from_registry(config).await?;
    Ok(builder.build()?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a random secret, so tokens die with this process; \
             set it (and COMMERCE_ENV=production) for any real deployment"
        );
    }
    let address = format!("{}:{}", config.host, config.port);
    let port = config.port;
    let shop = build(config).await?;
    tracing::info!(plugins = ?shop.plugins(), "shop assembled");
    tracing::info!("serving on http://{address}; API docs at http://localhost:{port}/docs");
    shop.run(TcpListener::bind(address.clone()), shutdown_signal())
        .await
        .with_context(|| format!("serving on {address}"))
}

/// Completes on Ctrl-C or SIGTERM (what Elastic Beanstalk and most orchestrators send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight (Ctrl-C again to stop at once)");
    // Finishing can take a while (a mail batch waiting on its SMTP timeouts): whoever is at
    // the terminal may not want to wait for it.
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("stopping at once: work in flight is abandoned");
            std::process::exit(130);
        }
    });
}

fn read_password_line() -> anyhow::Result<String> {
    eprintln!("password (one line on stdin):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The log filter when `RUST_LOG` is unset or unreadable. tantivy warns whenever a merge ends
/// after a commit dropped the segments it merged, all their documents having been replaced:
/// in a busy shop whose orders re-index the same products' stock, more than once a second. It
/// discards that merge and carries on, so to an operator the warning is only noise.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tantivy::indexer::segment_manager=error";

fn init_logging(format: LogFormat, command: &Command) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // The server logs to stdout, where Elastic Beanstalk collects it; the other commands keep
    // stdout for what they print (`tasks`), and log beside it.
    let writer = match command {
        Command::Serve => BoxMakeWriter::new(std::io::stdout),
        _ => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
