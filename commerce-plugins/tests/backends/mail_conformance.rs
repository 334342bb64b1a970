//! Every mailer against the one `Mailer` contract: the log mailer, and the SMTP mailer in a
//! real SMTP session on an ephemeral port (the testkit's server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "log-mail")]
mod log_mail {
    use std::sync::Arc;

    use commerce_plugins::log_mail::LogMailer;

    async fn fresh() -> Arc<LogMailer> {
        Arc::new(LogMailer)
    }

    commerce_core::mailer_conformance!(fresh);
}

#[cfg(feature = "smtp")]
mod smtp {
    use std::sync::Arc;

    use commerce_plugins::smtp::SmtpMailer;
    use commerce_plugins::testkit::smtp::SmtpTestServer;

    /// A mailer and the server it sends to, which lives as long as the test.
    async fn fresh() -> Option<(Arc<SmtpMailer>, SmtpTestServer)> {
        let server = SmtpTestServer::start().await;
        let mailer = SmtpMailer::new(&server.url(), "Example Shop <shop@example.com>").unwrap();
        Some((Arc::new(mailer), server))
    }

    commerce_core::mailer_conformance!(optional fresh);
}
