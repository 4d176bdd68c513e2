//! A notification as an email, and the two ways to send one: the operator's SMTP relay, or the
//! standard output (the demo, and an operator trying it out).

use crate::due::Due;
use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An email, ready to send: the address is opened just before and dropped just after.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Stable across attempts and restarts: `<key@domain>`.
    pub message_id: String,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The relay refused it for good (an unknown mailbox, a malformed address): sending again
    /// would not help.
    #[error("refused for good: {0}")]
    Permanent(String),
    /// The relay is down, busy or said to try later.
    #[error("not sent, to retry: {0}")]
    Transient(String),
}

#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    async fn send(&self, email: &Email, from: &Mailbox) -> Result<(), SendError>;
}

/// The operator's relay (`--smtp smtp://user:password@host:587?tls=required`): lettre's URL
/// form, STARTTLS with `tls=required`, implicit TLS with `smtps://`, authentication from the
/// URL's user and password.
#[derive(Debug)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// The relay at `url`; the error does not repeat the URL, which may hold a password.
    pub fn new(url: &str) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| error.to_string())?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(SmtpMailer { transport })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email, from: &Mailbox) -> Result<(), SendError> {
        let to: Mailbox =
            email.to.parse().map_err(|error| SendError::Permanent(format!("the address does not parse: {error}")))?;
        let message = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(email.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|error| SendError::Permanent(error.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }
}

/// Prints each message instead of sending it: what the demo shows without `--smtp`.
#[derive(Debug)]
pub struct PrintMailer;

#[async_trait]
impl Mailer for PrintMailer {
    async fn send(&self, email: &Email, from: &Mailbox) -> Result<(), SendError> {
        println!(
            "── notification (printed; give --smtp to send it) ──\nFrom: {from}\nTo: {}\nMessage-ID: {}\nSubject: {}\n\n{}",
            email.to, email.message_id, email.subject, email.body
        );
        Ok(())
    }
}

/// The email for a due notification to `to`; `public_url` is where the pages are served.
pub fn compose(due: &Due, to: String, public_url: &str) -> Email {
    let public_url = public_url.trim_end_matches('/');
    let domain = public_url.split("://").nth(1).unwrap_or(public_url).split(['/', ':']).next().unwrap_or("localhost");
    let page = format!("{public_url}/receipt?log_index={}", due.submission_log_index);
    let body = format!(
        "{}.\n\n{}\n\nFollow your submission, checked by your own browser:\n{page}\n\nThe same updates, without email (Atom feed):\n{public_url}/receipt/{}/feed.atom\n\nThis was recorded as event {} of the public record.\n\nYou get these emails because you left this address with your submission to assembly {}. To stop them, ask the council to erase your submission's personal details: nothing is sent to an erased address.\n",
        due.update.title(),
        due.update.explanation(),
        due.submission_log_index,
        due.event_log_index,
        due.assembly,
    );
    Email {
        to,
        subject: due.update.title(),
        body,
        message_id: format!("<{}.{}@{domain}>", due.message_key(), due.update.code()),
    }
}
