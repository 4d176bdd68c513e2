//! The checks. [`verify_export`] replays an export from its bytes and stops at the first
//! failure, which it reports with its class and log position.

use crate::export::Export;
use klero_domain::Rejection;
use klero_fold::{FoldError, LogFold, LoggedEventRef};
use klero_ledger::chain::StreamChainChecker;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::envelope::{verify_signatures_batch, Envelope};
use klero_ledger::merkle::{verify_consistency, MerkleTree};
use klero_ledger::Hash256;
use klero_projections::ViewName;
use serde_json::json;
use std::collections::BTreeMap;

/// Signatures are checked in batches of this many.
const SIGNATURE_BATCH_EVENTS: usize = 256;

/// What kind of check failed. Listed in priority order: when two checks fail at the same
/// position, the earlier class is reported (a forged event's rule breach is moot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureClass {
    /// The export or an envelope is malformed.
    Format,
    /// An author's signature does not verify: the event's bytes were changed.
    Signature,
    /// A stream's chain is broken: an event was dropped, reordered or inserted.
    Chain,
    /// A payload does not decode under the catalogue.
    Payload,
    /// The author's key did not hold the role at that position (never granted, or revoked).
    Authority,
    /// A domain rule was broken.
    Rule,
    /// Two signed checkpoints of the same size disagree: the log forked.
    Fork,
    /// A signed checkpoint does not verify, or covers a tree other than the log's.
    Checkpoint,
    /// A later checkpoint does not extend an earlier one.
    Consistency,
    /// A published view digest differs from the view rebuilt from the log.
    View,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Format => "format",
            FailureClass::Signature => "signature",
            FailureClass::Chain => "chain",
            FailureClass::Payload => "payload",
            FailureClass::Authority => "authority",
            FailureClass::Rule => "rule",
            FailureClass::Checkpoint => "checkpoint",
            FailureClass::Fork => "fork",
            FailureClass::Consistency => "consistency",
            FailureClass::View => "view",
        }
    }
}

/// The first thing that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    /// The log index of the event, or the tree size of the checkpoint or view, at fault.
    pub position: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(position) => write!(f, "{} failure at position {position}: {}", self.class.as_str(), self.reason),
            None => write!(f, "{} failure: {}", self.class.as_str(), self.reason),
        }
    }
}

/// What was checked, with counts, and the first failure if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub events: u64,
    pub signatures_verified: u64,
    pub streams: u64,
    pub chain_links_verified: u64,
    pub authority_checks: u64,
    pub rules_replayed: u64,
    pub checkpoints_verified: u64,
    pub consistency_proofs_verified: u64,
    pub views_checked: u64,
    /// The root of the whole exported log.
    pub root_hash: Hash256,
    pub first_failure: Option<Failure>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.first_failure.is_none()
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "ok": self.ok(),
            "events": self.events,
            "signatures_verified": self.signatures_verified,
            "streams": self.streams,
            "chain_links_verified": self.chain_links_verified,
            "authority_checks": self.authority_checks,
            "rules_replayed": self.rules_replayed,
            "checkpoints_verified": self.checkpoints_verified,
            "consistency_proofs_verified": self.consistency_proofs_verified,
            "views_checked": self.views_checked,
            "root_hash": self.root_hash.to_hex(),
            "first_failure": self.first_failure.as_ref().map(|f| json!({"class": f.class.as_str(), "position": f.position, "reason": f.reason})),
        })
    }

    pub fn to_text(&self) -> String {
        let mut text = format!(
            "events: {}\nsignatures verified: {}\nstreams: {} ({} chain links)\nauthority checks: {}\nrules replayed: {}\ncheckpoints verified: {} (consistency proofs: {})\nviews checked: {}\nroot: {}\n",
            self.events,
            self.signatures_verified,
            self.streams,
            self.chain_links_verified,
            self.authority_checks,
            self.rules_replayed,
            self.checkpoints_verified,
            self.consistency_proofs_verified,
            self.views_checked,
            self.root_hash
        );
        match &self.first_failure {
            None => text.push_str("result: everything holds\n"),
            Some(failure) => text.push_str(&format!("result: FAILED — {failure}\n")),
        }
        text
    }
}

fn fail(report: &mut Report, class: FailureClass, position: Option<u64>, reason: impl Into<String>) {
    let failure = Failure { class, position, reason: reason.into() };
    // Keep the earliest failure by position; a failure with no position (the export as a
    // whole) outranks all.
    let earlier = match (&report.first_failure, failure.position) {
        (None, _) => true,
        (Some(existing), Some(position)) => {
            existing.position.is_some_and(|p| position < p || (position == p && failure.class < existing.class))
        }
        (Some(_), None) => true,
    };
    if earlier {
        report.first_failure = Some(failure);
    }
}

/// Verifies everything an export holds. `progress(done, total)` is called as events are
/// replayed. Signatures are batch-verified on worker threads while this thread replays the
/// chains, authority, rules and views, so both cores work.
pub fn verify_export(export: &Export, progress: &mut dyn FnMut(u64, u64)) -> Report {
    let mut report = Report { events: export.events.len() as u64, ..Default::default() };
    let log_key = match LogVerifierKey::parse_vkey(&export.log_key) {
        Ok(key) => key,
        Err(error) => {
            fail(&mut report, FailureClass::Format, None, format!("log key: {error}"));
            return report;
        }
    };
    // Checkpoints: each must be signed by the log key; equal sizes must agree.
    let mut checkpoints: BTreeMap<u64, Hash256> = BTreeMap::new();
    for note in &export.checkpoints {
        match log_key.verify(note) {
            Ok(signed) => {
                let checkpoint = signed.checkpoint();
                // The first checkpoint of each size is kept; a second that disagrees is a fork.
                if let Some(&other) = checkpoints.get(&checkpoint.tree_size) {
                    if other != checkpoint.root_hash {
                        fail(
                            &mut report,
                            FailureClass::Fork,
                            Some(checkpoint.tree_size),
                            format!(
                            "two signed checkpoints of size {} have different roots ({other} and {}): the log forked",
                            checkpoint.tree_size, checkpoint.root_hash
                        ),
                        );
                    }
                } else {
                    checkpoints.insert(checkpoint.tree_size, checkpoint.root_hash);
                }
            }
            Err(error) => fail(
                &mut report,
                FailureClass::Checkpoint,
                None,
                format!("a checkpoint does not verify with the log key: {error}"),
            ),
        }
    }
    if let Some((&largest, _)) = checkpoints.iter().next_back() {
        let events = report.events;
        if largest > events {
            fail(
                &mut report,
                FailureClass::Checkpoint,
                Some(largest),
                format!(
                    "a signed checkpoint covers {largest} events but the export holds {events}: events were dropped"
                ),
            );
        }
    }
    let mut envelopes = Vec::with_capacity(export.events.len());
    for (index, bytes) in export.events.iter().enumerate() {
        match Envelope::parse(bytes.clone()) {
            Ok(envelope) => envelopes.push(envelope),
            Err(error) => {
                fail(
                    &mut report,
                    FailureClass::Format,
                    Some(index as u64),
                    format!("envelope does not parse: {error}"),
                );
                return report;
            }
        }
    }
    let mut views_by_size: BTreeMap<u64, Vec<&crate::export::PublishedView>> = BTreeMap::new();
    for view in &export.views {
        views_by_size.entry(view.tree_size).or_default().push(view);
    }

    let signature_failure = std::thread::scope(|scope| {
        let half = envelopes.len() / 2;
        let (left, right) = envelopes.split_at(half);
        let workers = [(left, 0usize), (right, half)].map(|(part, offset)| {
            scope.spawn(move || {
                for (chunk_number, chunk) in part.chunks(SIGNATURE_BATCH_EVENTS).enumerate() {
                    if let Err(error) = verify_signatures_batch(chunk) {
                        return Some(offset + chunk_number * SIGNATURE_BATCH_EVENTS + error.index);
                    }
                }
                None
            })
        });
        replay(&envelopes, &checkpoints, &views_by_size, export.trust_root, &mut report, progress);
        workers.into_iter().filter_map(|w| w.join().unwrap_or(Some(0))).min()
    });
    match signature_failure {
        Some(index) => fail(
            &mut report,
            FailureClass::Signature,
            Some(index as u64),
            format!(
                "the author signature of event {} does not verify: its bytes were changed",
                envelopes[index].author().event_id
            ),
        ),
        None => report.signatures_verified = envelopes.len() as u64,
    }
    report
}

/// The sequential checks, in log order.
fn replay(
    envelopes: &[Envelope],
    checkpoints: &BTreeMap<u64, Hash256>,
    views: &BTreeMap<u64, Vec<&crate::export::PublishedView>>,
    trust_root: [u8; 32],
    report: &mut Report,
    progress: &mut dyn FnMut(u64, u64),
) {
    let total = envelopes.len() as u64;
    let mut chains = StreamChainChecker::new();
    let mut streams = std::collections::HashSet::new();
    let mut tree = MerkleTree::new();
    let mut fold = LogFold::new(trust_root);
    let mut last_checkpoint: Option<(u64, Hash256)> = None;
    // A checkpoint or view of the empty log is checked before any event.
    check_at_size(0, &tree, checkpoints, views, &fold, &mut last_checkpoint, report);
    for (index, envelope) in envelopes.iter().enumerate() {
        let position = Some(index as u64);
        let hash = envelope.event_hash();
        if let Err(error) = chains.check_next(envelope, hash) {
            return fail(
                report,
                FailureClass::Chain,
                position,
                format!("{error}: an event was dropped, reordered or inserted"),
            );
        }
        if envelope.ledger().stream_revision > 0 {
            report.chain_links_verified += 1;
        }
        streams.insert(envelope.author().stream.as_str());
        tree.push_entry(&hash);
        let author = envelope.author();
        let folded = fold.fold(LoggedEventRef { log_index: index as u64, envelope, event_hash: hash }, None);
        if matches!(folded, Ok(_) | Err(FoldError::Rejected { .. })) {
            report.authority_checks += 1;
        }
        match folded {
            Ok(_) => report.rules_replayed += 1,
            Err(FoldError::Payload { event_type, violations, .. }) => {
                let fields: Vec<String> = violations.iter().map(|v| format!("{} {}", v.field, v.description)).collect();
                return fail(
                    report,
                    FailureClass::Payload,
                    position,
                    format!("{event_type} payload is invalid: {}", fields.join("; ")),
                );
            }
            Err(FoldError::Rejected { rejection: Rejection::NotAuthorised { rule, message }, .. }) => {
                return fail(
                    report,
                    FailureClass::Authority,
                    position,
                    format!("{rule}: {message} (author key {})", klero_ledger::hash::to_hex(&author.author_public_key)),
                );
            }
            Err(FoldError::Rejected { rejection: Rejection::RuleBroken { rule, message }, .. }) => {
                return fail(report, FailureClass::Rule, position, format!("{rule}: {message}"))
            }
            Err(error @ FoldError::OutOfOrder { .. }) => {
                return fail(report, FailureClass::Format, position, error.to_string())
            }
        }
        let size = index as u64 + 1;
        if !check_at_size(size, &tree, checkpoints, views, &fold, &mut last_checkpoint, report) {
            return;
        }
        if size.is_multiple_of(4096) || size == total {
            progress(size, total);
        }
    }
    report.streams = streams.len() as u64;
    report.root_hash = tree.root();
}

/// Checks the checkpoints and views of tree size `size`; false if one failed.
fn check_at_size(
    size: u64,
    tree: &MerkleTree,
    checkpoints: &BTreeMap<u64, Hash256>,
    views: &BTreeMap<u64, Vec<&crate::export::PublishedView>>,
    fold: &LogFold,
    last_checkpoint: &mut Option<(u64, Hash256)>,
    report: &mut Report,
) -> bool {
    if let Some(root) = checkpoints.get(&size) {
        let ours = tree.root();
        if *root != ours {
            fail(
                report,
                FailureClass::Checkpoint,
                Some(size),
                format!("the signed checkpoint of size {size} has root {root}; the exported events give {ours}"),
            );
            return false;
        }
        report.checkpoints_verified += 1;
        if let Some((old_size, old_root)) = *last_checkpoint {
            // Proven the way a client without the events would: with a consistency proof.
            let proof = tree.consistency_proof(old_size, size).unwrap_or_default();
            if verify_consistency(old_size, size, &old_root, root, &proof).is_err() {
                fail(
                    report,
                    FailureClass::Consistency,
                    Some(size),
                    format!("checkpoint {size} does not extend checkpoint {old_size}"),
                );
                return false;
            }
            report.consistency_proofs_verified += 1;
        }
        *last_checkpoint = Some((size, *root));
    }
    for view in views.get(&size).into_iter().flatten() {
        let Some(name) = ViewName::parse(&view.name) else {
            fail(report, FailureClass::View, Some(size), format!("unknown view {}", view.name));
            return false;
        };
        let rendered =
            klero_domain::AssemblyId::parse(&view.assembly_id).ok().and_then(|id| fold.views().render(name, &id));
        match rendered {
            Some(rendered) if rendered.digest == view.digest => report.views_checked += 1,
            Some(rendered) => {
                fail(
                    report,
                    FailureClass::View,
                    Some(size),
                    format!(
                        "the published digest of {} for {} is {}; rebuilt from the first {size} events it is {}",
                        view.name, view.assembly_id, view.digest, rendered.digest
                    ),
                );
                return false;
            }
            None => {
                fail(
                    report,
                    FailureClass::View,
                    Some(size),
                    format!("{} for {} cannot be rebuilt: the assembly is not convened", view.name, view.assembly_id),
                );
                return false;
            }
        }
    }
    true
}
