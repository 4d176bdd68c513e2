//! A notification as an email, and the two ways to send one: the operator's SMTP relay, or the
//! standard output (the demo, and an operator trying it out).

use crate::due::Due;
use async_trait::async_trait;
use klero_pages::{Arg, Lang};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
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
    /// The relay at `url`; the error does not repeat the URL, which may hold a password. With
    /// `ca_pem`, the relay's certificate must chain to that CA (a council's own relay) instead
    /// of the system's roots, and TLS is required: STARTTLS for `smtp://`, TLS from the start
    /// for `smtps://`.
    pub fn new(url: &str, ca_pem: Option<&[u8]>) -> Result<SmtpMailer, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|error| error.to_string())?;
        if let Some(pem) = ca_pem {
            let host = url
                .split("://")
                .nth(1)
                .map(|rest| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
                .and_then(|rest| rest.split(['/', '?']).next())
                .map(|host_port| host_port.rsplit_once(':').map_or(host_port, |(host, _)| host))
                .ok_or("the URL names no host")?;
            let certificate = Certificate::from_pem(pem).map_err(|error| format!("the CA: {error}"))?;
            let parameters = TlsParameters::builder(host.to_string())
                .add_root_certificate(certificate)
                .build_rustls()
                .map_err(|error| error.to_string())?;
            builder = builder.tls(if url.starts_with("smtps://") {
                Tls::Wrapper(parameters)
            } else {
                Tls::Required(parameters)
            });
        }
        Ok(SmtpMailer { transport: builder.timeout(Some(SMTP_TIMEOUT)).build() })
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
            Err(error) if error.is_permanent() && !refuses_this_server(&error) => {
                Err(SendError::Permanent(error.to_string()))
            }
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }
}

/// Whether a permanent refusal is of this server rather than of the message: 53x replies
/// (authentication required or failed, encryption required). Those wait for the operator to
/// fix the relay's settings; dropping the messages would lose them.
fn refuses_this_server(error: &lettre::transport::smtp::Error) -> bool {
    error.status().is_some_and(|code| code.to_string().starts_with("53"))
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

/// The email for a due notification to `to`, in each of `languages` in turn (a council in
/// Wales writes in Welsh and English); `public_url` is where the pages are served.
pub fn compose(due: &Due, to: String, public_url: &str, languages: &[Lang]) -> Email {
    let public_url = public_url.trim_end_matches('/');
    let domain = public_url.split("://").nth(1).unwrap_or(public_url).split(['/', ':']).next().unwrap_or("localhost");
    let languages = if languages.is_empty() { &[Lang::En][..] } else { languages };
    let blocks: Vec<String> = languages
        .iter()
        .map(|lang| {
            let page = format!("{public_url}{}/receipt?log_index={}", lang.prefix(), due.submission_log_index);
            format!(
                "{}.\n\n{}\n\n{}\n{page}\n\n{}\n{public_url}{}/receipt/{}/feed.atom\n\n{}\n\n{}\n",
                due.update.title_in(*lang),
                due.update.explanation_in(*lang),
                lang.t("mail-follow"),
                lang.t("mail-feed"),
                lang.prefix(),
                due.submission_log_index,
                lang.ta("mail-recorded", &[("index", Arg::Number(due.event_log_index))]),
                lang.ta("mail-why", &[("assembly", Arg::Text(due.assembly.to_string()))]),
            )
        })
        .collect();
    let subject: Vec<String> = languages.iter().map(|lang| due.update.title_in(*lang)).collect();
    Email {
        to,
        subject: subject.join(" / "),
        body: blocks.join("\n— — —\n\n"),
        message_id: format!("<{}.{}@{domain}>", due.message_key(), due.update.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klero_domain::AssemblyId;
    use klero_ledger::Hash256;
    use klero_pages::SubmissionUpdate;

    fn due() -> Due {
        Due {
            assembly: AssemblyId::parse("buses").expect("id"),
            submission_event_hash: Hash256::of(b"submission"),
            submission_log_index: 7,
            update: SubmissionUpdate::Cited { recommendation_id: "R2".into() },
            event_hash: Hash256::of(b"citation"),
            event_log_index: 12,
            recorded_at_unix_ms: 0,
        }
    }

    #[test]
    fn a_message_is_written_in_each_language_asked_for_with_one_message_id() {
        let english = compose(&due(), "r@example.org".into(), "https://pages.example/", &[Lang::En]);
        assert_eq!(english.subject, "Recommendation R2 cites your submission");
        assert!(english.body.contains("https://pages.example/receipt?log_index=7"), "{}", english.body);
        assert!(english.body.contains("event 12 of the public record"), "{}", english.body);
        let both = compose(&due(), "r@example.org".into(), "https://pages.example", &[Lang::Cy, Lang::En]);
        assert_eq!(
            both.subject,
            "Mae argymhelliad R2 yn cyfeirio at eich cyflwyniad / Recommendation R2 cites your submission"
        );
        assert!(both.body.starts_with("Mae argymhelliad R2"), "Welsh first: {}", both.body);
        assert!(both.body.contains("https://pages.example/cy/receipt?log_index=7"), "{}", both.body);
        assert!(both.body.contains("https://pages.example/receipt?log_index=7"), "{}", both.body);
        // One message, whatever its languages: the same Message-ID, stable across attempts.
        assert_eq!(english.message_id, both.message_id);
        assert_eq!(
            english.message_id,
            compose(&due(), "x@example.org".into(), "https://pages.example", &[]).message_id
        );
        assert!(english.message_id.ends_with(".cited@pages.example>"), "{}", english.message_id);
    }
}
