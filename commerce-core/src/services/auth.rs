//! Registration, login, token rotation with theft detection, and logout.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::digest::sha256_hex;
use super::events::{DomainEvent, EventBus};
use super::passwords::PasswordHasher;
use super::tokens::{Principal, TokenSigner, new_token_id, parse_subject};
use crate::domain::{Email, NewUser, Password, User, Username};
use crate::error::{Error, FieldErrors, Result};
use crate::ports::{NewRefreshToken, RateLimiter, RefreshTokenUse, TokenStore, UserStore};

/// What a client sends to register, unchecked.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Desired username.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Chosen password.
    pub password: String,
}

/// A signed access token and the refresh token that renews it.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// Short-lived bearer token for API calls.
    pub access: String,
    /// Single-use token to obtain the next pair.
    pub refresh: String,
}

/// The message for every failed login, whatever the cause, so that it reveals nothing.
const BAD_CREDENTIALS: &str = "no active account found with the given credentials";

/// How many logins one account may attempt in a window of time before further attempts are
/// refused, whatever their password, until the window closes.
///
/// Online password guessing against one account is held to `attempts` guesses per `window`
/// (OWASP's account throttling). A successful login closes its window, so an account's own
/// user is not held back by the attempts that preceded it. The price is that anyone can keep
/// an account's logins refused by failing them; the window is short for that reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Attempts allowed per window; 0 turns the limit off.
    pub attempts: u64,
    /// How long a window lasts, from the first attempt in it.
    pub window: Duration,
}

impl Default for LoginLimit {
    /// Ten attempts per fifteen minutes.
    fn default() -> Self {
        Self {
            attempts: 10,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Counts login attempts per account against a [`LoginLimit`].
#[derive(Clone)]
struct LoginThrottle {
    limiter: Arc<dyn RateLimiter>,
    limit: LoginLimit,
}

impl LoginThrottle {
    /// The limiter's key for the account `username` names, in any letter case, as accounts
    /// are found. Hashed, so that a key's length does not depend on what a client sends.
    fn key(username: &str) -> String {
        format!(
            "login:{}",
            sha256_hex(username.to_lowercase().as_bytes(), 16)
        )
    }

    /// Counts an attempt, and refuses it once the window holds more than the limit allows.
    ///
    /// Counting before the password is checked is what makes the limit hold under
    /// concurrency: racing guesses are each counted, none checked beyond the limit. A limiter
    /// that cannot count lets the attempt through: logging in matters more than throttling.
    async fn admit(&self, username: &str) -> Result<()> {
        if self.limit.attempts == 0 {
            return Ok(());
        }
        match self
            .limiter
            .record(&Self::key(username), self.limit.window)
            .await
        {
            Ok(count) if count.events > self.limit.attempts => Err(Error::TooManyRequests {
                retry_after: count.closes_in,
            }),
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "login attempts could not be counted; not limiting");
                Ok(())
            }
        }
    }

    /// Closes the account's window after a successful login.
    async fn forget(&self, username: &str) {
        if self.limit.attempts == 0 {
            return;
        }
        if let Err(error) = self.limiter.reset(&Self::key(username)).await {
            tracing::warn!(%error, "login attempts could not be reset");
        }
    }
}

/// The accounts and sessions of the shop.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn TokenStore>,
    throttle: LoginThrottle,
    passwords: PasswordHasher,
    signer: TokenSigner,
    events: EventBus,
}

impl AuthService {
    /// The service over these ports, counting login attempts with `limiter` against `limit`.
    pub fn new(
        users: Arc<dyn UserStore>,
        tokens: Arc<dyn TokenStore>,
        limiter: Arc<dyn RateLimiter>,
        limit: LoginLimit,
        signer: TokenSigner,
        events: EventBus,
    ) -> Self {
        Self {
            users,
            tokens,
            throttle: LoginThrottle { limiter, limit },
            passwords: PasswordHasher::new(),
            signer,
            events,
        }
    }

    /// Creates a customer account.
    ///
    /// Every field is checked and every problem reported at once; a taken username or e-mail
    /// address (in any letter case) is a validation error on that field.
    pub async fn register(&self, registration: Registration) -> Result<User> {
        let user = self.create(registration, false).await?;
        self.events
            .publish(DomainEvent::UserRegistered(user.clone()))
            .await;
        Ok(user)
    }

    /// Creates a staff account, as the `create-admin` command does.
    pub async fn create_staff(&self, registration: Registration) -> Result<User> {
        self.create(registration, true).await
    }

    async fn create(&self, registration: Registration, is_staff: bool) -> Result<User> {
        let mut errors = FieldErrors::default();
        let username = errors.check("username", Username::parse(&registration.username));
        let email = errors.check("email", Email::parse(&registration.email));
        let password = errors.check(
            "password",
            Password::parse(&registration.password, &registration.username),
        );
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(Error::Validation(errors));
        };
        let password_hash = self.passwords.hash(&password).await?;
        let created = self
            .users
            .create_user(NewUser {
                username,
                email,
                password_hash,
                is_staff,
            })
            .await;
        match created {
            Err(Error::AlreadyExists { field, message }) => Err(Error::invalid(field, message)),
            other => other,
        }
    }

    /// Checks the credentials and starts a new session (a new refresh-token family).
    ///
    /// Fails with the same `Unauthenticated` error, after about the same time, whether the
    /// username is unknown, the password wrong or the account inactive; with
    /// `TooManyRequests`, without checking the password, once the username has had more
    /// attempts than its [`LoginLimit`] allows (known or not, so the refusal reveals nothing
    /// either).
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenPair> {
        self.throttle.admit(username).await?;
        let Some(credentials) = self.users.find_credentials(username).await? else {
            self.passwords.verify_nothing(password).await?;
            return Err(Error::Unauthenticated(BAD_CREDENTIALS));
        };
        let matches = self
            .passwords
            .verify(password, &credentials.password_hash)
            .await?;
        if !matches || !credentials.user.is_active {
            return Err(Error::Unauthenticated(BAD_CREDENTIALS));
        }
        self.throttle.forget(username).await;
        self.issue_pair(&credentials.user, &new_token_id()).await
    }

    /// Spends a refresh token and issues the next pair of its family.
    ///
    /// A token that was already spent means two parties hold it: the whole family is revoked,
    /// logging out the thief and the victim alike, and the call fails.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let claims = self.signer.verify_refresh(refresh_token)?;
        let now = Utc::now();
        match self.tokens.spend_refresh_token(&claims.jti, now).await? {
            RefreshTokenUse::Spent { user_id, family } => {
                let user = self
                    .users
                    .find_user(user_id)
                    .await?
                    .filter(|user| user.is_active)
                    .ok_or(Error::Unauthenticated("user is inactive or deleted"))?;
                self.issue_pair(&user, &family).await
            }
            RefreshTokenUse::AlreadySpent { family } => {
                tracing::warn!(%family, user = %claims.sub, "refresh token reused; revoking its family");
                self.tokens.revoke_family(&family, now).await?;
                Err(Error::Unauthenticated("token is invalid or expired"))
            }
            RefreshTokenUse::Revoked | RefreshTokenUse::Unknown => {
                Err(Error::Unauthenticated("token is invalid or expired"))
            }
        }
    }

    /// Ends the session the refresh token belongs to: it and every token of its family stop
    /// working. Access tokens already issued run out on their own within their short lifetime.
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        let claims = self.signer.verify_refresh(refresh_token)?;
        parse_subject(&claims.sub)?;
        self.tokens.revoke_family(&claims.fam, Utc::now()).await
    }

    /// Forgets refresh tokens that have expired; run now and then.
    pub async fn purge_expired_tokens(&self) -> Result<u64> {
        self.tokens.purge_expired(Utc::now()).await
    }

    /// Who an access token belongs to.
    pub fn authenticate(&self, access_token: &str) -> Result<Principal> {
        self.signer.verify_access(access_token)
    }

    /// The account of an authenticated caller.
    pub async fn current_user(&self, principal: Principal) -> Result<User> {
        self.users
            .find_user(principal.user_id)
            .await?
            .filter(|user| user.is_active)
            .ok_or(Error::Unauthenticated("user is inactive or deleted"))
    }

    async fn issue_pair(&self, user: &User, family: &str) -> Result<TokenPair> {
        let now = Utc::now();
        let refresh = self.signer.sign_refresh(user.id, family, now)?;
        self.tokens
            .insert_refresh_token(NewRefreshToken {
                jti: refresh.jti,
                family: family.to_owned(),
                user_id: user.id,
                expires_at: refresh.expires_at,
            })
            .await?;
        Ok(TokenPair {
            access: self.signer.sign_access(user, now)?,
            refresh: refresh.token,
        })
    }
}
