//! The HTTP API, generated with poem-openapi: one module per capability.
//!
//! Handlers are thin: they parse, call one service, and map the result. Every error leaves as
//! RFC 9457 problem details (see [`problem`]), including poem's own rejections, which are
//! converted in one place. Paths are declared with the old shop's trailing slash; poem-openapi
//! trims it, and the [`NormalizePath`] middleware makes both forms answer.

// Handlers return `Result<_, ApiError>`, and an `ApiError` carries a whole problem document:
// boxing it would only add an allocation to the error path, which is rare, for no gain.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cached;
pub mod catalog;
mod client;
pub mod health;
mod middleware;
pub mod orders;
pub mod pagination;
pub mod problem;
mod security;
pub mod types;

use std::collections::HashMap;
use std::marker::PhantomData;

use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::middleware::{NormalizePath, TrailingSlash};
use poem::{EndpointExt, Route};
use poem_openapi::registry::{MetaApi, Registry};
use poem_openapi::{OpenApi, OpenApiService, Tags};

pub use auth::AuthApi;
pub use catalog::CatalogApi;
pub use health::HealthApi;
pub use orders::OrdersApi;
pub use problem::{ApiError, Problem};
pub use security::{BearerAuth, OptionalBearer};

use crate::shop::Shop;

/// The groups operations are listed under in the docs.
#[derive(Tags)]
pub enum ApiTags {
    /// Accounts, login and tokens.
    Auth,
    /// Categories and products.
    Catalog,
    /// The cart, checkout and orders.
    Orders,
    /// Liveness and readiness probes.
    Health,
}

/// The API modules every shop serves, in spec order.
pub type CoreApis = (HealthApi, AuthApi, CatalogApi, OrdersApi);

const TITLE: &str = "commerce-rs shop API";
const DESCRIPTION: &str = "The HTTP API of a commerce-rs shop. Errors are RFC 9457 problem \
details (`application/problem+json`); validation errors list messages per field under `errors`. \
Authenticate with `POST /api/auth/login/` and send the access token as `Authorization: Bearer …`.";

fn service<T: OpenApi>(apis: T) -> OpenApiService<T, ()> {
    OpenApiService::new(apis, TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The core modules of `shop`, built over its services.
fn core_apis(shop: &Shop) -> CoreApis {
    (
        HealthApi::new(shop.readiness.clone()),
        AuthApi::new(shop.auth.clone(), shop.config.trusted_proxy_hops),
        CatalogApi::new(shop.auth.clone(), shop.catalog.clone()),
        OrdersApi::new(shop.auth.clone(), shop.carts.clone(), shop.orders.clone()),
    )
}

/// The whole HTTP application: APIs, spec, docs and the middleware every request goes through.
pub(crate) fn app<Extra: OpenApi + 'static>(shop: &Shop, extra: Extra) -> BoxEndpoint<'static> {
    let allowed = std::sync::Arc::new(middleware::AllowedMethods::new(<(CoreApis, Extra)>::meta()));
    let service = service((core_apis(shop), extra));
    let spec = service.spec_endpoint();
    let docs = service.swagger_ui();
    Route::new()
        .nest("/", service)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .around(middleware::limit_body(shop.config.max_body_bytes))
        .catch_all_error(|error| async move { problem::into_problem_response(error) })
        .around(middleware::allow_header(allowed))
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(middleware::TimeLimit(shop.config.request_timeout))
        .around(middleware::log_request)
        .boxed()
}

/// The OpenAPI document of the core APIs plus `Extra`, as served at `/openapi.json`, without
/// assembling a shop.
pub fn spec_json<Extra: OpenApi>() -> String {
    service(SpecOnly::<(CoreApis, Extra)>(PhantomData)).spec()
}

/// Stands for an API type when only its (static) description is wanted.
struct SpecOnly<T>(PhantomData<T>);

impl<T: OpenApi> OpenApi for SpecOnly<T> {
    fn meta() -> Vec<MetaApi> {
        T::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn add_routes(
        self,
        _: &mut HashMap<String, HashMap<Method, poem::endpoint::BoxEndpoint<'static>>>,
    ) {
    }
}
