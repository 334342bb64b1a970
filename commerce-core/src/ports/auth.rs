//! Users, their credentials, and the refresh tokens issued to them.

use async_trait::async_trait;

use crate::domain::{NewUser, PasswordHash, Timestamp, User, UserId};
use crate::error::Result;

/// A user with the hash to check a password against.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The account.
    pub user: User,
    /// The stored hash of its password.
    pub password_hash: PasswordHash,
}

/// Stores user accounts.
///
/// Usernames and e-mail addresses are unique regardless of case: `Alice` and `alice` are one
/// user. A store enforces that itself (a unique index), so that two concurrent registrations
/// cannot both succeed.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates the user.
    ///
    /// Fails with [`Error::AlreadyExists`](crate::Error::AlreadyExists) naming `username` or
    /// `email` when either is taken, compared case-insensitively.
    async fn create_user(&self, user: NewUser) -> Result<User>;

    /// The user with this username (compared case-insensitively) and its password hash.
    async fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>>;

    /// The user with this id.
    async fn find_user(&self, id: UserId) -> Result<Option<User>>;
}

/// A refresh token to remember, by its JWT id.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// The token's `jti` claim.
    pub jti: String,
    /// The family: every token rotated from one login shares it.
    pub family: String,
    /// The user it was issued to.
    pub user_id: UserId,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// What became of a refresh token presented for use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshTokenUse {
    /// It was live and is now spent; the caller may issue its successor in `family`.
    Spent {
        /// The user it belongs to.
        user_id: UserId,
        /// Its family.
        family: String,
    },
    /// It had been spent before: someone is replaying it.
    AlreadySpent {
        /// Its family, which the caller should revoke.
        family: String,
    },
    /// Its family was revoked (logout or detected theft), or it expired.
    Revoked,
    /// No such token was ever issued here.
    Unknown,
}

/// Remembers refresh tokens so they can be rotated once and revoked.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Remembers a newly issued refresh token.
    async fn insert_refresh_token(&self, token: NewRefreshToken) -> Result<()>;

    /// Spends the token with this `jti`, atomically: of any number of concurrent calls for one
    /// token, at most one answers [`RefreshTokenUse::Spent`].
    async fn spend_refresh_token(&self, jti: &str, now: Timestamp) -> Result<RefreshTokenUse>;

    /// Revokes every token of the family; later uses answer [`RefreshTokenUse::Revoked`].
    async fn revoke_family(&self, family: &str, now: Timestamp) -> Result<()>;

    /// Forgets tokens that expired before `now`; returns how many.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64>;
}
