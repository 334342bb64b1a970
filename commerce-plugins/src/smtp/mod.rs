//! Sends the shop's mail through an SMTP server: chosen when `SMTP_URL` starts with `smtp://`
//! or `smtps://`, with the sender from `MAIL_FROM`.
//!
//! The URL says everything about the connection, as lettre reads it:
//! `smtps://user:password@host[:465]` for implicit TLS,
//! `smtp://user:password@host[:587]?tls=required` for STARTTLS, and plain `smtp://host:port`
//! (unencrypted, for a relay on the same host or a local mail catcher). Connections are pooled
//! and opened on first use, so an SMTP server that is down does not stop the shop from
//! starting, nor make it unready: mail is sent by background tasks, which retry.
//!
//! This module only transports: what a mail says is decided by the services that send it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{Mailer, OutgoingMail};
use commerce_core::{Error, Plugin, Result, ShopBuilder};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const BACKEND: &str = "smtp";

/// How long one SMTP command may wait for the server. A task that times out is retried later,
/// so this bounds how long a slow server holds a worker, not whether the mail goes out.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends each mail as a plain-text message from one sender.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for the server at `url` (see the module documentation for its forms) sending
    /// as `from` (`shop@example.com` or `Example Shop <shop@example.com>`). Does no I/O, but
    /// starts the connection pool's upkeep on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Validation`] naming `SMTP_URL` or `MAIL_FROM` when either cannot be read.
    ///
    /// # Panics
    /// Outside a tokio runtime. [`SmtpMailPlugin`] makes its mailer when the shop is built,
    /// which is always inside one.
    pub fn new(url: &str, from: &str) -> Result<Self> {
        Ok(SmtpSettings::parse(url, from)?.mailer())
    }

    fn message(&self, mail: &OutgoingMail) -> Result<Message> {
        // A stored address the server would refuse as well: no retry can fix it.
        let to = mail.to.parse::<Mailbox>().map_err(|error| {
            Error::backend(BACKEND, format!("recipient {:?}: {error}", mail.to))
        })?;
        Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text_body.clone())
            .map_err(|error| Error::backend(BACKEND, error))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = self.message(mail)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(delivery_error)
    }
}

/// A refusal the server calls permanent (5xx) or a message lettre cannot send is a backend
/// error; anything else (a 4xx, a timeout, a connection or TLS failure) may pass, and is
/// reported as the server being unavailable.
fn delivery_error(error: smtp::Error) -> Error {
    if error.is_permanent() || error.is_client() {
        Error::backend(BACKEND, error)
    } else {
        Error::unavailable(BACKEND, error)
    }
}

/// A server and a sender, read and checked, before any connection or runtime exists.
#[derive(Debug, Clone)]
struct SmtpSettings {
    transport: AsyncSmtpTransportBuilder,
    from: Mailbox,
    /// Whether the URL insists on TLS (`smtps://`, or `tls=required`): with
    /// `tls=opportunistic` lettre goes on unencrypted, password included, when the server
    /// offers no STARTTLS or someone on the way strips the offer.
    encrypted: bool,
}

impl SmtpSettings {
    fn parse(url: &str, from: &str) -> Result<Self> {
        let from = from.parse::<Mailbox>().map_err(|error| {
            Error::invalid(
                "MAIL_FROM",
                format!(
                    "{error}: give an address such as shop@example.com or \
                     \"Example Shop <shop@example.com>\""
                ),
            )
        })?;
        // lettre's message names the URL's part at fault; the URL itself may hold a password
        // and is not repeated.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| {
                Error::invalid(
                    "SMTP_URL",
                    format!(
                        "{error}: give smtps://user:password@host, \
                         smtp://user:password@host?tls=required or smtp://host:port"
                    ),
                )
            })?
            .timeout(Some(COMMAND_TIMEOUT));
        // lettre keeps its reading of the URL to itself. The query starts at the first `?`,
        // which cannot appear unencoded before it.
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let encrypted = url.starts_with("smtps://")
            || query
                .split('&')
                .any(|parameter| parameter == "tls=required");
        Ok(Self {
            transport,
            from,
            encrypted,
        })
    }

    fn mailer(self) -> SmtpMailer {
        SmtpMailer {
            transport: self.transport.build(),
            from: self.from,
        }
    }
}

/// Provides an [`SmtpMailer`], made when the shop is built.
#[derive(Debug, Clone)]
pub struct SmtpMailPlugin {
    settings: SmtpSettings,
}

impl SmtpMailPlugin {
    /// The plugin for the server at `url` sending as `from`, as [`SmtpMailer::new`] takes
    /// them. Checks both and does nothing else.
    ///
    /// # Errors
    /// [`Error::Validation`] naming `SMTP_URL` or `MAIL_FROM` when either cannot be read.
    pub fn new(url: &str, from: &str) -> Result<Self> {
        Ok(Self {
            settings: SmtpSettings::parse(url, from)?,
        })
    }
}

#[async_trait]
impl Plugin for SmtpMailPlugin {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        if !self.settings.encrypted {
            // Right for a relay on the same host or a local mail catcher; a mistake anywhere
            // else, and one that only shows as refused or leaked mail, so it is said at start.
            tracing::warn!(
                "SMTP_URL is smtp:// without tls=required: mail, and any password in the \
                 URL, travel unencrypted; use smtps://… or ?tls=required unless the server is \
                 on this host"
            );
        }
        shop.provide_mailer(Arc::new(self.settings.clone().mailer()));
        Ok(())
    }
}

fn create(url: &str, config: &Config) -> Result<Box<dyn Plugin>> {
    let from = config.mail_from.as_deref().ok_or_else(|| {
        Error::invalid(
            "MAIL_FROM",
            "is required when SMTP_URL is set: the address the shop's mail comes from",
        )
    })?;
    Ok(Box::new(SmtpMailPlugin::new(url, from)?))
}

commerce_core::inventory::submit! {
    PluginFactory { name: BACKEND, role: Role::Mail, schemes: &["smtp", "smtps"], create }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_whether_mail_is_encrypted() {
        let sender = "shop@example.com";
        for (url, encrypted) in [
            ("smtps://user:pw@mail.example.com", true),
            ("smtp://user:pw@mail.example.com:587?tls=required", true),
            ("smtp://mail.example.com:587?tls=opportunistic", false),
            ("smtp://user:tls=required@mail.example.com:587", false),
            ("smtp://127.0.0.1:1025", false),
            ("smtp://user:pw@mail.example.com:587", false),
        ] {
            let settings = SmtpSettings::parse(url, sender).map_err(|e| e.to_string());
            assert_eq!(settings.map(|s| s.encrypted), Ok(encrypted), "{url}");
        }
    }
}
