//! Users and refresh tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commerce_core::domain::{NewUser, PasswordHash, Timestamp, User, UserId};
use commerce_core::ports::{
    NewRefreshToken, RefreshTokenUse, TokenStore, UserCredentials, UserStore,
};
use commerce_core::{Error, Result};

use super::{PostgresDatabase, db_error, is_unique_violation};

/// The unique constraint on e-mail addresses, named in `migrations/postgres/0001_accounts.sql`.
const EMAIL_CONSTRAINT: &str = "users_email_key_unique";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    is_staff: bool,
    is_active: bool,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            username: row.username,
            email: row.email,
            is_staff: row.is_staff,
            is_active: row.is_active,
            created_at: row.created_at,
        }
    }
}

/// The columns of a [`UserRow`], as a literal so that queries stay static strings.
macro_rules! user_columns {
    () => {
        "id, username, email, is_staff, is_active, created_at"
    };
}

/// The case-insensitive form under which usernames and e-mail addresses are unique: Rust's
/// Unicode lowercasing, as on SQLite, so that both backends agree on what counts as taken.
fn key(text: &str) -> String {
    text.to_lowercase()
}

#[async_trait]
impl UserStore for PostgresDatabase {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        let inserted = sqlx::query_as::<_, UserRow>(concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, is_staff, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            user_columns!()
        ))
        .bind(user.username.as_str())
        .bind(key(user.username.as_str()))
        .bind(user.email.as_str())
        .bind(key(user.email.as_str()))
        .bind(user.password_hash.as_phc())
        .bind(user.is_staff)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(row.into()),
            Err(error) if is_unique_violation(&error) => {
                // PostgreSQL names the violated constraint, which tells the field without a
                // second query. A username clash is reported when both are taken, as the
                // username constraint is the one checked first.
                let email_taken = matches!(
                    &error,
                    sqlx::Error::Database(db) if db.constraint() == Some(EMAIL_CONSTRAINT)
                );
                Err(if email_taken {
                    Error::AlreadyExists {
                        field: "email",
                        message: "a user with that email already exists".into(),
                    }
                } else {
                    Error::AlreadyExists {
                        field: "username",
                        message: "a user with that username already exists".into(),
                    }
                })
            }
            Err(error) => Err(db_error(error)),
        }
    }

    async fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row = sqlx::query_as::<_, Row>(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE username_key = $1"
        ))
        .bind(key(username))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.map(|row| UserCredentials {
            user: row.user.into(),
            password_hash: PasswordHash::from_phc(row.password_hash),
        }))
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.map(User::from))
    }
}

#[async_trait]
impl TokenStore for PostgresDatabase {
    async fn insert_refresh_token(&self, token: NewRefreshToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (jti, family, user_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&token.jti)
        .bind(&token.family)
        .bind(token.user_id.0)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn spend_refresh_token(&self, jti: &str, now: Timestamp) -> Result<RefreshTokenUse> {
        // One statement. A concurrent spend of the same token waits for this row's lock, then
        // re-evaluates the WHERE clause against the committed row (READ COMMITTED), finds it
        // spent and matches nothing: of concurrent spends only one updates.
        let spent: Option<(i64, String)> = sqlx::query_as(
            "UPDATE refresh_tokens SET spent_at = $2
             WHERE jti = $1 AND spent_at IS NULL AND expires_at > $2
               AND family NOT IN (SELECT family FROM revoked_token_families)
             RETURNING user_id, family",
        )
        .bind(jti)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if let Some((user_id, family)) = spent {
            return Ok(RefreshTokenUse::Spent {
                user_id: UserId(user_id),
                family,
            });
        }
        let found: Option<(String, bool, bool)> = sqlx::query_as(
            "SELECT family,
                    spent_at IS NOT NULL,
                    expires_at <= $2 OR family IN (SELECT family FROM revoked_token_families)
             FROM refresh_tokens WHERE jti = $1",
        )
        .bind(jti)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(match found {
            None => RefreshTokenUse::Unknown,
            Some((_, _, true)) => RefreshTokenUse::Revoked,
            Some((family, true, false)) => RefreshTokenUse::AlreadySpent { family },
            // Live and unspent, yet the update missed it: only a concurrent spend between the
            // two statements does that, which makes this presentation the second one.
            Some((family, false, false)) => RefreshTokenUse::AlreadySpent { family },
        })
    }

    async fn revoke_family(&self, family: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_token_families (family, revoked_at) VALUES ($1, $2)
             ON CONFLICT (family) DO NOTHING",
        )
        .bind(family)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64> {
        let purged = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        sqlx::query(
            "DELETE FROM revoked_token_families AS revoked
             WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE family = revoked.family)",
        )
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(purged)
    }
}
