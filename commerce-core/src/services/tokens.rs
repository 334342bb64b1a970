//! JSON Web Tokens: short-lived access tokens and rotating refresh tokens.
//!
//! Both are HS256 JWTs signed with the shop's secret. The algorithm is pinned on decoding, so a
//! token claiming `alg: none` or any other algorithm is refused, and `iss`, `aud`, `exp`, `iat`,
//! `jti` and `sub` must all be present and right. A `typ` claim keeps a refresh token from
//! being accepted as an access token and the other way round.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::{Timestamp, User, UserId};
use crate::error::{Error, Result};

/// How tokens are signed and how long they live.
#[derive(Clone)]
pub struct TokenSettings {
    /// The HMAC secret; at least 32 bytes.
    pub secret: Vec<u8>,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// The `aud` claim written and required.
    pub audience: String,
    /// How long an access token is accepted.
    pub access_ttl: Duration,
    /// How long a refresh token is accepted.
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("secret", &"…")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TokenType {
    Access,
    Refresh,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id, as a string per RFC 7519.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Whether the user was staff when the token was issued.
    pub staff: bool,
    typ: TokenType,
}

/// The claims of a refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefreshClaims {
    pub(crate) sub: String,
    iss: String,
    aud: String,
    pub(crate) exp: i64,
    iat: i64,
    pub(crate) jti: String,
    /// The token family: every refresh token rotated from one login.
    pub(crate) fam: String,
    typ: TokenType,
}

/// Who is making a request, as an access token proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// Whether the user is staff.
    pub is_staff: bool,
}

/// A freshly signed refresh token and what the store must remember of it.
pub(crate) struct SignedRefresh {
    pub(crate) token: String,
    pub(crate) jti: String,
    pub(crate) expires_at: Timestamp,
}

/// Signs and verifies the shop's tokens.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: TokenSettings,
}

impl TokenSigner {
    /// A signer for these settings.
    pub fn new(settings: TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            validation,
            settings,
        }
    }

    /// An access token for `user`, valid from `now`.
    pub fn sign_access(&self, user: &User, now: Timestamp) -> Result<String> {
        let claims = AccessClaims {
            sub: user.id.to_string(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now.timestamp(),
            exp: expiry(now, self.settings.access_ttl).timestamp(),
            jti: new_token_id(),
            staff: user.is_staff,
            typ: TokenType::Access,
        };
        self.encode(&claims)
    }

    pub(crate) fn sign_refresh(
        &self,
        user_id: UserId,
        family: &str,
        now: Timestamp,
    ) -> Result<SignedRefresh> {
        let expires_at = expiry(now, self.settings.refresh_ttl);
        let jti = new_token_id();
        let claims = RefreshClaims {
            sub: user_id.to_string(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: jti.clone(),
            fam: family.to_owned(),
            typ: TokenType::Refresh,
        };
        Ok(SignedRefresh {
            token: self.encode(&claims)?,
            jti,
            expires_at,
        })
    }

    /// The principal an access token proves, or `Unauthenticated`.
    pub fn verify_access(&self, token: &str) -> Result<Principal> {
        let claims: AccessClaims = self.decode(token)?;
        if claims.typ != TokenType::Access {
            return Err(Error::Unauthenticated("not an access token"));
        }
        Ok(Principal {
            user_id: parse_subject(&claims.sub)?,
            is_staff: claims.staff,
        })
    }

    pub(crate) fn verify_refresh(&self, token: &str) -> Result<RefreshClaims> {
        let claims: RefreshClaims = self.decode(token)?;
        if claims.typ != TokenType::Refresh {
            return Err(Error::Unauthenticated("not a refresh token"));
        }
        Ok(claims)
    }

    fn encode<T: Serialize>(&self, claims: &T) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::backend("jwt", e))
    }

    fn decode<T: serde::de::DeserializeOwned + Clone>(&self, token: &str) -> Result<T> {
        jsonwebtoken::decode::<T>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| Error::Unauthenticated("token is invalid or expired"))
    }
}

pub(crate) fn parse_subject(sub: &str) -> Result<UserId> {
    sub.parse()
        .map(UserId)
        .map_err(|_| Error::Unauthenticated("token is invalid or expired"))
}

/// `now` plus `ttl`, or the last representable moment when a lifetime from the environment
/// (`ACCESS_TOKEN_TTL_SECONDS=10000000000000`, say) reaches past it: adding would panic.
fn expiry(now: Timestamp, ttl: Duration) -> Timestamp {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// A random, unguessable token id.
pub(crate) fn new_token_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn signer(secret: &[u8]) -> TokenSigner {
        TokenSigner::new(TokenSettings {
            secret: secret.to_vec(),
            issuer: "shop".into(),
            audience: "shop-api".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        })
    }

    fn user(is_staff: bool) -> User {
        User {
            id: UserId(7),
            username: "ann".into(),
            email: "ann@example.com".into(),
            is_staff,
            is_active: true,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_lifetime_past_the_calendar_expires_at_its_end() {
        let now = Utc::now();
        assert_eq!(
            expiry(now, Duration::from_secs(60)),
            now + chrono::Duration::seconds(60)
        );
        for ttl in [Duration::from_secs(10_000_000_000_000), Duration::MAX] {
            assert_eq!(expiry(now, ttl), chrono::DateTime::<Utc>::MAX_UTC);
        }
        let forever = TokenSigner::new(TokenSettings {
            access_ttl: Duration::MAX,
            refresh_ttl: Duration::MAX,
            ..signer(b"0123456789abcdef0123456789abcdef").settings
        });
        let token = forever.sign_access(&user(false), now).unwrap();
        assert!(forever.verify_access(&token).is_ok());
    }

    #[test]
    fn access_tokens_round_trip() {
        let signer = signer(b"0123456789abcdef0123456789abcdef");
        let token = signer.sign_access(&user(true), Utc::now()).unwrap();
        let principal = signer.verify_access(&token).unwrap();
        assert_eq!(
            principal,
            Principal {
                user_id: UserId(7),
                is_staff: true
            }
        );
    }

    #[test]
    fn refuses_foreign_secret_expired_and_wrong_type() {
        let ours = signer(b"0123456789abcdef0123456789abcdef");
        let theirs = signer(b"fedcba9876543210fedcba9876543210");
        let forged = theirs.sign_access(&user(true), Utc::now()).unwrap();
        assert!(ours.verify_access(&forged).is_err());

        let long_ago = Utc::now() - chrono::Duration::hours(2);
        let expired = ours.sign_access(&user(false), long_ago).unwrap();
        assert!(ours.verify_access(&expired).is_err());

        let refresh = ours.sign_refresh(UserId(7), "fam", Utc::now()).unwrap();
        assert!(ours.verify_access(&refresh.token).is_err());
        let access = ours.sign_access(&user(false), Utc::now()).unwrap();
        assert!(ours.verify_refresh(&access).is_err());
    }

    #[test]
    fn refuses_unsigned_tokens() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let ours = signer(b"0123456789abcdef0123456789abcdef");
        let token = ours.sign_access(&user(false), Utc::now()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(ours.verify_access(&format!("{header}.{payload}.")).is_err());
        let hs512 = b64.encode(r#"{"alg":"HS512","typ":"JWT"}"#);
        assert!(ours.verify_access(&format!("{hs512}.{payload}.x")).is_err());
    }

    /// A token signed with the shop's own secret is still refused under another algorithm (the
    /// algorithm is pinned, not read from the token), or without the claims every token the
    /// shop signs carries.
    #[test]
    fn refuses_other_algorithms_and_missing_claims_under_our_secret() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let secret = b"0123456789abcdef0123456789abcdef";
        let ours = signer(secret);
        let token = ours.sign_access(&user(false), Utc::now()).unwrap();
        let claims: serde_json::Value = ours.decode(&token).unwrap();
        let sign = |algorithm: Algorithm, claims: &serde_json::Value| {
            encode(
                &Header::new(algorithm),
                claims,
                &EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        assert!(ours.verify_access(&sign(Algorithm::HS256, &claims)).is_ok());
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let other = sign(algorithm, &claims);
            assert!(ours.verify_access(&other).is_err(), "{algorithm:?}");
        }
        for claim in ["iat", "jti", "exp", "iss", "aud", "sub", "typ"] {
            let mut without = claims.clone();
            without.as_object_mut().unwrap().remove(claim);
            let token = sign(Algorithm::HS256, &without);
            assert!(ours.verify_access(&token).is_err(), "without {claim}");
        }
    }
}
