//! RFC 9457 problem details: the body of every error the API answers.

use std::collections::BTreeMap;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::error::{AuthorizationError, ParseParamError};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object};

use super::types::{Constrained, Seconds};
use crate::error::{Error, FieldErrors, NO_CREDENTIALS};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error, described for the client (RFC 9457).
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    #[oai(validator(minimum(value = "100"), maximum(value = "599")))]
    pub status: u16,
    /// What went wrong this time.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Messages per field: for a validation error the request fields at fault
    /// (`{"username": ["…"]}`), for a page past the last `page`, for a resource still in use
    /// what holds it (`products`).
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
    /// For a refused checkout: each product that cannot be bought and how many are available.
    #[oai(skip_serializing_if_is_none)]
    pub shortages: Option<Vec<Shortage>>,
}

/// A cart line that stopped a checkout.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The product's id.
    pub product: i64,
    /// How many were asked for.
    pub requested: i64,
    /// How many can be bought now (0 when the product is unavailable).
    pub available: i64,
    /// `insufficient_stock`, `unavailable` or `price_changed`.
    pub reason: String,
}

impl Problem {
    /// A problem described by its status alone.
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: None,
            shortages: None,
        }
    }

    /// The problem as a complete HTTP response.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .body(self.to_json_string())
    }
}

/// Every error an operation can answer, each as problem details.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed, or a field is invalid (see `errors`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No valid credentials were presented.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The credentials do not allow this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the resource's current state.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request is valid but cannot be processed as asked.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The request body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Too many attempts in a short time (logins to one account, for one); `Retry-After` says
    /// in how many seconds the request may succeed.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        #[oai(header = "Retry-After")] Constrained<u64, Seconds>,
    ),
    /// The server failed; the detail is in its logs, under the request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A backend is unavailable; try again later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

impl ApiError {
    fn problem(status: StatusCode, detail: impl Into<String>) -> Json<Problem> {
        Json(Problem::from_status(status, detail))
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Validation(fields) => Self::BadRequest(Json(Problem {
                kind: "urn:commerce-rs:problem:validation".into(),
                title: "Invalid input".into(),
                status: 400,
                detail: Some(fields.to_string()),
                errors: Some(fields.as_map().clone()),
                shortages: None,
            })),
            Error::AlreadyExists { field, message } => Self::from(Error::invalid(field, message)),
            error @ Error::PageOutOfRange { .. } => {
                let mut page = FieldErrors::default();
                page.add("page", error.to_string());
                Self::NotFound(Json(Problem {
                    kind: "urn:commerce-rs:problem:invalid-page".into(),
                    title: "Invalid page".into(),
                    status: 404,
                    // The old shop's words, which its clients may show or match.
                    detail: Some("Invalid page.".into()),
                    errors: Some(page.as_map().clone()),
                    shortages: None,
                }))
            }
            Error::NotFound(what) => Self::NotFound(Self::problem(
                StatusCode::NOT_FOUND,
                format!("{what} not found"),
            )),
            Error::Conflict(detail) => Self::Conflict(Self::problem(StatusCode::CONFLICT, detail)),
            Error::InUse { field, message } => {
                let mut holders = FieldErrors::default();
                holders.add(field, message.clone());
                Self::Conflict(Json(Problem {
                    kind: "urn:commerce-rs:problem:in-use".into(),
                    title: "Still in use".into(),
                    status: 409,
                    detail: Some(message),
                    errors: Some(holders.as_map().clone()),
                    shortages: None,
                }))
            }
            Error::StockShortage(problems) => {
                use crate::ports::CheckoutProblemKind as Kind;
                let mut problem = Problem::from_status(
                    StatusCode::CONFLICT,
                    "some products in the cart cannot be bought as asked; see shortages",
                );
                problem.kind = "urn:commerce-rs:problem:stock-shortage".into();
                problem.shortages = Some(
                    problems
                        .iter()
                        .map(|p| Shortage {
                            product: p.product.0,
                            requested: p.requested,
                            available: p.available,
                            reason: match p.kind {
                                Kind::Shortage => "insufficient_stock",
                                Kind::Unavailable => "unavailable",
                                Kind::PriceChanged => "price_changed",
                            }
                            .into(),
                        })
                        .collect(),
                );
                Self::Conflict(Json(problem))
            }
            // Only operations that take `If-Match` can meet it, and they answer 412 themselves;
            // anywhere else it is a conflict with the resource's state.
            Error::PreconditionFailed(what) => Self::Conflict(Self::problem(
                StatusCode::CONFLICT,
                format!("the {what} changed while the request was served"),
            )),
            Error::Unprocessable(detail) => {
                Self::Unprocessable(Self::problem(StatusCode::UNPROCESSABLE_ENTITY, detail))
            }
            Error::Unauthenticated(reason) => {
                Self::Unauthorized(Self::problem(StatusCode::UNAUTHORIZED, reason))
            }
            Error::TooManyRequests { retry_after } => {
                // Whole seconds, rounded up: retrying on the second given must not be early.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Self::TooManyRequests(
                    Self::problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("too many attempts; try again in {seconds} seconds"),
                    ),
                    Constrained::new(seconds),
                )
            }
            Error::Forbidden => Self::Forbidden(Self::problem(
                StatusCode::FORBIDDEN,
                "you do not have permission to perform this action",
            )),
            Error::Unavailable { backend, source } => {
                tracing::warn!(backend, error = %source, "backend unavailable");
                Self::Unavailable(Self::problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "a backend is temporarily unavailable; try again shortly",
                ))
            }
            error => {
                tracing::error!(error = %error, source = ?std::error::Error::source(&error), "request failed");
                Self::Internal(Self::problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server failed; the request id identifies it in the logs",
                ))
            }
        }
    }
}

/// Turns any error response that is not yet problem details (an unknown path, a body poem could
/// not parse, a missing bearer token) into problem details with the same status.
pub(crate) fn into_problem_response(error: poem::Error) -> Response {
    if error.is_from_response() {
        return error.into_response();
    }
    if error.downcast_ref::<AuthorizationError>().is_some() {
        // No bearer token where one is required: told in the words the old shop used, as
        // operations that check the caller themselves tell it.
        return ApiError::from(Error::Unauthenticated(NO_CREDENTIALS)).into_response();
    }
    if let Some((name, reason)) = parameter_error(&error) {
        // Told on the parameter, as a rule it breaks would be, so a client finds it under
        // `errors` whichever check refused it.
        return ApiError::from(Error::invalid(name, reason)).into_response();
    }
    let status = error.status();
    let detail = if status.is_server_error() {
        "the server failed; the request id identifies it in the logs".to_owned()
    } else {
        error.to_string()
    };
    if status.is_server_error() {
        tracing::error!(%error, "request failed");
    }
    Problem::from_status(status, detail).into_response()
}

/// The query or header parameter a value of the wrong type was given for, and why.
///
/// A path segment's error is another type (`ParsePathError`) naming the segment as poem-openapi
/// renamed it internally (`param0`), a name the client never saw: it stays a plain 400 with the
/// parser's message.
fn parameter_error(error: &poem::Error) -> Option<(&'static str, String)> {
    let error = error.downcast_ref::<ParseParamError>()?;
    Some((error.name, error.reason.clone()))
}
