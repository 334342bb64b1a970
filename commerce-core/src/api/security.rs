//! The bearer-token security scheme declared in the spec.

use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::error::Result;
use crate::services::{AuthService, Principal};

/// A JWT access token in the `Authorization: Bearer …` header, from `/api/auth/login/`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(Bearer);

impl BearerAuth {
    /// The principal the token proves, or `Unauthenticated`.
    pub fn principal(&self, auth: &AuthService) -> Result<Principal> {
        auth.authenticate(&self.0.token)
    }
}

/// A bearer token where one is optional: public reads that show staff more.
///
/// No token is anonymous; a token that is present but invalid is refused with 401 rather than
/// silently ignored, so a client learns its token has expired.
#[derive(SecurityScheme)]
pub enum OptionalBearer {
    /// A bearer token was sent.
    Bearer(BearerAuth),
    /// None was.
    #[oai(fallback)]
    Anonymous,
}

impl OptionalBearer {
    /// The principal, if a token was sent; `Unauthenticated` if it is invalid.
    pub fn principal(&self, auth: &AuthService) -> Result<Option<Principal>> {
        match self {
            Self::Bearer(token) => token.principal(auth).map(Some),
            Self::Anonymous => Ok(None),
        }
    }
}
