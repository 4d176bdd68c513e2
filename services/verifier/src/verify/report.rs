//! What a verification found: the report, its failure (class, position, reason) and the counts
//! of what was checked, as `klero verify` prints them.

use super::*;

/// What kind of check failed. Listed in priority order: when two checks fail at the same
/// position, the earlier class is reported (a forged event's rule breach is moot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureClass {
    /// The export or an envelope is malformed. Position: the event's log index, if on an event
    /// line; the report also gives the line.
    Format,
    /// A key the auditor pinned is not the export's. No position.
    Pin,
    /// An author's signature does not verify: the event's bytes were changed. Position: the
    /// event's log index.
    Signature,
    /// A stream's chain is broken: an event was dropped, reordered or inserted. Position: the
    /// log index of the first event that does not extend its stream.
    Chain,
    /// A payload does not decode under the catalogue. Position: the event's log index.
    Payload,
    /// The author's key did not hold the role at that position (never granted, or revoked).
    /// Position: the event's log index.
    Authority,
    /// A domain rule was broken. Position: the event's log index.
    Rule,
    /// Two signed checkpoints of the same size disagree: the log forked. Position: that size.
    Fork,
    /// A signed checkpoint does not verify, or covers a tree other than the events give.
    /// Position: its tree size (none if its signature fails).
    Checkpoint,
    /// A published view digest differs from the view rebuilt from the log. Position: the
    /// view's tree size.
    View,
    /// A checkpoint lacks the cosignatures the auditor's witness policy asks for: the log may
    /// be showing this history to some and another to others. No position; the reason names
    /// the checkpoint's size.
    Witness,
    /// Events that no verified checkpoint covers: anyone could have written them. Position:
    /// the log index of the first.
    Unanchored,
    /// An included document's bytes do not hash to its name, or no event commits to it. No
    /// position; the reason names the document.
    Document,
    /// An auditor's opening of a sealed field does not match the commitment its event signed,
    /// or names no sealed field. Position: the event's log index.
    Opening,
    /// An auditor's address list does not give the record's letter lottery (FORMAT.md §9.1):
    /// no plan commits to it, it does not hold the planned counts, or a pool member names a
    /// letter its seed did not draw. Position: the plan's, the draw's or the pool's log index.
    Letters,
    /// A slice (§15) leaves out what the page needs: an event of a stream, a whole stream, an
    /// assembly of a listing, the log's last event, or the proof of a checkpoint the reader
    /// saw. Position: the event's log index, when one is named.
    Incomplete,
    /// A slice's event is not in the log at the index it gives (moved, altered or made up).
    /// Position: the slice's first event.
    Inclusion,
    /// A slice's checkpoint is older than one the reader saw: the server showed an older
    /// record. No position.
    Stale,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Format => "format",
            FailureClass::Pin => "pin",
            FailureClass::Signature => "signature",
            FailureClass::Chain => "chain",
            FailureClass::Payload => "payload",
            FailureClass::Authority => "authority",
            FailureClass::Rule => "rule",
            FailureClass::Fork => "fork",
            FailureClass::Checkpoint => "checkpoint",
            FailureClass::View => "view",
            FailureClass::Witness => "witness",
            FailureClass::Unanchored => "unanchored",
            FailureClass::Document => "document",
            FailureClass::Opening => "opening",
            FailureClass::Letters => "letters",
            FailureClass::Incomplete => "incomplete",
            FailureClass::Inclusion => "inclusion",
            FailureClass::Stale => "stale",
        }
    }
}

/// The first thing that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    /// The log index of the event, or the tree size of the checkpoint or view, at fault.
    pub position: Option<u64>,
    /// The export file's line, for a format failure.
    pub line: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failure", self.class.as_str())?;
        if let Some(position) = self.position {
            write!(f, " at position {position}")?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What the auditor trusts, and how strict to be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The log's verifier key: the export must name exactly this key.
    pub pinned_log_key: Option<LogVerifierKey>,
    /// The trust root: the export must name exactly this key.
    pub pinned_trust_root: Option<[u8; 32]>,
    /// Report events no checkpoint covers without failing (for debugging a log, never for an
    /// audit): the report still counts them and never says that everything holds.
    pub allow_unanchored: bool,
    /// Witnesses the auditor trusts and how many must have cosigned each checkpoint; a
    /// checkpoint short of the quorum anchors nothing and fails as `witness`.
    pub witness_policy: Option<klero_ledger::cosignature::WitnessPolicy>,
    /// Keep the hashes of the documents events commit to in the report, to check included
    /// documents against with [`check_documents`].
    pub collect_committed_documents: bool,
    /// Keep the commitment of every sealed field in the report, to check an auditor's
    /// openings against with [`check_openings`].
    pub collect_sealed_fields: bool,
    /// How far an answer's recording time and its witnessed bound may disagree before the
    /// report names it (FORMAT.md §13.6); [`TIME_TOLERANCE_MS`] when `None`.
    pub time_tolerance_ms: Option<u64>,
    /// Where the fold's tables put the rows that leave memory (`None`: they all stay in it).
    pub table_spill: Option<klero_domain::spill::SpillTo>,
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
    pub views_checked: u64,
    /// The largest tree size a verified checkpoint covers.
    pub anchored_size: u64,
    /// Events beyond `anchored_size`: no verified checkpoint covers them.
    pub unanchored_events: u64,
    /// The root of the whole exported log.
    pub root_hash: Hash256,
    pub first_failure: Option<Failure>,
    /// With `collect_committed_documents`: every document hash an event commits to, and what
    /// commits to it.
    pub committed_documents: BTreeMap<Hash256, klero_domain::DocumentKind>,
    /// Included documents checked by [`check_documents`].
    pub documents_checked: u64,
    /// Committed documents that were not included (erased, never uploaded, or left out).
    pub documents_missing: u64,
    /// Included documents that no event commits to.
    pub documents_uncommitted: u64,
    /// Whether documents were included and checked (`--documents`); without them, the three
    /// document counts are 0.
    pub documents_included: bool,
    /// Sealed fields of personal text in the log (FORMAT.md §14).
    pub sealed_fields: u64,
    /// With `collect_sealed_fields`: each sealed field's commitment, by (log index, field).
    pub sealed_commitments: BTreeMap<(u64, String), Hash256>,
    /// Sealed fields whose opening (text and salt) was checked by [`check_openings`].
    pub sealed_fields_opened: u64,
    /// With a witness policy: every council answer (`ResponseIssued`), with its recording time
    /// and the bound the witnesses' clocks put on it (FORMAT.md §13.6).
    pub answer_times: Vec<AnswerTime>,
    /// The tolerance [`AnswerTime::time_disagrees`] was judged with, and the witness policy's
    /// quorum and size (for "attested by 2 of 3 witnesses").
    pub time_tolerance_ms: u64,
    pub witness_quorum: (usize, usize),
    /// With an address list (`klero verify --letters`): each letter lottery that commits to it.
    pub letter_audits: Vec<crate::letters::LetterAudit>,
}

/// How far a log's recording time and its witnessed bound may disagree before the report
/// names the event (FORMAT.md §13.6): the server keeps a witnessed checkpoint at most every
/// minute, publishes checkpoints every few seconds, waits 5 seconds for each witness, and
/// clocks drift; fifteen minutes covers all of that many times over.
pub const TIME_TOLERANCE_MS: u64 = 15 * 60 * 1000;

/// One council answer's times (FORMAT.md §13.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerTime {
    pub log_index: u64,
    pub assembly_id: String,
    pub recommendation_id: String,
    /// The log's recording time.
    pub recorded_at_unix_ms: u64,
    /// When the answer was due, from the adoption's recording time.
    pub due_by_unix_ms: u64,
    /// The earliest time at which a quorum of the policy's witnesses had cosigned a checkpoint
    /// covering the answer: it was recorded no later. `None` when no such checkpoint is in the
    /// export.
    pub attested_by_unix_ms: Option<u64>,
}

impl AnswerTime {
    /// On time by the log's own clock.
    pub fn on_time_by_log(&self) -> bool {
        self.recorded_at_unix_ms <= self.due_by_unix_ms
    }

    /// On time by the witnesses: attested by the deadline (`None`: not attested at all).
    pub fn on_time_attested(&self) -> Option<bool> {
        self.attested_by_unix_ms.map(|bound| bound <= self.due_by_unix_ms)
    }

    /// The log's time and the witnesses' bound disagree by more than `tolerance_ms`: recorded
    /// long before any witness saw it (a clock set back, or no witness cosigned for that
    /// long), or after a witness had already seen it (a clock set ahead).
    pub fn time_disagrees(&self, tolerance_ms: u64) -> bool {
        self.attested_by_unix_ms.is_some_and(|bound| {
            bound > self.recorded_at_unix_ms.saturating_add(tolerance_ms)
                || self.recorded_at_unix_ms > bound.saturating_add(tolerance_ms)
        })
    }
}

impl Report {
    /// Nothing failed. With `allow_unanchored`, unanchored events do not fail a report, but
    /// [`Report::complete`] stays false.
    pub fn ok(&self) -> bool {
        self.first_failure.is_none()
    }

    /// Nothing failed and a checkpoint covers every event: everything holds.
    pub fn complete(&self) -> bool {
        self.ok() && self.unanchored_events == 0
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "ok": self.ok(),
            "complete": self.complete(),
            "events": self.events,
            "signatures_verified": self.signatures_verified,
            "streams": self.streams,
            "chain_links_verified": self.chain_links_verified,
            "authority_checks": self.authority_checks,
            "rules_replayed": self.rules_replayed,
            "checkpoints_verified": self.checkpoints_verified,
            "views_checked": self.views_checked,
            "anchored_size": self.anchored_size,
            "unanchored_events": self.unanchored_events,
            "root_hash": self.root_hash.to_hex(),
            "documents_checked": self.documents_checked,
            "documents_missing": self.documents_missing,
            "documents_uncommitted": self.documents_uncommitted,
            "sealed_fields": self.sealed_fields,
            "sealed_fields_opened": self.sealed_fields_opened,
            "sealed_fields_unopened": self.sealed_fields - self.sealed_fields_opened,
            "time_tolerance_ms": self.time_tolerance_ms,
            "time_disagreements": self.time_disagreements(),
            "answer_times": self.answer_times.iter().map(|a| json!({
                "log_index": a.log_index,
                "assembly_id": a.assembly_id,
                "recommendation_id": a.recommendation_id,
                "recorded_at_unix_ms": a.recorded_at_unix_ms,
                "attested_by_unix_ms": a.attested_by_unix_ms,
                "due_by_unix_ms": a.due_by_unix_ms,
                "on_time_by_log": a.on_time_by_log(),
                "on_time_attested": a.on_time_attested(),
                "time_disagrees": a.time_disagrees(self.time_tolerance_ms),
            })).collect::<Vec<_>>(),
            "letter_audits": self.letter_audits.iter().map(|a| json!({
                "assembly_id": a.assembly_id,
                "planned_at": a.planned_at,
                "addresses": a.addresses,
                "invited": a.invited,
                "volunteers": a.volunteers,
                "volunteers_with_letter": a.volunteers_with_letter,
            })).collect::<Vec<_>>(),
            "first_failure": self.first_failure.as_ref().map(|f| json!({
                "class": f.class.as_str(), "position": f.position, "line": f.line, "reason": f.reason,
            })),
        })
    }

    pub fn to_text(&self) -> String {
        let mut text = format!(
            "events: {}\nsignatures verified: {}\nstreams: {} ({} chain links)\nauthority checks: {}\nrules replayed: {}\ncheckpoints verified: {} (covering {} events)\nviews checked: {}\nsealed fields: {} ({} opened and checked against their commitments, {} unopened)\nroot: {}\n",
            self.events,
            self.signatures_verified,
            self.streams,
            self.chain_links_verified,
            self.authority_checks,
            self.rules_replayed,
            self.checkpoints_verified,
            self.anchored_size,
            self.views_checked,
            self.sealed_fields,
            self.sealed_fields_opened,
            self.sealed_fields - self.sealed_fields_opened,
            self.root_hash
        );
        if self.documents_included {
            text.push_str(&format!(
                "documents: {} checked against their names ({} of them committed to by no event), {} committed to but not included\n",
                self.documents_checked, self.documents_uncommitted, self.documents_missing
            ));
        }
        if self.witness_quorum.0 > 0 {
            text.push_str(&self.answer_times_text());
        }
        for audit in &self.letter_audits {
            text.push_str(&audit.to_text());
        }
        match &self.first_failure {
            Some(failure) => text.push_str(&format!("result: FAILED — {failure}\n")),
            None if self.unanchored_events > 0 => text.push_str(&format!(
                "result: NOT COMPLETE — the checks passed, but {} events after log index {} are covered by no signed checkpoint (allowed by --allow-unanchored)\n",
                self.unanchored_events,
                self.anchored_size.saturating_sub(1)
            )),
            None => text.push_str("result: everything holds\n"),
        }
        text
    }

    /// Answers whose recording time and witnessed bound disagree beyond the tolerance.
    pub fn time_disagreements(&self) -> usize {
        self.answer_times.iter().filter(|a| a.time_disagrees(self.time_tolerance_ms)).count()
    }

    /// The witnessed time of every answer (FORMAT.md §13.6), a line each.
    fn answer_times_text(&self) -> String {
        let (quorum, witnesses) = self.witness_quorum;
        let mut text = format!(
            "witnessed time: answers {}, of which {} have a log time and a witnessed bound more than {} minutes apart\n",
            self.answer_times.len(),
            self.time_disagreements(),
            self.time_tolerance_ms / 60_000
        );
        for answer in &self.answer_times {
            let attested = match answer.attested_by_unix_ms {
                Some(bound) => format!("attested by {quorum} of {witnesses} witnesses by {}", utc(bound)),
                None => "attested by no witnessed checkpoint in the export".to_string(),
            };
            let judged = match answer.on_time_attested() {
                Some(true) => "on time by the witnesses",
                Some(false) => "not attested by the deadline",
                None => "not attested",
            };
            let by_log = if answer.on_time_by_log() { "on time by the log's clock" } else { "late by the log's clock" };
            let warning = if answer.time_disagrees(self.time_tolerance_ms) {
                " — WARNING: the log's time and the witnesses' disagree beyond the tolerance (the server's clock was wrong, or no witness cosigned for that long)"
            } else {
                ""
            };
            text.push_str(&format!(
                "  answer at position {} (assembly {}, recommendation {}): recorded {}, {attested}; due by {}: {by_log}, {judged}{warning}\n",
                answer.log_index,
                answer.assembly_id,
                answer.recommendation_id,
                utc(answer.recorded_at_unix_ms),
                utc(answer.due_by_unix_ms)
            ));
        }
        text
    }

    /// A report for an export that could not be read.
    pub fn unreadable(error: &ExportFormatError) -> Report {
        let mut report = Report::default();
        fail(
            &mut report,
            Failure {
                class: FailureClass::Format,
                position: error.log_index,
                line: Some(error.line),
                reason: error.reason.clone(),
            },
        );
        report
    }
}

pub(crate) fn fail(report: &mut Report, failure: Failure) {
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

pub(crate) fn failure(class: FailureClass, position: Option<u64>, reason: impl Into<String>) -> Failure {
    Failure { class, position, line: None, reason: reason.into() }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the epoch.
fn utc(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let date = klero_domain::Date((seconds / 86_400) as i64);
    let in_day = seconds % 86_400;
    format!("{date} {:02}:{:02}:{:02} UTC", in_day / 3600, in_day % 3600 / 60, in_day % 60)
}
