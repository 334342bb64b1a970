//! Readiness: can this instance serve traffic right now?

use async_trait::async_trait;

use crate::error::Result;

/// A check that a backend answers, run by `/ready`.
#[async_trait]
pub trait ReadinessCheck: Send + Sync + 'static {
    /// What is checked, e.g. "sqlite"; shown in the readiness report.
    fn name(&self) -> &'static str;

    /// Succeeds when the backend answers now. Should take milliseconds.
    async fn check(&self) -> Result<()>;
}
