//! Typed configuration, read from the environment and checked before anything starts.
//!
//! Every setting is an environment variable (twelve-factor, as Elastic Beanstalk provides
//! them). A missing or malformed value is a [`ConfigError`] naming the variable, so a bad
//! deployment stops at start-up with one clear line instead of failing on the first request.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::domain::Currency;
use crate::services::{LoginLimit, TokenSettings};

/// The shortest accepted `JWT_SECRET`: HS256 wants a key of at least its output size.
const MIN_SECRET_BYTES: usize = 32;

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it, and what would be right.
    pub message: String,
}

/// Where the shop runs: development relaxes what production requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local work: a random JWT secret is generated when none is set.
    Development,
    /// A deployment: every secret must be given.
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The whole configuration of a shop.
#[derive(Debug, Clone)]
pub struct Config {
    /// `COMMERCE_ENV`: `development` (default) or `production`.
    pub environment: Environment,
    /// `HOST`: the address to listen on; default `0.0.0.0`.
    pub host: IpAddr,
    /// `PORT`: the port to listen on; default 8000.
    pub port: u16,
    /// `DATABASE_URL`: picks the database plugin by scheme; default `sqlite://data/shop.db`.
    /// Unset on Elastic Beanstalk with an attached RDS database, it is built from
    /// `RDS_HOSTNAME`, `RDS_PORT` (default 5432), `RDS_DB_NAME`, `RDS_USERNAME` and
    /// `RDS_PASSWORD` as `postgres://…`.
    pub database_url: String,
    /// `DATABASE_READ_URL`: a read replica of `DATABASE_URL`, or `None` (the default) to read
    /// everything from `DATABASE_URL`. Must be a URL of the same scheme family as
    /// `DATABASE_URL` (`postgres` and `postgresql` are one family). PostgreSQL sends the
    /// catalogue reads that serve shoppers there (categories, products, product lists);
    /// every write, the change log, the search indexer's reads, carts, orders and checkout
    /// stay on `DATABASE_URL`. A replica lags its primary, so those reads may see a
    /// catalogue slightly older than the last write. SQLite ignores it.
    pub database_read_url: Option<String>,
    /// `DATABASE_MAX_CONNECTIONS`: the connection pool's size; default 8.
    pub database_max_connections: u32,
    /// `DATABASE_STATEMENT_TIMEOUT_MS`: how long one statement may run before a server
    /// database cancels it; default 5000 ms, 0 for no limit. Ignored by SQLite.
    pub database_statement_timeout: Duration,
    /// `AUTO_MIGRATE`: apply pending migrations on `serve`; default true.
    pub auto_migrate: bool,
    /// `REDIS_URL`: a shared cache; without it an in-process cache is used.
    pub redis_url: Option<String>,
    /// `SMTP_URL`: where mail goes; without it mail is written to the log.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`: the sender of the shop's mail, as `shop@example.com` or
    /// `Example Shop <shop@example.com>`; a mail plugin that sends real mail requires it and
    /// checks its form.
    pub mail_from: Option<String>,
    /// `SEARCH_BACKEND`: the search index plugin, by name; default `tantivy`.
    pub search_backend: String,
    /// `SEARCH_INDEX_PATH`: where an embedded search index keeps its files; default
    /// `data/search`.
    pub search_index_path: String,
    /// `JWT_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL_SECONDS`,
    /// `REFRESH_TOKEN_TTL_SECONDS`.
    pub tokens: TokenSettings,
    /// `LOGIN_ATTEMPTS` (default 10), `LOGIN_ACCOUNT_ATTEMPTS` (default 100),
    /// `AUTH_CLIENT_ATTEMPTS` (default 0), each 0 for no limit, and `LOGIN_WINDOW_SECONDS`
    /// (default 900): how many logins one account may attempt per window from one client
    /// address, and from all together, and how many logins and registrations one client
    /// address may attempt whatever the accounts, before the rest are refused.
    pub login_limit: LoginLimit,
    /// `TRUSTED_PROXY_HOPS`: how many reverse proxies in front of the shop append the address
    /// they received a request from to `X-Forwarded-For`; default 0, the peer is the client.
    pub trusted_proxy_hops: u8,
    /// True when `JWT_SECRET` was not set and a random one was made (development only).
    pub jwt_secret_generated: bool,
    /// `MAX_BODY_BYTES`: the largest request body accepted; default 256 KiB.
    pub max_body_bytes: usize,
    /// `REQUEST_TIMEOUT_SECONDS`: how long a request may take before it is answered with 503
    /// and its work abandoned; default 30, `0` for no limit.
    pub request_timeout: Option<Duration>,
    /// `CURRENCY`: the ISO 4217 currency of every price; default USD.
    pub currency: Currency,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which answers a variable's value by name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let environment = env.parse_or("COMMERCE_ENV", Environment::Development)?;
        let (secret, jwt_secret_generated) = match env.get("JWT_SECRET") {
            Some(secret) if secret.len() >= MIN_SECRET_BYTES => (secret.into_bytes(), false),
            Some(_) => {
                return Err(ConfigError {
                    variable: "JWT_SECRET",
                    message: format!("must be at least {MIN_SECRET_BYTES} bytes long"),
                });
            }
            None if environment == Environment::Development => (random_secret(), true),
            None => {
                return Err(ConfigError {
                    variable: "JWT_SECRET",
                    message: "is required when COMMERCE_ENV=production".into(),
                });
            }
        };
        let tokens = TokenSettings {
            secret,
            issuer: env
                .get("JWT_ISSUER")
                .unwrap_or_else(|| "commerce-rs".into()),
            audience: env
                .get("JWT_AUDIENCE")
                .unwrap_or_else(|| "commerce-rs-api".into()),
            access_ttl: env.seconds_or("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?,
            refresh_ttl: env.seconds_or("REFRESH_TOKEN_TTL_SECONDS", 7 * 24 * 60 * 60)?,
        };
        let database_url = match env.get("DATABASE_URL") {
            Some(url) => url,
            None => match rds_database_url(&env)? {
                Some(url) => url,
                None => "sqlite://data/shop.db".into(),
            },
        };
        if !database_url.contains("://") {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                message: "must be a URL such as sqlite://data/shop.db or postgres://host/db".into(),
            });
        }
        let database_read_url = env.get("DATABASE_READ_URL");
        if let Some(read_url) = &database_read_url {
            check_read_url(&database_url, read_url)?;
        }
        Ok(Self {
            environment,
            host: env.parse_or("HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: env.parse_or("PORT", 8000)?,
            database_url,
            database_read_url,
            database_max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 8)?,
            database_statement_timeout: statement_timeout(&env)?,
            auto_migrate: env.parse_or("AUTO_MIGRATE", true)?,
            redis_url: env.get("REDIS_URL"),
            smtp_url: env.get("SMTP_URL"),
            mail_from: env.get("MAIL_FROM"),
            search_backend: env
                .get("SEARCH_BACKEND")
                .unwrap_or_else(|| "tantivy".into()),
            search_index_path: env
                .get("SEARCH_INDEX_PATH")
                .unwrap_or_else(|| "data/search".into()),
            tokens,
            login_limit: LoginLimit {
                attempts: env.parse_or("LOGIN_ATTEMPTS", LoginLimit::default().attempts)?,
                account_attempts: env.parse_or(
                    "LOGIN_ACCOUNT_ATTEMPTS",
                    LoginLimit::default().account_attempts,
                )?,
                client_attempts: env.parse_or(
                    "AUTH_CLIENT_ATTEMPTS",
                    LoginLimit::default().client_attempts,
                )?,
                window: login_window(&env)?,
            },
            trusted_proxy_hops: env.parse_or("TRUSTED_PROXY_HOPS", 0)?,
            jwt_secret_generated,
            max_body_bytes: env.parse_or("MAX_BODY_BYTES", 256 * 1024)?,
            request_timeout: request_timeout(&env)?,
            currency: env.parse_or("CURRENCY", Currency::USD)?,
            log_format: env.parse_or("LOG_FORMAT", LogFormat::Text)?,
        })
    }
}

/// Checks that `DATABASE_READ_URL` is a URL for the same kind of database as `DATABASE_URL`:
/// a replica is read by the database plugin `DATABASE_URL` chose, which speaks one protocol.
fn check_read_url(database_url: &str, read_url: &str) -> Result<(), ConfigError> {
    let error = |message: String| ConfigError {
        variable: "DATABASE_READ_URL",
        message,
    };
    let Some(read_family) = scheme_family(read_url) else {
        return Err(error(
            "must be a URL such as postgres://replica-host/db".into(),
        ));
    };
    // DATABASE_URL was checked to contain "://" already; an empty scheme matches nothing.
    let primary_family = scheme_family(database_url).unwrap_or_default();
    if read_family != primary_family {
        return Err(error(format!(
            "must be a {primary_family}:// URL like DATABASE_URL (got a {read_family}:// URL)"
        )));
    }
    Ok(())
}

/// The scheme of a database URL with aliases folded together (`postgresql` is `postgres`), or
/// `None` when `url` has no non-empty `scheme://`. Schemes are compared exactly, as the plugin
/// registry matches them.
fn scheme_family(url: &str) -> Option<&str> {
    match url.split_once("://")? {
        ("", _) => None,
        ("postgresql", _) => Some("postgres"),
        (scheme, _) => Some(scheme),
    }
}

/// The PostgreSQL URL of the RDS database Elastic Beanstalk describes in `RDS_*` variables, or
/// `None` when `RDS_HOSTNAME` is unset (no database attached).
fn rds_database_url(env: &Env<'_>) -> Result<Option<String>, ConfigError> {
    let Some(host) = env.get("RDS_HOSTNAME") else {
        return Ok(None);
    };
    let required = |variable: &'static str| {
        env.get(variable).ok_or_else(|| ConfigError {
            variable,
            message: "is required when RDS_HOSTNAME is set and DATABASE_URL is not".into(),
        })
    };
    let username = required("RDS_USERNAME")?;
    let password = required("RDS_PASSWORD")?;
    let database = required("RDS_DB_NAME")?;
    let port: u16 = env.parse_or("RDS_PORT", 5432)?;
    Ok(Some(format!(
        "postgres://{}:{}@{}:{port}/{}",
        percent_encode(&username),
        percent_encode(&password),
        host.trim(),
        percent_encode(&database),
    )))
}

/// `DATABASE_STATEMENT_TIMEOUT_MS`, which PostgreSQL takes as a 32-bit count of milliseconds:
/// a larger one would fail every new connection, and start-up with it as an unreachable
/// database rather than naming the variable.
fn statement_timeout(env: &Env<'_>) -> Result<Duration, ConfigError> {
    let variable = "DATABASE_STATEMENT_TIMEOUT_MS";
    let millis: u64 = env.parse_or(variable, 5000)?;
    if millis > i32::MAX as u64 {
        return Err(ConfigError {
            variable,
            message: format!("must be at most {} (about 24 days)", i32::MAX),
        });
    }
    Ok(Duration::from_millis(millis))
}

/// The longest `REQUEST_TIMEOUT_SECONDS`: no request of the shop's should take longer, and the
/// proxies in front of it give up far sooner.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60 * 60);

fn request_timeout(env: &Env<'_>) -> Result<Option<Duration>, ConfigError> {
    let variable = "REQUEST_TIMEOUT_SECONDS";
    let seconds: u64 = env.parse_or(variable, 30)?;
    let timeout = Duration::from_secs(seconds);
    if timeout > MAX_REQUEST_TIMEOUT {
        return Err(ConfigError {
            variable,
            message: format!(
                "must be at most {} (an hour), or 0 for no limit",
                MAX_REQUEST_TIMEOUT.as_secs()
            ),
        });
    }
    Ok((seconds > 0).then_some(timeout))
}

/// The longest `LOGIN_WINDOW_SECONDS`: a lockout longer than a week is a mistake, not a policy.
const MAX_LOGIN_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn login_window(env: &Env<'_>) -> Result<Duration, ConfigError> {
    let variable = "LOGIN_WINDOW_SECONDS";
    let window = env.seconds_or(variable, LoginLimit::default().window.as_secs())?;
    if window > MAX_LOGIN_WINDOW {
        return Err(ConfigError {
            variable,
            message: format!("must be at most {} (a week)", MAX_LOGIN_WINDOW.as_secs()),
        });
    }
    Ok(window)
}

/// Escapes everything but RFC 3986's unreserved characters, so that a generated password
/// holding `@`, `:`, `/` or `%` stays one URL component.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Variable look-ups that turn a bad value into a [`ConfigError`] naming the variable.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The value without surrounding white space, empty counting as unset (as platforms
    /// often leave them).
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    fn parse_or<T>(&self, variable: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(variable) {
            None => Ok(default),
            Some(text) => text.trim().parse().map_err(|e| ConfigError {
                variable,
                message: format!("{e} (got {text:?})"),
            }),
        }
    }

    fn seconds_or(&self, variable: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let seconds: u64 = self.parse_or(variable, default)?;
        if seconds == 0 {
            return Err(ConfigError {
                variable,
                message: "must be a positive number of seconds".into(),
            });
        }
        Ok(Duration::from_secs(seconds))
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            _ => Err("expected `development` or `production`".into()),
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected `text` or `json`".into()),
        }
    }
}

fn random_secret() -> Vec<u8> {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(2 * MIN_SECRET_BYTES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_serve_a_development_shop() {
        let config = config(&[]).unwrap();
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(config.port, 8000);
        assert_eq!(config.database_url, "sqlite://data/shop.db");
        assert!(config.jwt_secret_generated);
        assert_eq!(config.tokens.access_ttl, Duration::from_secs(900));
    }

    #[test]
    fn production_requires_a_long_secret() {
        let error = config(&[("COMMERCE_ENV", "production")]).unwrap_err();
        assert_eq!(error.variable, "JWT_SECRET");
        let error = config(&[("JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(error.variable, "JWT_SECRET");
        let secret = "s".repeat(32);
        let config = config(&[("COMMERCE_ENV", "production"), ("JWT_SECRET", &secret)]).unwrap();
        assert!(!config.jwt_secret_generated);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("HOST", "localhost:80"),
            ("COMMERCE_ENV", "staging"),
            ("ACCESS_TOKEN_TTL_SECONDS", "0"),
            ("LOG_FORMAT", "xml"),
            ("CURRENCY", "dollars"),
            ("DATABASE_URL", "shop.db"),
            ("AUTO_MIGRATE", "maybe"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "5s"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "2147483648"),
            ("LOGIN_ATTEMPTS", "-1"),
            ("LOGIN_ACCOUNT_ATTEMPTS", "many"),
            ("AUTH_CLIENT_ATTEMPTS", "1e3"),
            ("TRUSTED_PROXY_HOPS", "-1"),
            ("TRUSTED_PROXY_HOPS", "256"),
            ("LOGIN_WINDOW_SECONDS", "0"),
            ("LOGIN_WINDOW_SECONDS", "10000000000000000000"),
            ("LOGIN_WINDOW_SECONDS", "604801"),
            ("DATABASE_READ_URL", "replica.example.com"),
            ("REQUEST_TIMEOUT_SECONDS", "-1"),
            ("REQUEST_TIMEOUT_SECONDS", "3601"),
            ("DATABASE_READ_URL", "postgres://replica.example.com/shop"),
        ] {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
        }
    }

    #[test]
    fn statement_timeout_is_in_milliseconds() {
        let default = config(&[]).unwrap();
        assert_eq!(default.database_statement_timeout, Duration::from_secs(5));
        let set = config(&[("DATABASE_STATEMENT_TIMEOUT_MS", "250")]).unwrap();
        assert_eq!(set.database_statement_timeout, Duration::from_millis(250));
        let unlimited = config(&[("DATABASE_STATEMENT_TIMEOUT_MS", "0")]).unwrap();
        assert_eq!(unlimited.database_statement_timeout, Duration::ZERO);
    }

    #[test]
    fn requests_time_out_after_thirty_seconds_unless_told_otherwise() {
        let default = config(&[]).unwrap();
        assert_eq!(default.request_timeout, Some(Duration::from_secs(30)));
        let set = config(&[("REQUEST_TIMEOUT_SECONDS", "5")]).unwrap();
        assert_eq!(set.request_timeout, Some(Duration::from_secs(5)));
        let unlimited = config(&[("REQUEST_TIMEOUT_SECONDS", "0")]).unwrap();
        assert_eq!(unlimited.request_timeout, None);
    }

    #[test]
    fn login_limit_defaults_to_ten_attempts_per_fifteen_minutes() {
        assert_eq!(config(&[]).unwrap().login_limit, LoginLimit::default());
        assert_eq!(
            LoginLimit::default(),
            LoginLimit {
                attempts: 10,
                account_attempts: 100,
                client_attempts: 0,
                window: Duration::from_secs(900)
            }
        );
        let set = config(&[
            ("LOGIN_ATTEMPTS", "0"),
            ("LOGIN_ACCOUNT_ATTEMPTS", "0"),
            ("AUTH_CLIENT_ATTEMPTS", "50"),
            ("LOGIN_WINDOW_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(set.login_limit.attempts, 0);
        assert_eq!(set.login_limit.account_attempts, 0);
        assert_eq!(set.login_limit.client_attempts, 50);
        assert_eq!(set.login_limit.window, Duration::from_secs(60));
    }

    #[test]
    fn no_proxy_is_trusted_unless_configured() {
        assert_eq!(config(&[]).unwrap().trusted_proxy_hops, 0);
        let behind_two = config(&[("TRUSTED_PROXY_HOPS", "2")]).unwrap();
        assert_eq!(behind_two.trusted_proxy_hops, 2);
    }

    const RDS: [(&str, &str); 4] = [
        ("RDS_HOSTNAME", "shop.abc123.eu-west-1.rds.amazonaws.com"),
        ("RDS_USERNAME", "shop"),
        ("RDS_PASSWORD", "s3cret"),
        ("RDS_DB_NAME", "ebdb"),
    ];

    #[test]
    fn elastic_beanstalk_rds_variables_make_a_postgres_url() {
        assert_eq!(
            config(&RDS).unwrap().database_url,
            "postgres://shop:s3cret@shop.abc123.eu-west-1.rds.amazonaws.com:5432/ebdb"
        );
        let with_port = [RDS.as_slice(), &[("RDS_PORT", "6543")]].concat();
        assert!(
            config(&with_port)
                .unwrap()
                .database_url
                .ends_with(".com:6543/ebdb")
        );
    }

    #[test]
    fn rds_credentials_are_percent_encoded() {
        let vars = [
            RDS[0],
            ("RDS_USERNAME", "shop admin"),
            ("RDS_PASSWORD", "p@ss:w/rd%?#é"),
            RDS[3],
        ];
        let url = config(&vars).unwrap().database_url;
        assert_eq!(
            url,
            "postgres://shop%20admin:p%40ss%3Aw%2Frd%25%3F%23%C3%A9@\
             shop.abc123.eu-west-1.rds.amazonaws.com:5432/ebdb"
        );
    }

    #[test]
    fn database_url_wins_over_rds_variables() {
        let vars = [
            RDS.as_slice(),
            &[("DATABASE_URL", "postgres://elsewhere/shop")],
        ]
        .concat();
        assert_eq!(
            config(&vars).unwrap().database_url,
            "postgres://elsewhere/shop"
        );
    }

    #[test]
    fn missing_rds_variables_are_named() {
        for missing in ["RDS_USERNAME", "RDS_PASSWORD", "RDS_DB_NAME"] {
            let vars: Vec<_> = RDS.into_iter().filter(|(k, _)| *k != missing).collect();
            let error = config(&vars).unwrap_err();
            assert_eq!(error.variable, missing);
        }
        let bad_port = [RDS.as_slice(), &[("RDS_PORT", "postgres")]].concat();
        assert_eq!(config(&bad_port).unwrap_err().variable, "RDS_PORT");
    }

    #[test]
    fn read_url_is_unset_by_default() {
        assert_eq!(config(&[]).unwrap().database_read_url, None);
        let blank = config(&[("DATABASE_READ_URL", "  ")]).unwrap();
        assert_eq!(blank.database_read_url, None);
    }

    #[test]
    fn read_url_shares_the_scheme_family_of_database_url() {
        for (primary, replica) in [
            ("postgres://primary/shop", "postgres://replica/shop"),
            ("postgres://primary/shop", "postgresql://replica/shop"),
            ("postgresql://primary/shop", "postgres://replica/shop"),
            // SQLite accepts and ignores it.
            ("sqlite://data/shop.db", "sqlite://data/copy.db"),
        ] {
            let config = config(&[("DATABASE_URL", primary), ("DATABASE_READ_URL", replica)])
                .unwrap_or_else(|e| panic!("{primary} with {replica}: {e}"));
            assert_eq!(config.database_read_url.as_deref(), Some(replica));
        }
        let trimmed = config(&[
            ("DATABASE_URL", "postgres://primary/shop"),
            ("DATABASE_READ_URL", " postgres://replica/shop\n"),
        ])
        .unwrap();
        assert_eq!(
            trimmed.database_read_url.as_deref(),
            Some("postgres://replica/shop")
        );
    }

    #[test]
    fn a_read_url_of_another_kind_is_refused() {
        for (primary, replica) in [
            ("postgres://primary/shop", "sqlite://data/shop.db"),
            ("postgres://primary/shop", "mysql://replica/shop"),
            ("postgres://primary/shop", "replica.example.com:5432"),
            ("postgres://primary/shop", "://replica/shop"),
            ("sqlite://data/shop.db", "postgres://replica/shop"),
        ] {
            let error =
                config(&[("DATABASE_URL", primary), ("DATABASE_READ_URL", replica)]).unwrap_err();
            assert_eq!(error.variable, "DATABASE_READ_URL", "{replica}");
        }
        let error = config(&[
            ("DATABASE_URL", "postgres://primary/shop"),
            ("DATABASE_READ_URL", "sqlite://data/shop.db"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "DATABASE_READ_URL: must be a postgres:// URL like DATABASE_URL (got a sqlite:// URL)"
        );
    }

    #[test]
    fn a_read_url_follows_a_database_url_built_from_rds_variables() {
        let vars = [
            RDS.as_slice(),
            &[(
                "DATABASE_READ_URL",
                "postgres://shop:s3cret@shop-replica.abc123.eu-west-1.rds.amazonaws.com/ebdb",
            )],
        ]
        .concat();
        let config = config(&vars).unwrap();
        assert!(config.database_url.starts_with("postgres://"));
        assert!(config.database_read_url.is_some());
    }
}
