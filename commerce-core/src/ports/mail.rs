//! Outgoing e-mail.

use async_trait::async_trait;

use crate::error::Result;

/// One e-mail to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text_body: String,
}

/// Sends e-mail. Called from background tasks, never while a request waits.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Hands the mail to the transport. An [`Error::Unavailable`](crate::Error::Unavailable)
    /// makes the task retry later; a recipient that is no address is
    /// [`Error::Backend`](crate::Error::Backend), a failure no retry will fix. The conformance
    /// suite is `commerce_core::mailer_conformance!`.
    async fn send(&self, mail: &OutgoingMail) -> Result<()>;
}
