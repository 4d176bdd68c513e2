//! The checks. [`verify_stream`] reads an export as a stream and replays it; it stops at the
//! first failure, which it reports with its class and position. Memory stays bounded whatever
//! the log's length: events pass through in chunks, the Merkle tree is kept as its right edge,
//! and the fold is bounded by assemblies.

use crate::export::{Export, ExportFormatError, ExportHeader, ExportReader, PublishedView};
use klero_domain::spill::{DistinctKeys, MemoryFiles, SpillFiles, SpillTo};
use klero_domain::Rejection;
use klero_fold::{FoldError, LogFold, LoggedEventRef};
use klero_ledger::chain::StreamChainChecker;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::envelope::{verify_signatures_batch, Envelope};
use klero_ledger::heads::StreamHeadsCommitment;
use klero_ledger::merkle::Frontier;
use klero_ledger::Hash256;
use klero_projections::ViewName;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::sync::{mpsc, Arc, Mutex};

mod continued;
mod report;

pub use continued::ContinuedVerification;
pub use report::*;

/// Signatures are checked in batches of this many.
const SIGNATURE_BATCH_EVENTS: usize = 256;
/// Events read, parsed and handed to the signature workers at a time.
const CHUNK_EVENTS: usize = 4096;
/// Chunks waiting for a signature worker: a bound on memory.
const CHUNKS_QUEUED_MAX: usize = 2;
/// Whether signatures are checked on the reading thread (no worker threads to hand them to).
const SIGNATURES_INLINE: bool = cfg!(target_family = "wasm");

/// Verifies everything an export in memory holds, strictly (no pins, no unanchored events).
pub fn verify_export(export: &Export, progress: &mut dyn FnMut(u64, u64)) -> Report {
    verify_export_with(export, &VerifyOptions::default(), progress)
}

/// [`verify_export`] with options.
pub fn verify_export_with(export: &Export, options: &VerifyOptions, progress: &mut dyn FnMut(u64, u64)) -> Report {
    let events = export.events.iter().map(|bytes| Ok(bytes.clone()));
    verify_events(&export.header(), events, export.events.len() as u64, options, progress)
}

/// Reads an export from `input` and verifies everything it holds, as a stream. A file that does
/// not follow the grammar gives a `format` failure with its line. `total_events`, if known, is
/// for progress only.
pub fn verify_stream<R: BufRead>(
    input: R,
    options: &VerifyOptions,
    total_events: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    let mut reader = ExportReader::new(input);
    let header = match reader.header() {
        Ok(header) => header,
        Err(error) => return Report::unreadable(&error),
    };
    let events = std::iter::from_fn(move || reader.next_event().transpose());
    verify_events(&header, events, total_events.unwrap_or(0), options, progress)
}

/// Verifies envelopes given one by one (a monitor's, read from the log's tiles) as an export
/// with `header` and these events would be.
pub fn verify_envelopes(
    header: &ExportHeader,
    envelopes: impl Iterator<Item = Vec<u8>>,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    verify_events(header, envelopes.map(Ok), 0, options, progress)
}

/// Checkpoints and views by tree size, from the header.
struct Anchors<'h> {
    /// Tree size → root of the first verified checkpoint of that size.
    checkpoints: BTreeMap<u64, Hash256>,
    /// Tree size → every distinct stream-heads commitment verified checkpoints of that size
    /// make (FORMAT.md §4.1); each must equal the heads the events give.
    stream_heads: BTreeMap<u64, Vec<StreamHeadsCommitment>>,
    views: BTreeMap<u64, Vec<&'h PublishedView>>,
    /// With a witness policy: (tree size, when a quorum of its witnesses had cosigned it, in
    /// seconds), for each checkpoint that meets the policy (FORMAT.md §13.6).
    attested: Vec<(u64, u64)>,
}

fn verify_events(
    header: &ExportHeader,
    events: impl Iterator<Item = Result<Vec<u8>, ExportFormatError>>,
    total_events: u64,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    replay_events(header, events, total_events, options, progress, None).0
}

/// [`verify_events`], from the state a replay of the log's first events left (`resumed`) with
/// `events` the ones after them, or from the start. Gives back the state it leaves, unless it
/// could not start.
fn replay_events(
    header: &ExportHeader,
    events: impl Iterator<Item = Result<Vec<u8>, ExportFormatError>>,
    total_events: u64,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
    resumed: Option<ReplayState>,
) -> (Report, Option<ReplayState>) {
    let mut report = Report::default();
    let log_key = match LogVerifierKey::parse_vkey(&header.log_key) {
        Ok(key) => key,
        Err(error) => {
            fail(
                &mut report,
                Failure { line: Some(2), ..failure(FailureClass::Format, None, format!("log key: {error}")) },
            );
            return (report, None);
        }
    };
    if let Some(pinned) = &options.pinned_log_key {
        if *pinned != log_key {
            let reason =
                format!("the export names log key {}, not the pinned {}", header.log_key, pinned.to_vkey_string());
            fail(&mut report, Failure { line: Some(2), ..failure(FailureClass::Pin, None, reason) });
            return (report, None);
        }
    }
    if let Some(pinned) = options.pinned_trust_root {
        if pinned != header.trust_root {
            let reason = format!(
                "the export names trust root {}, not the pinned {}",
                klero_ledger::hash::to_hex(&header.trust_root),
                klero_ledger::hash::to_hex(&pinned)
            );
            fail(&mut report, Failure { line: Some(3), ..failure(FailureClass::Pin, None, reason) });
            return (report, None);
        }
    }
    let mut anchors = Anchors {
        checkpoints: BTreeMap::new(),
        stream_heads: BTreeMap::new(),
        views: BTreeMap::new(),
        attested: Vec::new(),
    };
    for note in &header.checkpoints {
        match log_key.verify(note) {
            Ok(signed) => {
                let checkpoint = signed.checkpoint();
                if let Some(Err(error)) = options.witness_policy.as_ref().map(|policy| policy.check(note)) {
                    fail(
                        &mut report,
                        // No position: like a pin, a checkpoint the auditor's witnesses do not
                        // vouch for puts the whole export in doubt, so it outranks the
                        // `unanchored` failure it also causes.
                        failure(
                            FailureClass::Witness,
                            None,
                            format!(
                                "the checkpoint of size {} fails the witness policy: {error}",
                                checkpoint.tree_size
                            ),
                        ),
                    );
                    continue;
                }
                if let Some(at) = options.witness_policy.as_ref().and_then(|policy| policy.attested_at(note)) {
                    anchors.attested.push((checkpoint.tree_size, at));
                }
                // The first checkpoint of each size is kept; a second that disagrees is a fork.
                match anchors.checkpoints.get(&checkpoint.tree_size) {
                    Some(&other) if other != checkpoint.root_hash => fail(
                        &mut report,
                        failure(
                            FailureClass::Fork,
                            Some(checkpoint.tree_size),
                            format!(
                                "two signed checkpoints of size {} have different roots ({other} and {}): the log forked",
                                checkpoint.tree_size, checkpoint.root_hash
                            ),
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        anchors.checkpoints.insert(checkpoint.tree_size, checkpoint.root_hash);
                    }
                }
                if let Some(heads) = checkpoint.stream_heads {
                    let claimed = anchors.stream_heads.entry(checkpoint.tree_size).or_default();
                    if !claimed.contains(&heads) {
                        claimed.push(heads);
                    }
                }
            }
            Err(error) => fail(
                &mut report,
                failure(
                    FailureClass::Checkpoint,
                    None,
                    format!("a checkpoint does not verify with the log key: {error}"),
                ),
            ),
        }
    }
    for view in &header.views {
        anchors.views.entry(view.tree_size).or_default().push(view);
    }
    let mut replay = Replay {
        state: resumed.unwrap_or_else(|| ReplayState::new(header.trust_root, options)),
        anchors,
        stopped: false,
        collect_sealed_fields: options.collect_sealed_fields,
        collect_answer_times: options.witness_policy.is_some(),
        answer_times: Vec::new(),
    };
    report.events = replay.state.frontier.size();
    // A checkpoint or view of the empty log (or of the size a resumed replay reached) is
    // checked before any event.
    replay.check_at_size(&mut report);

    let bad_signature: Mutex<Option<(u64, String)>> = Mutex::new(None);
    // WebAssembly in a browser has no threads here: the module checks each chunk's signatures
    // itself, between reading and replaying it.
    let workers =
        if SIGNATURES_INLINE { 0 } else { std::thread::available_parallelism().map_or(2, |n| n.get()).min(4) };
    let (sender, receiver) = mpsc::sync_channel::<(u64, Arc<Vec<Envelope>>)>(CHUNKS_QUEUED_MAX);
    let receiver = Mutex::new(receiver);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (receiver, bad_signature) = (&receiver, &bad_signature);
            scope.spawn(move || loop {
                let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((first, chunk)) = next else { return };
                check_chunk_signatures(first, &chunk, bad_signature);
            });
        }
        let mut events = events;
        let mut next_index = report.events;
        'reading: loop {
            let mut chunk = Vec::with_capacity(CHUNK_EVENTS);
            while chunk.len() < CHUNK_EVENTS {
                match events.next() {
                    None => break,
                    Some(Ok(bytes)) => match Envelope::parse(bytes) {
                        Ok(envelope) => chunk.push(envelope),
                        Err(error) => {
                            let position = next_index + chunk.len() as u64;
                            // The export file's line of that event: after the header's lines.
                            let header_lines = 3 + header.checkpoints.len() as u64 + header.views.len() as u64;
                            fail(
                                &mut report,
                                Failure {
                                    line: Some(header_lines + position + 1),
                                    ..failure(
                                        FailureClass::Format,
                                        Some(position),
                                        format!("envelope does not parse: {error}"),
                                    )
                                },
                            );
                            replay.stopped = true;
                            break;
                        }
                    },
                    Some(Err(error)) => {
                        fail(
                            &mut report,
                            Failure {
                                class: FailureClass::Format,
                                position: error.log_index,
                                line: Some(error.line),
                                reason: error.reason,
                            },
                        );
                        replay.stopped = true;
                        break;
                    }
                }
            }
            if chunk.is_empty() {
                break 'reading;
            }
            let chunk = Arc::new(chunk);
            let first = next_index;
            next_index += chunk.len() as u64;
            report.events = next_index;
            if SIGNATURES_INLINE {
                check_chunk_signatures(first, &chunk, &bad_signature);
            } else if sender.send((first, chunk.clone())).is_err() {
                break 'reading;
            }
            if !replay.stopped {
                replay.events(&chunk, first, &mut report);
            }
            progress(next_index, total_events.max(next_index));
            // A signature failure before the replay's can only be in a chunk already handed out.
            if replay.stopped {
                break 'reading;
            }
        }
        drop(sender);
    });
    match bad_signature.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((index, id)) => fail(
            &mut report,
            failure(
                FailureClass::Signature,
                Some(index),
                format!("the author signature of event {id} does not verify: its bytes were changed"),
            ),
        ),
        None => report.signatures_verified = report.events,
    }
    // Ids are paired once, here, among the events replayed: a repeat is named at its own log
    // index, as if found in order, since the earliest failure is the one kept.
    if let Some(repeat) = replay.state.event_ids.first_repeat() {
        let id = klero_ledger::envelope::EventId(repeat.key.try_into().expect("16-byte ids"));
        fail(
            &mut report,
            failure(
                FailureClass::Chain,
                Some(repeat.row as u64),
                format!("event id {id} is already at log index {}: event ids are unique across the log", repeat.first),
            ),
        );
    }
    report.streams = replay.state.streams.len() as u64;
    report.root_hash = replay.state.frontier.root();
    report.answer_times = attest_answer_times(std::mem::take(&mut replay.answer_times), &replay.anchors.attested);
    report.time_tolerance_ms = options.time_tolerance_ms.unwrap_or(TIME_TOLERANCE_MS);
    report.witness_quorum =
        options.witness_policy.as_ref().map_or((0, 0), |policy| (policy.quorum(), policy.witnesses().len()));
    if options.collect_committed_documents {
        report.committed_documents = replay.state.fold.committed_document_kinds().collect();
    }
    // Checkpoints beyond the events: events the log signed were left out of the export.
    if let Some((&largest, _)) = replay.anchors.checkpoints.iter().next_back() {
        if largest > report.events {
            let events = report.events;
            fail(
                &mut report,
                failure(
                    FailureClass::Checkpoint,
                    Some(largest),
                    format!("a signed checkpoint covers {largest} events but the export holds {events}: events were dropped"),
                ),
            );
        }
    }
    // Views of sizes the events never reached: a view digest is a claim about a log at least
    // that long, which this export does not show (a truncated log re-signed at a smaller size
    // would otherwise keep its larger digests unchecked).
    if let Some((&size, views)) = replay.anchors.views.range(report.events + 1..).next() {
        let events = report.events;
        let view = views[0];
        fail(
            &mut report,
            failure(
                FailureClass::View,
                Some(size),
                format!(
                    "{} for {} is published at tree size {size}, but the export holds {events} events: it cannot be checked",
                    view.name, view.assembly_id
                ),
            ),
        );
    }
    // Only a checkpoint that verifies anchors events: its signature and witnesses, its root
    // and its stream heads against the events at its size.
    report.anchored_size = replay.state.anchored_size;
    report.unanchored_events = report.events - report.anchored_size;
    // Unanchored events are named only when nothing else failed: a dropped event, a broken
    // line or a checkpoint that does not verify leaves events unanchored too, and the
    // headline must name that cause, not its consequence.
    if report.unanchored_events > 0 && !options.allow_unanchored && report.first_failure.is_none() {
        let (first, count) = (report.anchored_size, report.unanchored_events);
        fail(
            &mut report,
            failure(
                FailureClass::Unanchored,
                Some(first),
                format!("{count} events from log index {first} on are covered by no signed checkpoint: anyone could have written them"),
            ),
        );
    }
    (report, Some(replay.state))
}

/// Checks a chunk's signatures in batches, keeping the lowest failing index.
fn check_chunk_signatures(first: u64, chunk: &[Envelope], bad_signature: &Mutex<Option<(u64, String)>>) {
    for (batch_number, batch) in chunk.chunks(SIGNATURE_BATCH_EVENTS).enumerate() {
        if let Err(error) = verify_signatures_batch(batch) {
            let index = first + (batch_number * SIGNATURE_BATCH_EVENTS + error.index) as u64;
            let mut bad = bad_signature.lock().unwrap_or_else(|p| p.into_inner());
            if bad.as_ref().is_none_or(|(known, _)| index < *known) {
                let id = batch[error.index].author().event_id;
                *bad = Some((index, id.to_string()));
            }
            return;
        }
    }
}

/// The sequential checks, in log order: chains, the tree, the fold, checkpoints and views.
/// Puts each answer's witnessed bound on it: the least attested time of the checkpoints that
/// cover it (of more events than its index), in milliseconds. A witness's timestamp is whole
/// seconds, so a cosignature at `t` was made before `t + 1` s: the bound is `t·1000 + 999`.
fn attest_answer_times(mut answers: Vec<AnswerTime>, attested: &[(u64, u64)]) -> Vec<AnswerTime> {
    for answer in &mut answers {
        answer.attested_by_unix_ms = attested
            .iter()
            .filter(|(size, _)| *size > answer.log_index)
            .map(|(_, seconds)| seconds.saturating_mul(1000).saturating_add(999))
            .min();
    }
    answers
}

/// What the replay carries from one event to the next, apart from the export's anchors: a
/// follower of a growing log keeps it between calls ([`ContinuedVerification`]).
struct ReplayState {
    chains: StreamChainChecker,
    streams: HashSet<String>,
    /// Every event id so far, by log index: ids are unique across the whole log, which is
    /// checked once the replay ends.
    event_ids: DistinctKeys,
    frontier: Frontier,
    fold: LogFold,
    /// The largest size of a checkpoint that verified (root and stream heads): only events
    /// below it are anchored. One number, not a list, as a monitor's replay goes on for good.
    anchored_size: u64,
}

impl ReplayState {
    fn new(trust_root: [u8; 32], options: &VerifyOptions) -> ReplayState {
        ReplayState {
            chains: StreamChainChecker::new(),
            streams: HashSet::new(),
            event_ids: DistinctKeys::new(spill_files(options), 16),
            frontier: Frontier::new(),
            fold: new_fold(trust_root, options.table_spill.as_ref()),
            anchored_size: 0,
        }
    }
}

struct Replay<'h> {
    state: ReplayState,
    anchors: Anchors<'h>,
    /// A check failed; the rest is not replayed (signatures are still checked).
    stopped: bool,
    /// Keep each sealed field's commitment in the report.
    collect_sealed_fields: bool,
    /// With a witness policy: note each council answer's times.
    collect_answer_times: bool,
    answer_times: Vec<AnswerTime>,
}

impl Replay<'_> {
    /// Notes a council answer just folded: its recording time and its deadline, from the
    /// adoption it answers.
    fn note_answer(&mut self, index: u64, envelope: &Envelope, adoption: &Hash256) {
        let Some((_, Some(assembly_id))) = klero_domain::StreamKind::parse_stream(&envelope.author().stream) else {
            return;
        };
        let Some(assembly) = self.state.fold.state().assembly(&assembly_id) else { return };
        let Some(recommendation_id) = assembly.adopted_by_hash.get(adoption) else { return };
        let Some(adopted_at) = assembly.recommendations.get(recommendation_id).and_then(|r| r.adopted_at_unix_ms)
        else {
            return;
        };
        self.answer_times.push(AnswerTime {
            log_index: index,
            assembly_id: assembly_id.to_string(),
            recommendation_id: recommendation_id.clone(),
            recorded_at_unix_ms: envelope.ledger().recorded_at_unix_ms,
            due_by_unix_ms: klero_domain::response_due_by_unix_ms(adopted_at, assembly.convened.response_deadline_days),
            attested_by_unix_ms: None,
        });
    }

    fn events(&mut self, chunk: &[Envelope], first: u64, report: &mut Report) {
        for (offset, envelope) in chunk.iter().enumerate() {
            let index = first + offset as u64;
            if !self.event(envelope, index, report) {
                self.stopped = true;
                return;
            }
        }
    }

    /// Checks one event; false once something failed.
    fn event(&mut self, envelope: &Envelope, index: u64, report: &mut Report) -> bool {
        let position = Some(index);
        let hash = envelope.event_hash();
        if let Err(error) = self.state.chains.check_next(envelope, hash) {
            fail(
                report,
                failure(FailureClass::Chain, position, format!("{error}: an event was dropped, reordered or inserted")),
            );
            return false;
        }
        if envelope.ledger().stream_revision > 0 {
            report.chain_links_verified += 1;
        }
        let author = envelope.author();
        // Row `n` of the ids is log index `n`: every event is replayed in order from 0 until
        // one fails.
        debug_assert_eq!(index, self.state.event_ids.rows() as u64);
        if self.state.event_ids.push(&author.event_id.0).is_err() {
            let reason = format!("more than {} events: beyond what this verifier counts", u32::MAX);
            fail(report, failure(FailureClass::Chain, position, reason));
            return false;
        }
        if !self.state.streams.contains(author.stream.as_str()) {
            self.state.streams.insert(author.stream.clone());
        }
        self.state.frontier.push_entry(&hash);
        // Decoded here once, so the sealed fields can be counted; the fold takes it as is.
        let decoded = LogFold::decode(envelope).ok();
        let answers = match &decoded {
            Some(klero_domain::DomainEvent::ResponseIssued(response)) if self.collect_answer_times => {
                Some(response.recommendation_event_hash)
            }
            _ => None,
        };
        if let Some(event) = &decoded {
            for (field, sealed) in event.sealed_fields() {
                report.sealed_fields += 1;
                if self.collect_sealed_fields {
                    report.sealed_commitments.insert((index, field.to_string()), sealed.commitment);
                }
            }
        }
        let folded = self.state.fold.fold(LoggedEventRef { log_index: index, envelope, event_hash: hash }, decoded);
        if matches!(folded, Ok(_) | Err(FoldError::Rejected { .. })) {
            report.authority_checks += 1;
        }
        match folded {
            Ok(_) => {
                report.rules_replayed += 1;
                if let Some(adoption) = answers {
                    self.note_answer(index, envelope, &adoption);
                }
            }
            Err(FoldError::Payload { event_type, violations, .. }) => {
                let fields: Vec<String> = violations.iter().map(|v| format!("{} {}", v.field, v.description)).collect();
                fail(
                    report,
                    failure(
                        FailureClass::Payload,
                        position,
                        format!("{event_type} payload is invalid: {}", fields.join("; ")),
                    ),
                );
                return false;
            }
            Err(FoldError::Rejected { rejection: Rejection::NotAuthorised { rule, message }, .. }) => {
                let key = klero_ledger::hash::to_hex(&author.author_public_key);
                fail(
                    report,
                    failure(FailureClass::Authority, position, format!("{rule}: {message} (author key {key})")),
                );
                return false;
            }
            Err(FoldError::Rejected { rejection: Rejection::RuleBroken { rule, message }, .. }) => {
                fail(report, failure(FailureClass::Rule, position, format!("{rule}: {message}")));
                return false;
            }
            Err(error @ FoldError::OutOfOrder { .. }) => {
                fail(report, failure(FailureClass::Format, position, error.to_string()));
                return false;
            }
        }
        self.check_at_size(report)
    }

    /// Checks the checkpoint and views of the tree size just reached; false if one failed.
    fn check_at_size(&mut self, report: &mut Report) -> bool {
        let size = self.state.frontier.size();
        if let Some(root) = self.anchors.checkpoints.get(&size) {
            let ours = self.state.frontier.root();
            if *root != ours {
                fail(
                    report,
                    failure(
                        FailureClass::Checkpoint,
                        Some(size),
                        format!(
                            "the signed checkpoint of size {size} has root {root}; the exported events give {ours}"
                        ),
                    ),
                );
                return false;
            }
            report.checkpoints_verified += 1;
        }
        if let Some(claimed) = self.anchors.stream_heads.get(&size) {
            let ours = self.state.chains.heads_tree().commitment();
            if let Some(wrong) = claimed.iter().find(|heads| **heads != ours) {
                fail(
                    report,
                    failure(
                        FailureClass::Checkpoint,
                        Some(size),
                        format!(
                            "the signed checkpoint of size {size} commits to {} stream heads with root {}; the exported events give {} with root {}: it hides or invents a stream's newest events",
                            wrong.count, wrong.root, ours.count, ours.root
                        ),
                    ),
                );
                return false;
            }
        }
        if self.anchors.checkpoints.contains_key(&size) {
            self.state.anchored_size = size;
        }
        for view in self.anchors.views.get(&size).into_iter().flatten() {
            let Some(name) = ViewName::parse(&view.name) else {
                fail(report, failure(FailureClass::View, Some(size), format!("unknown view {}", view.name)));
                return false;
            };
            // Hashed as it is written: a view of a million inputs is never held as JSON.
            let rebuilt = klero_domain::AssemblyId::parse(&view.assembly_id)
                .ok()
                .and_then(|id| self.state.fold.views().digest(name, &id));
            match rebuilt {
                Some(digest) if digest == view.digest => report.views_checked += 1,
                Some(digest) => {
                    fail(
                        report,
                        failure(
                            FailureClass::View,
                            Some(size),
                            format!(
                                "the published digest of {} for {} is {}; rebuilt from the first {size} events it is {}",
                                view.name, view.assembly_id, view.digest, digest
                            ),
                        ),
                    );
                    return false;
                }
                None => {
                    fail(
                        report,
                        failure(
                            FailureClass::View,
                            Some(size),
                            format!(
                                "{} for {} cannot be rebuilt: the assembly is not convened",
                                view.name, view.assembly_id
                            ),
                        ),
                    );
                    return false;
                }
            }
        }
        true
    }
}

/// Checks documents included with an export (`klero export --documents DIR`) against the log a
/// report verified with `collect_committed_documents` (FORMAT.md §8, Documents), in the order
/// given, which must be by name (byte order), so that every machine stops at the same file:
/// each document's name is the lowercase hex SHA-256 of its bytes. A document that no event
/// commits to is counted in `documents_uncommitted` (a server may hold uploads not yet cited),
/// and committed documents that are not included in `documents_missing`, not failed: a council
/// may have erased them (personal data) or never uploaded them.
pub fn check_documents(report: &mut Report, documents: impl IntoIterator<Item = (String, Vec<u8>)>) {
    report.documents_included = true;
    let mut seen = 0u64;
    for (name, bytes) in documents {
        let Some(named) = Hash256::from_hex(&name).ok().filter(|_| name.bytes().all(|b| !b.is_ascii_uppercase()))
        else {
            fail(
                report,
                failure(
                    FailureClass::Document,
                    None,
                    format!("document {name:?}: the name is not a lowercase hex SHA-256"),
                ),
            );
            return;
        };
        let actual = Hash256::of(&bytes);
        if actual != named {
            fail(
                report,
                failure(
                    FailureClass::Document,
                    None,
                    format!("document {name}: its bytes hash to {actual}: they were changed"),
                ),
            );
            return;
        }
        report.documents_checked += 1;
        if report.committed_documents.contains_key(&named) {
            seen += 1;
        } else {
            report.documents_uncommitted += 1;
        }
    }
    report.documents_missing = report.committed_documents.len() as u64 - seen;
}

/// One sealed field opened for an auditor (`klero export --openings FILE`, FORMAT.md §14.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub log_index: u64,
    pub field: String,
    pub salt: [u8; 32],
    pub text: String,
}

/// Checks an auditor's openings against the commitments a report verified with
/// `collect_sealed_fields` holds: each names a sealed field of the log, and its salt and text
/// hash to that field's signed commitment. Sealed fields with no opening (erased, or not
/// disclosed to this auditor) are counted as unopened, not failed.
pub fn check_openings(report: &mut Report, openings: impl IntoIterator<Item = Opening>) {
    let mut opened = std::collections::BTreeSet::new();
    for opening in openings {
        let key = (opening.log_index, opening.field.clone());
        let Some(commitment) = report.sealed_commitments.get(&key).copied() else {
            fail(
                report,
                failure(
                    FailureClass::Opening,
                    Some(opening.log_index),
                    format!("the opening names {}, which is not a sealed field of that event", opening.field),
                ),
            );
            return;
        };
        if klero_domain::personal::check_opening(&opening.salt, &opening.text, &commitment).is_err() {
            fail(
                report,
                failure(
                    FailureClass::Opening,
                    Some(opening.log_index),
                    format!("the opened {} does not match the commitment its author signed", opening.field),
                ),
            );
            return;
        }
        if opened.insert(key) {
            report.sealed_fields_opened += 1;
        }
    }
}

/// The replay's fold; with spill files, its tables keep only their newest rows in memory, so
/// that verifying millions of submissions does not hold them all.
/// Where the replay keeps its event ids: `options`' spill files, or memory.
fn spill_files(options: &VerifyOptions) -> Arc<dyn SpillFiles> {
    options
        .table_spill
        .as_ref()
        .map_or_else(|| Arc::new(MemoryFiles) as Arc<dyn SpillFiles>, |SpillTo(files)| files.clone())
}

fn new_fold(trust_root: [u8; 32], spill: Option<&SpillTo>) -> LogFold {
    let mut fold = LogFold::new(trust_root);
    if let Some(SpillTo(files)) = spill {
        fold.spill_tables_to(files.clone());
    }
    fold
}
