//! Being told (docs/API.md §Notifications): a resident who left an email address with their
//! submission is told when it is published or withheld, when a recommendation cites it, and
//! when the council answers that recommendation.
//!
//! - The outbox derives from the log: the notifier follows it in order, and each event makes
//!   its notifications due ([`due::Tracker`]). Its progress and the notifications not yet sent
//!   are kept durably ([`outbox`]), so a restart neither loses nor repeats the fold.
//! - Each notification is sent at least once: it leaves the outbox only after the relay
//!   accepted it, so a crash between the two sends it again, with the same Message-ID (a
//!   digest of the submission and the event), which mail systems use to show it once.
//! - The address is opened from the submission's sealed contact just before each send and
//!   kept nowhere else; once the contact is erased, nothing is sent to it.
//! - A relay that is down is retried with exponential backoff; a message it refuses for good
//!   is dropped, with a warning in the log.

pub mod due;
pub mod mail;
pub mod outbox;

use async_trait::async_trait;
use klero_application::{Application, FrontEnd, FrontEndError, Shutdown};
use klero_log::LoggedEvent;
use mail::SendError;
use outbox::OutboxState;
use std::sync::Arc;
use std::time::Duration;

/// A sender's address, as `--notify-from` takes it.
pub use lettre::message::Mailbox;
pub use mail::{Mailer, PrintMailer, SmtpMailer};
pub use outbox::Outbox;

/// Events folded between two saves of the outbox while catching up.
const FOLD_BATCH_EVENTS: usize = 4_096;
/// Longest sleep with nothing to do: the notifier also wakes when the log grows.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// How the notifier sends, and where it keeps its outbox.
#[derive(Debug)]
pub struct NotifyConfig {
    pub mailer: Arc<dyn Mailer>,
    /// The messages' sender, e.g. `Kleroterion <noreply@council.example>`.
    pub from: Mailbox,
    /// Where residents reach the pages, for the links in each message.
    pub public_url: String,
    /// The languages each message is written in, in order (`--notify-languages cy,en`).
    pub languages: Vec<klero_pages::Lang>,
    /// The first retry's delay; each next one doubles it, up to `retry_max`.
    pub retry_first: Duration,
    pub retry_max: Duration,
}

impl NotifyConfig {
    pub fn new(mailer: Arc<dyn Mailer>, from: Mailbox, public_url: String) -> NotifyConfig {
        NotifyConfig {
            mailer,
            from,
            public_url,
            languages: vec![klero_pages::Lang::En],
            retry_first: Duration::from_secs(2),
            retry_max: Duration::from_secs(15 * 60),
        }
    }

    fn retry_delay_ms(&self, attempts: u32) -> u64 {
        let delay = self.retry_first.saturating_mul(1u32 << attempts.min(20));
        delay.min(self.retry_max).as_millis() as u64
    }
}

/// The notifier, run beside the front ends.
#[derive(Debug)]
pub struct Notifier {
    config: NotifyConfig,
    outbox: Outbox,
}

impl Notifier {
    pub fn new(config: NotifyConfig, outbox: Outbox) -> Notifier {
        Notifier { config, outbox }
    }
}

#[async_trait]
impl FrontEnd for Notifier {
    fn name(&self) -> &'static str {
        "notifications"
    }

    async fn serve(self: Box<Self>, application: Arc<Application>, shutdown: Shutdown) -> Result<(), FrontEndError> {
        let outbox = &self.outbox;
        let mut state = outbox.load()?;
        let mut subscription = application
            .subscribe(state.next_log_index)
            .map_err(|error| format!("the outbox {} does not fit this log: {error}", outbox.path().display()))?;
        let stop = shutdown.signalled();
        tokio::pin!(stop);
        tracing::info!(
            from_log_index = state.next_log_index,
            pending = state.pending.len(),
            "notifications: following the log"
        );
        loop {
            let mut folded = 0;
            while state.next_log_index < application.log_size() && folded < FOLD_BATCH_EVENTS {
                let event = subscription.next().await?;
                fold(&mut state, &event, application.now_unix_ms());
                folded += 1;
            }
            if folded > 0 {
                outbox.save(&state)?;
            }
            if state.next_log_index < application.log_size() {
                continue;
            }
            self.send_due(&application, &mut state).await?;
            let now = application.now_unix_ms();
            let wait = state
                .pending
                .iter()
                .map(|pending| Duration::from_millis(pending.next_attempt_unix_ms.saturating_sub(now)))
                .min()
                .unwrap_or(IDLE_WAKE)
                .min(IDLE_WAKE);
            tokio::select! {
                _ = &mut stop => return Ok(()),
                event = subscription.next() => {
                    fold(&mut state, &event?, application.now_unix_ms());
                    outbox.save(&state)?;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Folds one recorded event into the outbox's state.
fn fold(state: &mut OutboxState, event: &LoggedEvent, now_unix_ms: u64) {
    state.next_log_index = event.leaf_index + 1;
    let decoded = match klero_fold::LogFold::decode(&event.envelope) {
        Ok(decoded) => decoded,
        Err(violations) => {
            // The log holds only events that decoded when appended; one that no longer does
            // is the verifier's to report, not the outbox's.
            tracing::error!(log_index = event.leaf_index, ?violations, "notifications: an event does not decode");
            return;
        }
    };
    let (due, erased) = state.tracker.fold(
        &event.envelope.author().stream,
        &decoded,
        event.event_hash,
        event.leaf_index,
        event.envelope.ledger().recorded_at_unix_ms,
    );
    if let Some(erased) = erased {
        state.forget(&erased);
    }
    state.queue(due, now_unix_ms);
}

/// Whom a notification goes to, or why it goes to no one.
enum Recipient {
    Address(String),
    /// Erased, or a contact with no email: the notification is dropped.
    NoOne(&'static str),
}

impl Notifier {
    /// Sends every notification whose time has come, saving the outbox after each.
    async fn send_due(&self, application: &Application, state: &mut OutboxState) -> Result<(), FrontEndError> {
        let now = application.now_unix_ms();
        let mut index = 0;
        while index < state.pending.len() {
            if state.pending[index].next_attempt_unix_ms > now {
                index += 1;
                continue;
            }
            let due = state.pending[index].due.clone();
            let sent = match recipient(application, &due).await {
                Ok(Recipient::NoOne(why)) => {
                    tracing::info!(
                        log_index = due.event_log_index,
                        update = due.update.code(),
                        why,
                        "notification not sent"
                    );
                    Ok(())
                }
                Ok(Recipient::Address(to)) => {
                    let email = mail::compose(&due, to, &self.config.public_url, &self.config.languages);
                    let sent = self.config.mailer.send(&email, &self.config.from).await;
                    if sent.is_ok() {
                        tracing::info!(message_id = %email.message_id, update = due.update.code(), "notification sent");
                    }
                    sent
                }
                Err(error) => Err(SendError::Transient(format!("opening the contact: {error}"))),
            };
            match sent {
                Ok(()) => {
                    state.pending.remove(index);
                }
                Err(SendError::Permanent(why)) => {
                    tracing::warn!(log_index = due.event_log_index, %why, "notification refused for good: dropped");
                    state.pending.remove(index);
                }
                Err(SendError::Transient(why)) => {
                    let pending = &mut state.pending[index];
                    pending.attempts += 1;
                    let retry_at = now + self.config.retry_delay_ms(pending.attempts);
                    pending.next_attempt_unix_ms = retry_at;
                    tracing::warn!(log_index = due.event_log_index, attempts = pending.attempts, %why, "notification not sent: will retry");
                    // The relay is likely down: the others wait for the same retry.
                    for other in state.pending.iter_mut().filter(|p| p.next_attempt_unix_ms <= now) {
                        other.next_attempt_unix_ms = retry_at;
                    }
                    self.outbox.save(state)?;
                    return Ok(());
                }
            }
            self.outbox.save(state)?;
        }
        Ok(())
    }
}

/// Opens the submission's sealed contact for its email address.
async fn recipient(
    application: &Application,
    due: &due::Due,
) -> Result<Recipient, klero_application::ApplicationError> {
    let opening = application.open_personal_text(&due.assembly, &due.submission_event_hash).await?;
    if opening.erasure.is_some() {
        return Ok(Recipient::NoOne("the submission's personal details are erased"));
    }
    let contact = opening.fields.iter().find(|field| field.field == "sealed_contact").and_then(|f| f.opened.as_ref());
    let Some(contact) = contact else { return Ok(Recipient::NoOne("the contact is erased")) };
    Ok(match klero_catalogue::ResidentForm::email_in_contact(&contact.text) {
        Some(email) => Recipient::Address(email.to_string()),
        None => Recipient::NoOne("the contact holds no email address"),
    })
}
