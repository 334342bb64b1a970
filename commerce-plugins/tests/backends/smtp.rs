//! The SMTP mailer against a real SMTP session on an ephemeral port (the testkit's server):
//! what arrives, logging in, how refusals and outages come back, and the start-up errors
//! naming `SMTP_URL` and `MAIL_FROM`.
#![cfg(feature = "smtp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use commerce_core::config::Config;
use commerce_core::plugin::PluginFactory;
use commerce_core::ports::{Mailer, OutgoingMail};
use commerce_core::{BuildError, Error};
use commerce_plugins::smtp::SmtpMailer;
use commerce_plugins::testkit::smtp::{SmtpTestOptions, SmtpTestServer};

const SENDER: &str = "Example Shop <shop@example.com>";

fn confirmation() -> OutgoingMail {
    OutgoingMail {
        to: "ann@example.com".into(),
        subject: "Your order #41 is confirmed".into(),
        text_body: "Hello ann,\n\nthank you for your order #41.\n".into(),
    }
}

#[tokio::test]
async fn a_mail_arrives_from_the_configured_sender() {
    let server = SmtpTestServer::start().await;
    let mailer = SmtpMailer::new(&server.url(), SENDER).unwrap();

    mailer.send(&confirmation()).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let mail = &received[0];
    assert_eq!(mail.from, "shop@example.com");
    assert_eq!(mail.to, ["ann@example.com"]);
    assert_eq!(mail.user, None);
    assert_eq!(
        mail.header("From").as_deref(),
        Some("\"Example Shop\" <shop@example.com>")
    );
    assert_eq!(mail.header("To").as_deref(), Some("ann@example.com"));
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your order #41 is confirmed")
    );
    assert!(
        mail.header("Content-Type")
            .is_some_and(|value| value.starts_with("text/plain")),
        "{mail:?}"
    );
    assert!(mail.header("Date").is_some(), "{mail:?}");
    assert!(mail.header("Message-ID").is_some(), "{mail:?}");
    assert!(
        mail.data.contains("thank you for your order #41."),
        "{mail:?}"
    );
}

#[tokio::test]
async fn text_beyond_ascii_survives_the_trip() {
    let server = SmtpTestServer::start().await;
    let mailer = SmtpMailer::new(&server.url(), SENDER).unwrap();
    let mail = OutgoingMail {
        to: "zoe@example.com".into(),
        subject: "Grüße: Bestellung #7 bestätigt".into(),
        text_body: "Danke für Ihre Bestellung: 2 × Teekanne à 15,00 €\n".into(),
    };

    mailer.send(&mail).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    // Headers travel as 7-bit ASCII (RFC 2047 encoded words), whatever the subject holds.
    let subject = received[0].header("Subject").unwrap();
    assert!(
        subject.is_ascii() && subject.contains("=?utf-8?"),
        "{subject}"
    );
    assert!(received[0].data.is_ascii(), "{:?}", received[0].data);

    // An address beyond ASCII needs a server that offers SMTPUTF8; this one does not, and
    // asking again will not change that.
    let error = mailer
        .send(&OutgoingMail {
            to: "zoë@example.com".into(),
            ..mail
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Backend { .. }), "{error:?}");
}

#[tokio::test]
async fn credentials_in_the_url_log_in() {
    let server = SmtpTestServer::start_with(SmtpTestOptions {
        login: Some(("shop".into(), "s3cret p@ss".into())),
        ..SmtpTestOptions::default()
    })
    .await;
    // As a URL carries them: percent-encoded.
    let url = server.url_with_login("shop", "s3cret%20p%40ss");
    SmtpMailer::new(&url, SENDER)
        .unwrap()
        .send(&confirmation())
        .await
        .unwrap();
    assert_eq!(server.received()[0].user.as_deref(), Some("shop"));

    // A wrong password is the server's permanent answer: retrying will not fix it.
    let wrong = SmtpMailer::new(&server.url_with_login("shop", "guess"), SENDER).unwrap();
    let error = wrong.send(&confirmation()).await.unwrap_err();
    assert!(matches!(error, Error::Backend { .. }), "{error:?}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_permanent_refusal_is_a_backend_error_and_a_temporary_one_is_unavailability() {
    for (code, permanent) in [(550, true), (451, false)] {
        let server = SmtpTestServer::start_with(SmtpTestOptions {
            refuse_recipients_with: Some(code),
            ..SmtpTestOptions::default()
        })
        .await;
        let mailer = SmtpMailer::new(&server.url(), SENDER).unwrap();
        let error = mailer.send(&confirmation()).await.unwrap_err();
        if permanent {
            assert!(matches!(error, Error::Backend { .. }), "{code}: {error:?}");
        } else {
            assert!(
                matches!(error, Error::Unavailable { .. }),
                "{code}: {error:?}"
            );
        }
        assert!(server.received().is_empty());
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable_and_a_later_send_succeeds() {
    // A port that was free a moment ago: nothing listens on it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mailer = SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), SENDER).unwrap();
    let error = mailer.send(&confirmation()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");

    // The pool keeps no broken connection: the same mailer sends once a server answers.
    let server = SmtpTestServer::start().await;
    let mailer = SmtpMailer::new(&server.url(), SENDER).unwrap();
    mailer.send(&confirmation()).await.unwrap();
    mailer.send(&confirmation()).await.unwrap();
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_recipient_that_is_no_address_is_refused_before_connecting() {
    let server = SmtpTestServer::start().await;
    let mailer = SmtpMailer::new(&server.url(), SENDER).unwrap();
    let mail = OutgoingMail {
        to: "not an address".into(),
        ..confirmation()
    };
    let error = mailer.send(&mail).await.unwrap_err();
    assert!(matches!(error, Error::Backend { .. }), "{error:?}");
    assert!(server.received().is_empty());
}

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Config::from_lookup(move |name| {
        vars.iter()
            .find(|(variable, _)| variable == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap()
}

fn start_up_error(vars: &[(&str, &str)]) -> String {
    match PluginFactory::plugins_for(&config(vars)) {
        Ok(plugins) => panic!(
            "started with {:?}",
            plugins.iter().map(|p| p.name()).collect::<Vec<_>>()
        ),
        Err(BuildError::Plugin { source, .. }) => source.to_string(),
        Err(other) => panic!("another error: {other}"),
    }
}

#[test]
fn smtp_urls_pick_the_smtp_plugin() {
    for url in ["smtp://127.0.0.1:2525", "smtps://user:pw@mail.example.com"] {
        let plugins =
            PluginFactory::plugins_for(&config(&[("SMTP_URL", url), ("MAIL_FROM", SENDER)]))
                .unwrap();
        assert!(plugins.iter().any(|p| p.name() == "smtp"), "{url}");
    }
}

#[test]
fn start_up_names_a_missing_or_unreadable_setting() {
    let missing = start_up_error(&[("SMTP_URL", "smtp://127.0.0.1:2525")]);
    assert!(missing.contains("MAIL_FROM: is required"), "{missing}");

    let sender = start_up_error(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("MAIL_FROM", "the shop"),
    ]);
    assert!(sender.contains("MAIL_FROM:"), "{sender}");

    // An unknown TLS mode; the message must not repeat the URL's password.
    let url = start_up_error(&[
        (
            "SMTP_URL",
            "smtp://shop:hunter22@mail.example.com?tls=sometimes",
        ),
        ("MAIL_FROM", SENDER),
    ]);
    assert!(url.contains("SMTP_URL:"), "{url}");
    assert!(!url.contains("hunter22"), "{url}");
}
