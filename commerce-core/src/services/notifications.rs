//! E-mail notifications: events become queued jobs, jobs become mail.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::events::{DomainEvent, EventSubscriber};
use super::jobs::{BackgroundJob, JobQueue};
use crate::error::Result;
use crate::ports::{Mailer, OutgoingMail};

/// How many times a mail job is tried: with the worker's backoff (2 s, 4 s, … capped at an
/// hour) about four hours, so that a mail server's outage, a provider's throttling or a
/// credential rotation delays the mail instead of losing it.
pub const MAIL_ATTEMPTS: u32 = 15;

/// Welcomes a newly registered user by e-mail.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendWelcomeEmail {
    /// The recipient.
    pub email: String,
    /// Their username, for the greeting.
    pub username: String,
}

impl BackgroundJob for SendWelcomeEmail {
    const NAME: &'static str = "send_welcome_email";
    const MAX_ATTEMPTS: u32 = MAIL_ATTEMPTS;
    type Context = Arc<dyn Mailer>;

    async fn run(self, mailer: Self::Context) -> Result<()> {
        mailer
            .send(&OutgoingMail {
                to: self.email,
                subject: "Welcome to the shop".into(),
                text_body: format!(
                    "Hello {},\n\nyour account is ready. Happy shopping!\n",
                    self.username
                ),
            })
            .await
    }
}

/// Turns domain events into queued e-mail jobs.
pub struct EmailNotifications {
    jobs: JobQueue,
}

impl EmailNotifications {
    /// Queues mail on `jobs`.
    pub fn new(jobs: JobQueue) -> Self {
        Self { jobs }
    }
}

#[async_trait]
impl EventSubscriber for EmailNotifications {
    fn name(&self) -> &'static str {
        "email-notifications"
    }

    async fn on_event(&self, event: &DomainEvent) -> Result<()> {
        match event {
            DomainEvent::UserRegistered(user) => {
                self.jobs
                    .enqueue(&SendWelcomeEmail {
                        email: user.email.clone(),
                        username: user.username.clone(),
                    })
                    .await?;
            }
        }
        Ok(())
    }
}
