//! A mailer that writes each mail to the log instead of sending it: the development default
//! when no `SMTP_URL` is configured.

use std::sync::Arc;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::domain::Email;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{Mailer, OutgoingMail};
use commerce_core::{Error, Plugin, Result, ShopBuilder};

/// Logs outgoing mail at `info` level.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<()> {
        // Refused as a real transport refuses it, so that development buries such a task as
        // production does.
        Email::parse(&mail.to).map_err(|reason| {
            Error::backend("log-mail", format!("recipient {:?}: {reason}", mail.to))
        })?;
        tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.text_body, "mail (not sent: no SMTP_URL)");
        Ok(())
    }
}

/// Provides the [`LogMailer`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailPlugin;

#[async_trait]
impl Plugin for LogMailPlugin {
    fn name(&self) -> &'static str {
        "log-mail"
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        shop.provide_mailer(Arc::new(LogMailer));
        Ok(())
    }
}

fn create(_url: &str, _config: &Config) -> Result<Box<dyn Plugin>> {
    Ok(Box::new(LogMailPlugin))
}

commerce_core::inventory::submit! {
    PluginFactory { name: "log-mail", role: Role::Mail, schemes: &["log"], create }
}
