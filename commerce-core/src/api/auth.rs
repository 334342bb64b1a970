//! `/api/auth/…`: registration, login, token refresh, logout and the current user.
//!
//! Paths and JSON shapes are those of the Django REST Framework shop this API replaces.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::client::client_address;
use super::problem::ApiError;
use super::security::BearerAuth;
use super::types::{Email, FreeText, NewPassword, Text, Username};
use crate::domain::User;
use crate::services::{AuthService, Registration, TokenPair};

/// A new account.
#[derive(Object, Debug)]
pub struct RegisterRequest {
    /// 1–150 letters, digits and `@ . + - _`; unique regardless of case.
    pub username: Text<Username>,
    /// A valid e-mail address; unique regardless of case.
    pub email: Text<Email>,
    /// 8–128 characters, neither the username nor one of the ~100,000 most common passwords.
    #[oai(write_only)]
    pub password: Text<NewPassword>,
}

/// A registered account.
#[derive(Object, Debug)]
pub struct RegisteredUser {
    /// Its id.
    pub id: i64,
    /// Its username.
    pub username: String,
    /// Its e-mail address.
    pub email: String,
}

/// Credentials to log in with.
#[derive(Object, Debug)]
pub struct LoginRequest {
    /// The username.
    pub username: Text<FreeText>,
    /// The password.
    #[oai(write_only)]
    pub password: Text<FreeText>,
}

/// A refresh token, to rotate or to revoke.
#[derive(Object, Debug)]
pub struct RefreshRequest {
    /// The refresh token from login or the last refresh.
    pub refresh: Text<FreeText>,
}

/// A pair of tokens.
#[derive(Object, Debug)]
pub struct TokenPairBody {
    /// Access token for `Authorization: Bearer …`; short-lived.
    pub access: String,
    /// Single-use refresh token for `/api/auth/token/refresh/`.
    pub refresh: String,
}

/// The authenticated user.
#[derive(Object, Debug)]
pub struct CurrentUser {
    /// Its id.
    pub id: i64,
    /// Its username.
    pub username: String,
    /// Its e-mail address.
    pub email: String,
    /// Whether it is staff.
    pub is_staff: bool,
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<RegisteredUser>),
}

#[derive(ApiResponse)]
enum TokensResponse {
    /// A new token pair.
    #[oai(status = 200)]
    Ok(Json<TokenPairBody>),
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// The session is over.
    #[oai(status = 204)]
    LoggedOut,
}

#[derive(ApiResponse)]
enum CurrentUserResponse {
    /// The authenticated user.
    #[oai(status = 200)]
    Ok(Json<CurrentUser>),
}

/// Accounts and sessions.
pub struct AuthApi {
    auth: AuthService,
    trusted_proxy_hops: u8,
}

impl AuthApi {
    /// The API over `auth`, finding clients' addresses behind `trusted_proxy_hops` proxies.
    pub(crate) fn new(auth: AuthService, trusted_proxy_hops: u8) -> Self {
        Self {
            auth,
            trusted_proxy_hops,
        }
    }
}

impl From<TokenPair> for TokensResponse {
    fn from(pair: TokenPair) -> Self {
        Self::Ok(Json(TokenPairBody {
            access: pair.access,
            refresh: pair.refresh,
        }))
    }
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register a customer account.
    #[oai(path = "/register/", method = "post", operation_id = "register")]
    async fn register(
        &self,
        request: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError> {
        let Json(body) = body;
        let client = client_address(request, self.trusted_proxy_hops);
        let registration = Registration {
            username: body.username.into_string(),
            email: body.email.into_string(),
            password: body.password.into_string(),
        };
        let user = self.auth.register(registration, client).await?;
        Ok(RegisterResponse::Created(Json(RegisteredUser {
            id: user.id.0,
            username: user.username,
            email: user.email,
        })))
    }

    /// Log in: exchange credentials for an access and a refresh token.
    #[oai(path = "/login/", method = "post", operation_id = "login")]
    async fn login(
        &self,
        request: &Request,
        body: Json<LoginRequest>,
    ) -> Result<TokensResponse, ApiError> {
        let client = client_address(request, self.trusted_proxy_hops);
        let pair = self
            .auth
            .login(body.username.as_str(), body.password.as_str(), client)
            .await?;
        Ok(pair.into())
    }

    /// Rotate a refresh token: it is spent and a new pair issued. Presenting a spent token
    /// again revokes its whole session.
    #[oai(
        path = "/token/refresh/",
        method = "post",
        operation_id = "refresh_token"
    )]
    async fn refresh(&self, body: Json<RefreshRequest>) -> Result<TokensResponse, ApiError> {
        let pair = self.auth.refresh(body.refresh.as_str()).await?;
        Ok(pair.into())
    }

    /// Log out: the refresh token and every token rotated from the same login stop working.
    #[oai(path = "/logout/", method = "post", operation_id = "logout")]
    async fn logout(&self, body: Json<RefreshRequest>) -> Result<LogoutResponse, ApiError> {
        self.auth.logout(body.refresh.as_str()).await?;
        Ok(LogoutResponse::LoggedOut)
    }

    /// The authenticated user.
    #[oai(path = "/me/", method = "get", operation_id = "current_user")]
    async fn me(&self, token: BearerAuth) -> Result<CurrentUserResponse, ApiError> {
        let principal = token.principal(&self.auth)?;
        let user: User = self.auth.current_user(principal).await?;
        Ok(CurrentUserResponse::Ok(Json(CurrentUser {
            id: user.id.0,
            username: user.username,
            email: user.email,
            is_staff: user.is_staff,
        })))
    }
}
