//! What wraps every request: a request id and log line, and a cap on body size.

use std::sync::Arc;
use std::time::Instant;

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
