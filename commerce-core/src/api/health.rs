//! `/health` (is the process alive?) and `/ready` (can it serve traffic?).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::ports::ReadinessCheck;

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness.
#[derive(Object, Debug)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Readiness, and the result of each backend's check.
#[derive(Object, Debug)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `ok`, or why the backend failed, by backend.
    pub checks: BTreeMap<String, String>,
}

#[derive(ApiResponse)]
enum HealthResponse {
    /// The process is alive.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// Every backend answers.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one backend does not answer.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

/// Liveness and readiness probes, for load balancers and orchestrators.
pub struct HealthApi {
    checks: Arc<[Arc<dyn ReadinessCheck>]>,
}

impl HealthApi {
    pub(crate) fn new(checks: Arc<[Arc<dyn ReadinessCheck>]>) -> Self {
        Self { checks }
    }
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: answers without any I/O while the process runs.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health {
            status: "ok".into(),
        }))
    }

    /// Readiness: checks the database, the search index and a shared cache if configured (not
    /// the mailer: mail goes out through retried background tasks).
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        let results = futures::future::join_all(self.checks.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(Ok(())) => "ok".to_owned(),
                Ok(Err(error)) => error.to_string(),
                Err(_) => "timed out".to_owned(),
            };
            (check.name().to_owned(), outcome)
        }))
        .await;
        let all_ok = results.iter().all(|(_, outcome)| outcome == "ok");
        let body = Json(Readiness {
            status: if all_ok { "ready" } else { "unavailable" }.into(),
            checks: results.into_iter().collect(),
        });
        if all_ok {
            ReadyResponse::Ready(body)
        } else {
            ReadyResponse::Unavailable(body)
        }
    }
}
