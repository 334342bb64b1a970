//! Registration, login, token rotation with theft detection, and logout.

use std::net::{IpAddr, Ipv6Addr};
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

/// How many logins may be attempted in a window of time before further attempts are refused,
/// whatever their password, until the window closes.
///
/// Online password guessing is held to `attempts` guesses per `window` at one account from one
/// client address, and to `account_attempts` from all addresses together, which bounds a
/// guesser spread over many addresses (OWASP's account throttling). Counting per address is
/// what keeps an account's own user logging in while a stranger fails at it elsewhere: to shut
/// the user out, the stranger must get `account_attempts` attempts checked within one window.
/// Attempts refused at their address are not checked and do not count towards the account's.
/// A successful login closes its address's window, so a user is not held back by their own
/// mistypes; the account's window runs its course, or each login of the owner would give
/// guessers elsewhere a fresh allowance.
///
/// `client_attempts`, off by default, holds one address to that many logins and registrations
/// together, whatever the accounts. Most cost a password hash, and the shop hashes no more
/// than one password per core at a time, so one address sending them fast would otherwise
/// keep every other client's login waiting. Every login attempt counts, successful or not,
/// and so does every registration whose fields are valid, a taken name included. Requests
/// from an address the shop cannot tell are not held to it: they would all share one
/// allowance. It is off by default because it is only as good as the shop's idea of the
/// client's address: behind a proxy the shop does not know of (`TRUSTED_PROXY_HOPS` too low),
/// every client has the proxy's address and the limit would hold all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Attempts allowed per window at one account from one client address; 0 turns this limit
    /// off.
    pub attempts: u64,
    /// Attempts allowed per window at one account from every address together; 0 turns this
    /// limit off.
    pub account_attempts: u64,
    /// Logins and registrations allowed per window from one client address, whatever the
    /// accounts; 0 (the default) turns this limit off.
    pub client_attempts: u64,
    /// How long a window lasts, from the first attempt in it.
    pub window: Duration,
}

impl Default for LoginLimit {
    /// Ten attempts per fifteen minutes from one address, a hundred from all; no limit per
    /// address across accounts.
    fn default() -> Self {
        Self {
            attempts: 10,
            account_attempts: 100,
            client_attempts: 0,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Counts login attempts per client address, per account and client address, and per
/// account, and registrations per client address, against a [`LoginLimit`].
#[derive(Clone)]
struct LoginThrottle {
    limiter: Arc<dyn RateLimiter>,
    limit: LoginLimit,
}

/// The limiter's keys for one login attempt. Hashed, so that a key's length does not depend on
/// what a client sends, and no username or address is stored in the clear.
struct LoginKeys {
    /// `None` for an address the shop cannot tell.
    client: Option<String>,
    account: String,
    account_from_client: String,
}

impl LoginKeys {
    /// The keys for the account `username` names, in any letter case, as accounts are found,
    /// tried from `client` (`None`: an address the shop cannot tell, one source for all such).
    fn new(username: &str, client: Option<IpAddr>) -> Self {
        let account = sha256_hex(username.to_lowercase().as_bytes(), 16);
        let source = source_key(client);
        Self {
            account_from_client: format!("login:{account}:{source}"),
            account: format!("login:{account}"),
            client: client.map(|_| client_key(&source)),
        }
    }
}

/// The hashed source `client` counts as (`None`: one source for every address the shop cannot
/// tell).
fn source_key(client: Option<IpAddr>) -> String {
    let source = client.map_or_else(|| "unknown".to_owned(), source_of);
    sha256_hex(source.as_bytes(), 16)
}

/// The limiter's key for everything a source attempts, logins and registrations alike, from
/// its [`source_key`].
fn client_key(source: &str) -> String {
    format!("auth:{source}")
}

/// The source an address counts as. An IPv6 client is usually given a whole /64 network and
/// picks addresses from it freely, so the network is the source; an IPv4 address carried in
/// IPv6 is that IPv4 address.
fn source_of(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !(u128::from(u64::MAX));
            format!("{}/64", Ipv6Addr::from(network))
        }
    }
}

/// A registration whose every field is valid.
struct ParsedAccount {
    username: Username,
    email: Email,
    password: Password,
}

/// Checks every field of `registration`, reporting every problem at once.
fn parse_account(registration: &Registration) -> Result<ParsedAccount> {
    let mut errors = FieldErrors::default();
    let username = errors.check("username", Username::parse(&registration.username));
    let email = errors.check("email", Email::parse(&registration.email));
    let password = errors.check(
        "password",
        Password::parse(&registration.password, &registration.username),
    );
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) => Ok(ParsedAccount {
            username,
            email,
            password,
        }),
        _ => Err(Error::Validation(errors)),
    }
}

impl LoginThrottle {
    /// Counts a login attempt, and refuses it once a window holds more than the limit allows:
    /// first the client's window across accounts, then its window at the account, then the
    /// account's; a window that refuses it keeps it from the later ones.
    ///
    /// Counting before the password is checked is what makes the limit hold under
    /// concurrency: racing guesses are each counted, none checked beyond the limit. A limiter
    /// that cannot count lets the attempt through: logging in matters more than throttling.
    async fn admit(&self, keys: &LoginKeys) -> Result<()> {
        if let Some(client) = &keys.client {
            self.count(client, self.limit.client_attempts).await?;
        }
        self.count(&keys.account_from_client, self.limit.attempts)
            .await?;
        self.count(&keys.account, self.limit.account_attempts).await
    }

    /// Counts a registration from `client` in the client's window across accounts.
    async fn admit_registration(&self, client: Option<IpAddr>) -> Result<()> {
        match client {
            Some(_) if self.limit.client_attempts > 0 => {
                let key = client_key(&source_key(client));
                self.count(&key, self.limit.client_attempts).await
            }
            _ => Ok(()),
        }
    }

    async fn count(&self, key: &str, allowed: u64) -> Result<()> {
        if allowed == 0 {
            return Ok(());
        }
        match self.limiter.record(key, self.limit.window).await {
            Ok(count) if count.events > allowed => Err(Error::TooManyRequests {
                retry_after: count.closes_in,
            }),
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "sign-in attempts could not be counted; not limiting");
                Ok(())
            }
        }
    }

    /// Closes the client's window at the account after a successful login.
    async fn forget(&self, keys: &LoginKeys) {
        if self.limit.attempts == 0 {
            return;
        }
        if let Err(error) = self.limiter.reset(&keys.account_from_client).await {
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

    /// Creates a customer account, for a client at `client` if the caller can tell.
    ///
    /// Every field is checked and every problem reported at once; a taken username or e-mail
    /// address (in any letter case) is a validation error on that field. A registration whose
    /// fields are valid counts towards the client's [`LoginLimit::client_attempts`], and fails
    /// with `TooManyRequests` past it.
    pub async fn register(
        &self,
        registration: Registration,
        client: Option<IpAddr>,
    ) -> Result<User> {
        let account = parse_account(&registration)?;
        self.throttle.admit_registration(client).await?;
        let user = self.create(account, false).await?;
        self.events
            .publish(DomainEvent::UserRegistered(user.clone()))
            .await;
        Ok(user)
    }

    /// Creates a staff account, as the `create-admin` command does.
    pub async fn create_staff(&self, registration: Registration) -> Result<User> {
        self.create(parse_account(&registration)?, true).await
    }

    async fn create(&self, account: ParsedAccount, is_staff: bool) -> Result<User> {
        let ParsedAccount {
            username,
            email,
            password,
        } = account;
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
    /// `client` is the address the attempt came from, if the caller can tell.
    ///
    /// Fails with the same `Unauthenticated` error, after about the same time, whether the
    /// username is unknown, the password wrong or the account inactive; with
    /// `TooManyRequests`, without checking the password, once the username has had more
    /// attempts than its [`LoginLimit`] allows from `client` or from everywhere (known or not,
    /// so the refusal reveals nothing either), or `client` more logins and registrations than
    /// [`LoginLimit::client_attempts`] allows.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair> {
        let throttled = LoginKeys::new(username, client);
        self.throttle.admit(&throttled).await?;
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
        self.throttle.forget(&throttled).await;
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{LoginKeys, source_of};

    fn address(value: &str) -> IpAddr {
        value.parse().unwrap()
    }

    #[test]
    fn an_ipv6_network_of_64_bits_is_one_source() {
        assert_eq!(
            source_of(address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            source_of(address("2001:db8:1:2::1")),
            source_of(address("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            source_of(address("2001:db8:1:2::1")),
            source_of(address("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn an_ipv4_address_is_its_own_source_however_it_is_written() {
        assert_eq!(source_of(address("203.0.113.7")), "203.0.113.7");
        assert_eq!(source_of(address("::ffff:203.0.113.7")), "203.0.113.7");
    }

    #[test]
    fn keys_ignore_the_usernames_case_and_tell_sources_apart() {
        let here = LoginKeys::new("Guarded", Some(address("203.0.113.7")));
        let there = LoginKeys::new("guarded", Some(address("198.51.100.1")));
        let nowhere = LoginKeys::new("GUARDED", None);
        assert_eq!(here.account, there.account);
        assert_eq!(here.account, nowhere.account);
        assert_ne!(here.account_from_client, there.account_from_client);
        assert_ne!(here.account_from_client, nowhere.account_from_client);
        assert_eq!(
            here.account_from_client,
            LoginKeys::new("guarded", Some(address("203.0.113.7"))).account_from_client
        );
    }

    #[test]
    fn a_client_counts_as_one_whatever_the_account_unless_it_cannot_be_told() {
        let ann = LoginKeys::new("ann", Some(address("203.0.113.7")));
        let bob = LoginKeys::new("bob", Some(address("203.0.113.7")));
        let elsewhere = LoginKeys::new("ann", Some(address("198.51.100.1")));
        assert!(ann.client.is_some());
        assert_eq!(ann.client, bob.client);
        assert_ne!(ann.client, elsewhere.client);
        assert_eq!(LoginKeys::new("ann", None).client, None);
    }
}
