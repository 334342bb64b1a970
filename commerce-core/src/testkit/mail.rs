//! The contract of [`Mailer`].

use std::sync::Arc;

use crate::Error;
use crate::ports::{Mailer, OutgoingMail};

fn confirmation(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "Your order #41 is confirmed".into(),
        text_body: "Hello ann,\n\nthank you for your order #41.\n".into(),
    }
}

/// A mail to an address is accepted, text beyond ASCII and long lines included. What arrives
/// where is each transport's own to test (the SMTP mailer's tests read its server's inbox).
pub async fn mail_to_an_address_is_accepted<M: Mailer>(mailer: Arc<M>) {
    mailer.send(&confirmation("ann@example.com")).await.unwrap();
    let accented = OutgoingMail {
        subject: "Votre commande nº 41 est confirmée ✓".into(),
        text_body: format!("Grüße aus Köln — {}\n", "très long ".repeat(200)),
        ..confirmation("zoe@example.com")
    };
    mailer.send(&accented).await.unwrap();
}

/// A recipient that is no address is refused as a failure no retry will fix
/// ([`Error::Backend`]), whichever mailer: the task sending it is then buried at once, in
/// development as in production, instead of retried for days.
pub async fn a_recipient_that_is_no_address_is_refused<M: Mailer>(mailer: Arc<M>) {
    for to in ["not an address", "", "ann@", "@example.com"] {
        let refused = mailer.send(&confirmation(to)).await;
        assert!(
            matches!(refused, Err(Error::Backend { .. })),
            "{to:?}: {refused:?}"
        );
    }
}
