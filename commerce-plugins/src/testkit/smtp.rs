//! An SMTP server on an ephemeral port that keeps what it is sent, for tests of mail delivery.
//!
//! The protocol is mailin's SMTP session (commands in order, `AUTH PLAIN` and `LOGIN`, `DATA`
//! with its dot-stuffing) driven over real TCP connections, so a client under test speaks to
//! it exactly as to a relay. It can require a login and refuse recipients with a chosen reply
//! code, to test the unhappy paths.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin::response::{AUTH_OK, INVALID_CREDENTIALS, OK};
use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message as the server took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The user that logged in, if the server asked for a login.
    pub user: Option<String>,
    /// The message as sent: headers, a blank line, the body.
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header called `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = self.data.split_once("\r\n\r\n")?;
        let mut value: Option<String> = None;
        for line in headers.split("\r\n") {
            if let Some(found) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    found.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((field, rest)) = line.split_once(':')
                && field.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }
}

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct SmtpTestOptions {
    /// A user name and password the client must log in with before sending.
    pub login: Option<(String, String)>,
    /// Answer every `RCPT TO` with this code (e.g. 550 mailbox unavailable, 451 try later).
    pub refuse_recipients_with: Option<u16>,
}

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct SmtpTestServer {
    address: SocketAddr,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    accepting: JoinHandle<()>,
}

impl SmtpTestServer {
    /// A server that takes any mail from anyone.
    pub async fn start() -> Self {
        Self::start_with(SmtpTestOptions::default()).await
    }

    /// A server behaving as `options` say.
    pub async fn start_with(options: SmtpTestOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the SMTP test server");
        let address = listener
            .local_addr()
            .expect("the SMTP test server's address");
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut session = SessionBuilder::new("smtp.test");
        if options.login.is_some() {
            session
                .enable_auth(AuthMechanism::Plain)
                .enable_auth(AuthMechanism::Login)
                .insecure_enable_plaintext_auth();
        }
        let options = Arc::new(options);
        let accepting = tokio::spawn({
            let inbox = inbox.clone();
            async move {
                while let Ok((stream, peer)) = listener.accept().await {
                    let recorder = Recorder {
                        options: options.clone(),
                        inbox: inbox.clone(),
                        user: None,
                        current: None,
                        data: Vec::new(),
                    };
                    let session = session.clone();
                    tokio::spawn(async move {
                        // A client hanging up mid-session is its own business.
                        let _ = converse(stream, peer.ip(), &session, recorder).await;
                    });
                }
            }
        });
        Self {
            address,
            inbox,
            accepting,
        }
    }

    /// The URL to give an SMTP client: plain SMTP on the server's port.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// The URL with a login, for a server started with one.
    pub fn url_with_login(&self, user: &str, password: &str) -> String {
        format!("smtp://{user}:{password}@{}", self.address)
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.inbox.lock().expect("the inbox lock").clone()
    }

    /// Waits up to `within` for a message that `wanted` picks, and answers it.
    pub async fn wait_for_mail(
        &self,
        wanted: impl Fn(&ReceivedMail) -> bool,
        within: Duration,
    ) -> Option<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(mail) = self.received().into_iter().find(|mail| wanted(mail)) {
                return Some(mail);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpTestServer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// One connection: the greeting, then a reply to each line as the session decides.
async fn converse(
    stream: TcpStream,
    peer: IpAddr,
    builder: &SessionBuilder,
    recorder: Recorder,
) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut session = builder.build(peer, recorder);
    writer.write_all(&session.greeting().buffer()?).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => writer.write_all(&response.buffer()?).await?,
            Action::Close | Action::UpgradeTls => {
                writer.write_all(&response.buffer()?).await?;
                return Ok(());
            }
        }
    }
}

/// The session's decisions, and the message being received.
struct Recorder {
    options: Arc<SmtpTestOptions>,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    user: Option<String>,
    current: Option<ReceivedMail>,
    data: Vec<u8>,
}

impl Recorder {
    fn log_in(&mut self, user: &str, password: &str) -> Response {
        match &self.options.login {
            Some((expected_user, expected_password))
                if user == expected_user && password == expected_password =>
            {
                self.user = Some(user.to_owned());
                AUTH_OK
            }
            _ => INVALID_CREDENTIALS,
        }
    }
}

impl Handler for Recorder {
    fn rcpt(&mut self, _to: &str) -> Response {
        match self.options.refuse_recipients_with {
            Some(code) => Response::custom(code, "refused by the test server".into()),
            None => OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(ReceivedMail {
            from: from.to_owned(),
            to: to.to_vec(),
            user: self.user.clone(),
            data: String::new(),
        });
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(mut mail) = self.current.take() {
            mail.data = String::from_utf8_lossy(&self.data).into_owned();
            self.inbox.lock().expect("the inbox lock").push(mail);
        }
        OK
    }

    fn auth_plain(&mut self, _authorization_id: &str, user: &str, password: &str) -> Response {
        self.log_in(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        self.log_in(user, password)
    }
}
