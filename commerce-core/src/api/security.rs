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
