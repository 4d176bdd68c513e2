//! Which notifications an event makes due: a fold over the log that remembers only what it
//! needs to know whom a later event concerns (never an address).

use klero_domain::{AssemblyId, DomainEvent, StreamKind};
use klero_ledger::Hash256;
use klero_pages::SubmissionUpdate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One notification to send: an update of one resident's submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub assembly: AssemblyId,
    pub submission_event_hash: Hash256,
    pub submission_log_index: u64,
    pub update: SubmissionUpdate,
    /// The event that made it due.
    pub event_hash: Hash256,
    pub event_log_index: u64,
    pub recorded_at_unix_ms: u64,
}

impl Due {
    /// The same for every attempt and every restart, so that a resent message is recognised as
    /// the same one: a digest of the submission and the event.
    pub fn message_key(&self) -> String {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(b"klero-notification\0");
        digest.update(self.submission_event_hash.0);
        digest.update(self.event_hash.0);
        digest.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A resident's submission that left a contact, so that it may be told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Reachable {
    assembly: AssemblyId,
    log_index: u64,
}

/// What the fold keeps between events: submissions that left a contact, the reachable
/// submissions each recommendation cites, and each adoption's recommendation. It grows with
/// those only, not with the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    reachable: BTreeMap<Hash256, Reachable>,
    /// By assembly and recommendation id.
    cited: BTreeMap<AssemblyId, BTreeMap<String, Vec<Hash256>>>,
    /// Adoption event hash → (assembly, recommendation id).
    adoptions: BTreeMap<Hash256, (AssemblyId, String)>,
}

impl Tracker {
    /// Folds one recorded event, returning the notifications it makes due, and the
    /// submissions whose contact it erases (nothing may be sent to them any more).
    pub fn fold(
        &mut self,
        stream: &str,
        event: &DomainEvent,
        event_hash: Hash256,
        log_index: u64,
        recorded_at_unix_ms: u64,
    ) -> (Vec<Due>, Option<Hash256>) {
        let Some((_, Some(assembly))) = StreamKind::parse_stream(stream) else { return (Vec::new(), None) };
        let due = |tracker: &Tracker, submission: &Hash256, update: SubmissionUpdate| {
            tracker.reachable.get(submission).map(|reachable| Due {
                assembly: reachable.assembly.clone(),
                submission_event_hash: *submission,
                submission_log_index: reachable.log_index,
                update,
                event_hash,
                event_log_index: log_index,
                recorded_at_unix_ms,
            })
        };
        let mut made_due = Vec::new();
        match event {
            DomainEvent::ResidentSubmitted(submitted) if submitted.contact.is_some() => {
                self.reachable.insert(event_hash, Reachable { assembly, log_index });
            }
            DomainEvent::SubmissionModerated(moderated) => {
                let update = match (&moderated.decision, &moderated.reason) {
                    (klero_domain::ModerationDecision::Withhold, reason) => {
                        SubmissionUpdate::Withheld { reason: reason.clone().unwrap_or_default() }
                    }
                    (klero_domain::ModerationDecision::Publish, _) => SubmissionUpdate::Published,
                };
                made_due.extend(due(self, &moderated.submission_event_hash, update));
            }
            DomainEvent::RecommendationInputsCited(cited) => {
                for citation in &cited.citations {
                    let submission = citation.input_event_hash;
                    if !self.reachable.contains_key(&submission) {
                        continue;
                    }
                    let by_recommendation = self.cited.entry(assembly.clone()).or_default();
                    let citing = by_recommendation.entry(cited.recommendation_id.clone()).or_default();
                    // A recommendation cites again after each amendment: told once.
                    if citing.contains(&submission) {
                        continue;
                    }
                    citing.push(submission);
                    let update = SubmissionUpdate::Cited { recommendation_id: cited.recommendation_id.clone() };
                    made_due.extend(due(self, &submission, update));
                }
            }
            DomainEvent::RecommendationAdopted(adopted) => {
                self.adoptions.insert(event_hash, (assembly, adopted.recommendation_id.clone()));
            }
            DomainEvent::ResponseIssued(issued) => {
                made_due.extend(self.answered(&issued.recommendation_event_hash, issued.decision, &due));
            }
            DomainEvent::ResponseAmended(amended) => {
                made_due.extend(self.answered(&amended.recommendation_event_hash, amended.decision, &due));
            }
            DomainEvent::ContentErased(erased) => {
                if let Some(reachable) = self.reachable.remove(&erased.event_hash) {
                    if let Some(by_recommendation) = self.cited.get_mut(&reachable.assembly) {
                        for citing in by_recommendation.values_mut() {
                            citing.retain(|s| *s != erased.event_hash);
                        }
                    }
                    return (made_due, Some(erased.event_hash));
                }
            }
            _ => {}
        }
        (made_due, None)
    }

    fn answered(
        &self,
        adoption: &Hash256,
        decision: klero_domain::Decision,
        due: &impl Fn(&Tracker, &Hash256, SubmissionUpdate) -> Option<Due>,
    ) -> Vec<Due> {
        let Some((assembly, recommendation_id)) = self.adoptions.get(adoption) else { return Vec::new() };
        self.cited
            .get(assembly)
            .and_then(|by_recommendation| by_recommendation.get(recommendation_id))
            .into_iter()
            .flatten()
            .filter_map(|submission| {
                let update = SubmissionUpdate::Answered { recommendation_id: recommendation_id.clone(), decision };
                due(self, submission, update)
            })
            .collect()
    }

    /// How many submissions can be told: the size of what the fold keeps.
    pub fn reachable_count(&self) -> usize {
        self.reachable.len()
    }
}
