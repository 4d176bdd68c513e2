//! The append use case: the heart of the write path.
//!
//! An append goes: replay check (an identical retry gets the original answer) → signature
//! check (batched with concurrent appends) → decode every payload → one author per batch →
//! the gates → decide against the state folded from the log → append on exactly the stream
//! revision that state was decided on.
//!
//! The gates make the order in which appends are decided the order in which the log records
//! them, wherever a rule could tell the difference, so that folding the log later (here, or in
//! `klero verify`) decides every event the same way:
//! - rules cross the streams of one assembly (a vote counts the seated panel, which the
//!   selection stream changes), so appends to one assembly decide and append one at a time;
//!   appends to different assemblies run in parallel and share fsyncs through group commit;
//! - a registry append holds the registry gate exclusively, and every other append holds it
//!   shared, so no event is authorised by a grant that a revocation before it had removed.

use crate::{mutex, read, AppendAnnounced, Application, ApplicationError};
use klero_catalogue::FieldViolation;
use klero_domain::{DomainEvent, Proposal, StreamKind};
use klero_ledger::envelope::SignedAuthorPart;
use klero_log::{AppendedEvent, LogError, VerifiedAuthorPart};
use klero_store::ExpectedRevision;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many times an append is decided again after losing a race for its stream to another
/// writer of the same store.
const DECIDE_ATTEMPTS_MAX: usize = 16;

/// An append of one or more signed events to one stream, all or nothing.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedRevision,
    pub events: Vec<SignedAuthorPart>,
    /// Empty, or one entry per event: the data key of an event that holds sealed text
    /// (FORMAT.md §14), `None` for any other.
    pub data_keys: Vec<Option<klero_domain::DataKey>>,
}

/// One event as recorded, and what the rules judged of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub event: AppendedEvent,
    /// The event was recorded after a deadline that applies to it (a late response).
    pub late: bool,
}

/// The locks that order decisions (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct AppendGates {
    /// Shared by assembly appends, exclusive for registry appends.
    registry: tokio::sync::RwLock<()>,
    /// One lock per assembly (or per stream outside the scheme) with appends in flight.
    assemblies: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AppendGates {
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        mutex(&self.assemblies).entry(key.to_string()).or_default().clone()
    }

    /// Drops the lock from the map once no other append holds or waits for it.
    fn release(&self, key: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = mutex(&self.assemblies);
        // Two references left: the map's and ours.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(key);
        }
    }
}

/// The key of the decision lock for a stream: its assembly, or the stream itself.
fn decision_key(stream: &str) -> String {
    match StreamKind::parse_stream(stream) {
        Some((_, Some(assembly))) => format!("assembly/{assembly}"),
        _ => stream.to_string(),
    }
}

impl Application {
    /// Announces an append request from its arrival until the returned tokens are dropped with
    /// the answer. Front ends take it first thing, before parsing, so that the store and the
    /// signature checker know how many appends are on their way.
    pub fn announce_append(&self) -> AppendAnnounced {
        AppendAnnounced { _store: self.store.expect_append(), _signatures: self.signatures.append_in_progress() }
    }

    /// Appends events to one stream after every check.
    pub async fn append(&self, request: AppendRequest) -> Result<Vec<Appended>, ApplicationError> {
        let outcome = self.append_checked(request).await;
        if let Err(ApplicationError::StorageFailed { reason }) = &outcome {
            self.write_failure.record(reason);
        }
        outcome
    }

    async fn append_checked(&self, request: AppendRequest) -> Result<Vec<Appended>, ApplicationError> {
        let AppendRequest { stream, expected, events: signed, data_keys } = request;
        let batch_len = signed.len();
        if batch_len == 0 {
            return Err(ApplicationError::invalid_field("events", "must hold at least one event"));
        }
        let batch_events_max = self.config.limits.batch_events_max;
        if batch_len > batch_events_max {
            return Err(ApplicationError::LimitExceeded {
                limit: "events per batch",
                actual: batch_len as u64,
                max: batch_events_max as u64,
            });
        }
        // A retry of events already recorded gets the original answer, before any rule runs.
        if let Some(replayed) = self.answer_if_replay(&stream, &signed).await? {
            return Ok(replayed);
        }
        let verified = self.signatures.verify(signed).await?;
        let mut events = Vec::with_capacity(batch_len);
        for (index, event) in verified.iter().enumerate() {
            let author = event.signed().author();
            if author.stream != stream {
                return Err(ApplicationError::invalid_field(
                    format!("events[{index}].stream"),
                    format!("is {}, the batch is for {stream}", author.stream),
                ));
            }
            let decoded = klero_catalogue::decode_event(&author.event_type, author.event_version, &author.payload)
                .map_err(|violations| {
                    let violations = if batch_len == 1 {
                        violations
                    } else {
                        violations
                            .into_iter()
                            .map(|v| FieldViolation { field: format!("events[{index}].{}", v.field), ..v })
                            .collect()
                    };
                    ApplicationError::InvalidArgument { violations }
                })?;
            events.push(decoded);
        }
        let author_of = |event: &VerifiedAuthorPart| event.signed().author().author_public_key;
        if verified.windows(2).any(|w| author_of(&w[0]) != author_of(&w[1])) {
            return Err(ApplicationError::invalid_field("events", "every event of a batch must have the same author"));
        }
        let author_key = author_of(&verified[0]);
        let keys_to_keep = crate::personal::check_data_keys(&verified, &events, &data_keys)?;
        if !keys_to_keep.is_empty() {
            // Durable no later than the events they open (the store syncs them with the
            // append), so an acknowledged event's text can always be read until it is erased.
            // Kept before the decision, outside its lock; a key whose event is then refused
            // opens nothing in the log.
            self.store.put_data_keys(&keys_to_keep).await.inspect_err(|e| self.write_failure.record_store_error(e))?;
        }
        let is_registry = events.iter().any(|e| e.stream_kind() == StreamKind::Registry);
        // Registry changes wait for appends in flight and hold back new ones until recorded.
        let _shared;
        let _exclusive;
        if is_registry {
            _exclusive = self.appends.registry.write().await;
        } else {
            _shared = self.appends.registry.read().await;
        }
        let key = decision_key(&stream);
        let lock = self.appends.lock_for(&key);
        let result = {
            let _deciding = lock.lock().await;
            self.decide_and_append(&stream, expected, &verified, events, author_key).await
        };
        self.appends.release(&key, lock);
        match result {
            // A retry that passed the look above before its original landed (the same append
            // sent twice at once) is then decided on a state that holds the original, and the
            // rules or the revision may refuse it: it is still a retry, and gets the original
            // answer.
            Err(ApplicationError::Rejected { .. } | ApplicationError::Conflict { .. }) => {
                match self.answer_if_replay(&stream, &verified).await? {
                    Some(replayed) => Ok(replayed),
                    None => result,
                }
            }
            result => result,
        }
    }

    /// The original answer, if `events` were all recorded already with the same bytes.
    async fn answer_if_replay<E: std::borrow::Borrow<SignedAuthorPart>>(
        &self,
        stream: &str,
        events: &[E],
    ) -> Result<Option<Vec<Appended>>, ApplicationError> {
        let Some(replayed) = self.log.replay_if_present(events).await? else { return Ok(None) };
        self.sync_fold().await?;
        // A retry of an erasure whose key destruction failed tries it again rather than answer
        // as if it were done.
        self.finish_erasures_of(stream, events).await?;
        Ok(Some(self.replayed(replayed)))
    }

    fn replayed(&self, replayed: Vec<AppendedEvent>) -> Vec<Appended> {
        let fold = read(&self.fold);
        replayed.into_iter().map(|event| Appended { late: fold.is_late(&event.event_id), event }).collect()
    }

    /// Decides against the folded state and appends on exactly the revision decided on;
    /// another writer of the same store can still win the race, and then the decision is made
    /// again on the new state.
    async fn decide_and_append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        verified: &[VerifiedAuthorPart],
        events: Vec<DomainEvent>,
        author_key: [u8; 32],
    ) -> Result<Vec<Appended>, ApplicationError> {
        let erasures = crate::personal::erasures_in(stream, &events);
        for _attempt in 0..DECIDE_ATTEMPTS_MAX {
            if self.store.shared_by_servers() {
                // Another server may have appended since this one last looked: decide on the
                // whole log.
                self.log.follow_store().await?;
            }
            self.sync_fold().await?;
            // Never earlier than the log's last event: a view's "now" (its last event's
            // recording time, FORMAT.md §7) does not step back when the clock does. The same
            // time is decided on and recorded, so the fold decides the event again as here.
            let now = (self.config.clock)().max(self.log.last_recorded_at_unix_ms());
            let (acceptances, current) = {
                let fold = read(&self.fold);
                for (index, event) in verified.iter().enumerate() {
                    klero_domain::check_authored_at(event.signed().author().authored_at_unix_ms, now).map_err(
                        |rejection| ApplicationError::Rejected {
                            event_index: (verified.len() > 1).then_some(index),
                            rejection,
                        },
                    )?;
                }
                let proposal = Proposal { stream, author: &author_key, recorded_at_unix_ms: now };
                let acceptances = fold.decide(&events, proposal).map_err(|(index, rejection)| {
                    ApplicationError::Rejected { event_index: (events.len() > 1).then_some(index), rejection }
                })?;
                (acceptances, fold.stream_revision(stream))
            };
            if !expected.holds(current) {
                return Err(ApplicationError::Conflict {
                    stream: stream.to_string(),
                    expected: expected.to_string(),
                    current,
                });
            }
            // Append exactly on top of the revision the decision saw.
            let at = current.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);

            // The fold takes these once the log holds them; spare it decoding them again.
            self.cache_decoded(verified, &events);
            // Replays were looked for before the decision (above, in `append_checked`).
            match self.log.append_decided(stream, at, verified, now).await {
                Ok(appended) => {
                    // An append is one unit: its events are consecutive leaves the log now holds.
                    let log_size = self.log.size();
                    assert!(
                        appended.windows(2).all(|w| w[1].leaf_index == w[0].leaf_index + 1)
                            && appended.iter().all(|a| a.leaf_index < log_size),
                        "an append's events are consecutive leaves of the log"
                    );
                    if appended.iter().any(|a| !a.newly_appended) {
                        // A concurrent identical retry recorded them first; the fold has them.
                        self.uncache_decoded(verified);
                    }
                    // The erasure is durable: only now is its key destroyed, before the answer.
                    for (assembly, erased) in &erasures {
                        self.finish_erasure(assembly, &erased.event_hash).await?;
                    }
                    return Ok(appended
                        .into_iter()
                        .zip(&acceptances)
                        .map(|(event, acceptance)| Appended { event, late: acceptance.late })
                        .collect());
                }
                Err(LogError::Conflict { .. }) => continue,
                Err(LogError::DuplicateEventId { event_id, reason }) => {
                    // Not a retry: the log looked for one when the store refused the ids (a
                    // concurrent identical retry that landed first is answered as one there).
                    self.uncache_decoded(verified);
                    return Err(ApplicationError::DuplicateEventId { event_id, reason });
                }
                Err(error) => {
                    // It may still have landed (the store failed after writing, say); then the
                    // fold decodes it from the log.
                    self.uncache_decoded(verified);
                    return Err(error.into());
                }
            }
        }
        self.uncache_decoded(verified);
        let current = read(&self.fold).stream_revision(stream);
        Err(ApplicationError::Conflict {
            stream: stream.to_string(),
            expected: "a stable revision (too many concurrent appends)".into(),
            current,
        })
    }

    fn cache_decoded(&self, verified: &[VerifiedAuthorPart], events: &[DomainEvent]) {
        let mut cache = mutex(&self.decoded_cache);
        // Appends cancelled midway leave entries behind; the bound keeps those from piling up.
        if cache.len() + events.len() > crate::DECODED_CACHE_EVENTS_MAX {
            cache.clear();
        }
        for (signed, event) in verified.iter().map(VerifiedAuthorPart::signed).zip(events) {
            cache.insert(signed.author().event_id, (*signed.signature(), event.clone()));
        }
    }

    fn uncache_decoded(&self, verified: &[VerifiedAuthorPart]) {
        let mut cache = mutex(&self.decoded_cache);
        for signed in verified.iter().map(VerifiedAuthorPart::signed) {
            // Only this request's own entry: a concurrent request may hold the id with other bytes.
            if cache.get(&signed.author().event_id).is_some_and(|(signature, _)| signature == signed.signature()) {
                cache.remove(&signed.author().event_id);
            }
        }
    }
}
