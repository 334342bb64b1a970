//! What wraps every request: a request id and log line, a time limit, and a cap on body size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument;

use super::problem::Problem;

const REQUEST_ID: &str = "x-request-id";

/// Gives the request an id (echoed in `x-request-id`), runs it in a span carrying that id, and
/// logs one line with its status and duration.
pub(crate) async fn log_request<E: Endpoint>(next: Arc<E>, request: Request) -> Result<Response> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    async move {
        let started = Instant::now();
        let mut response = match next.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let status = response.status().as_u16();
        let micros = started.elapsed().as_micros() as u64;
        if status >= 500 {
            tracing::error!(status, micros, "request failed");
        } else {
            tracing::info!(status, micros, "request served");
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Answers 503 for a request that takes longer than its time limit (if it has one), abandoning
/// its work.
///
/// A database that stopped answering without closing its connections (a network path that
/// drops packets silently) would otherwise hold a request until the kernel gives up on the
/// connection, a quarter of an hour later. Abandoning is what a client's disconnect already
/// does: a transaction cut short rolls back, and an invalidation owed after a commit is paid
/// by a later read. A write may still have committed before the limit, which the answer says.
pub(crate) struct TimeLimit(pub(crate) Option<Duration>);

impl<E: Endpoint> poem::Middleware<E> for TimeLimit {
    type Output = TimeLimited<E>;

    fn transform(&self, endpoint: E) -> Self::Output {
        TimeLimited {
            endpoint,
            limit: self.0,
        }
    }
}

/// An endpoint under a [`TimeLimit`].
pub(crate) struct TimeLimited<E> {
    endpoint: E,
    limit: Option<Duration>,
}

impl<E: Endpoint> Endpoint for TimeLimited<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Response> {
        let Some(limit) = self.limit else {
            return self
                .endpoint
                .call(request)
                .await
                .map(IntoResponse::into_response);
        };
        match tokio::time::timeout(limit, self.endpoint.call(request)).await {
            Ok(outcome) => outcome.map(IntoResponse::into_response),
            Err(_) => {
                tracing::warn!(limit_ms = limit.as_millis() as u64, "request timed out");
                Ok(Problem::from_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the request took too long and was abandoned; a change it asked for may \
                     have been made, so check before repeating it (a checkout with the same \
                     Idempotency-Key is always safe to repeat)",
                )
                .into_response())
            }
        }
    }
}

/// Refuses request bodies over `max_bytes` with 413, whether announced by `Content-Length` or
/// streamed: the body is read up to the cap before any handler sees it.
pub(crate) fn limit_body<E: Endpoint + 'static>(
    max_bytes: usize,
) -> impl Fn(Arc<E>, Request) -> futures::future::BoxFuture<'static, Result<Response>>
+ Send
+ Sync
+ 'static {
    move |next, mut request| {
        Box::pin(async move {
            let too_large = || {
                Problem::from_status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body may not exceed {max_bytes} bytes"),
                )
                .into_response()
            };
            let announced = request
                .headers()
                .get(poem::http::header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<usize>().ok());
            if announced.is_some_and(|length| length > max_bytes) {
                return Ok(too_large());
            }
            let body = request.take_body();
            if body.is_empty() {
                // An empty body means "no payload": optional JSON bodies (a checkout without
                // details) then parse as absent instead of failing for want of a media type.
                if !request
                    .headers()
                    .contains_key(poem::http::header::CONTENT_TYPE)
                {
                    request.headers_mut().insert(
                        poem::http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
            } else {
                match body.into_bytes_limit(max_bytes).await {
                    Ok(bytes) => request.set_body(Body::from_bytes(bytes)),
                    Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large()),
                    Err(error) => return Err(error.into()),
                }
            }
            next.call(request).await.map(IntoResponse::into_response)
        })
    }
}

/// The methods each documented path answers, to tell clients what a 405 would have accepted.
pub(crate) struct AllowedMethods {
    routes: Vec<(Vec<String>, String)>,
}

impl AllowedMethods {
    /// From the APIs' metadata; paths are templates such as `/api/products/{id}`.
    pub(crate) fn new(apis: Vec<poem_openapi::registry::MetaApi>) -> Self {
        let mut routes: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for api in apis {
            for path in api.paths {
                let segments: Vec<String> = path
                    .path
                    .trim_end_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                let methods: Vec<String> = path
                    .operations
                    .iter()
                    .map(|o| o.method.to_string())
                    .collect();
                match routes.iter_mut().find(|(s, _)| *s == segments) {
                    Some((_, known)) => known.extend(methods),
                    None => routes.push((segments, methods)),
                }
            }
        }
        Self {
            routes: routes
                .into_iter()
                .map(|(segments, mut methods)| {
                    methods.sort();
                    methods.dedup();
                    (segments, methods.join(", "))
                })
                .collect(),
        }
    }

    fn allow(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.routes
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}')) || t.starts_with(':') || t == s
                    })
            })
            .map(|(_, methods)| methods.as_str())
    }
}

/// Adds the `Allow` header a 405 must carry (RFC 9110).
pub(crate) fn allow_header<E: Endpoint + 'static>(
    allowed: Arc<AllowedMethods>,
) -> impl Fn(Arc<E>, Request) -> futures::future::BoxFuture<'static, Result<Response>>
+ Send
+ Sync
+ 'static {
    move |next, request| {
        let allowed = allowed.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let mut response = next.call(request).await?.into_response();
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(methods) = allowed.allow(&path)
                && let Ok(value) = HeaderValue::from_str(methods)
            {
                response
                    .headers_mut()
                    .insert(poem::http::header::ALLOW, value);
            }
            Ok(response)
        })
    }
}
