//! The one fold of the log: decode → decide → evolve → views.
//!
//! [`LogFold`] takes the log's events in order, each exactly once. For each it decodes the
//! payload under the catalogue, decides it against the state the events before it left
//! (authority at that position, then the stage's rules), evolves the domain state, and folds
//! it into the read views with what the domain judged (a late response, say). The server folds
//! its log through it to decide new appends and serve views; `klero verify` folds an export
//! through it to check every rule; the tests and the benchmarks fold through it too. So a rule
//! cannot hold in one of them and not in another.
//!
//! Nothing here reads a clock or does I/O: the recording time is the ledger's, from the
//! envelope.

use klero_catalogue::{decode_event, FieldViolation};
use klero_domain::spill::SpillFiles;
use klero_domain::{
    Acceptance, DocumentKind, DomainEvent, DomainState, EventTables, InputKind, Proposal, Recorded, Rejection,
    TableHeads, TableName,
};
use klero_ledger::envelope::{Envelope, EventId};
use klero_ledger::Hash256;
use klero_projections::{ViewSet, Views};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Why an event could not be folded in. Each is a fact about the log at `log_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoldError {
    /// The payload does not decode under the catalogue.
    Payload { log_index: u64, event_type: String, violations: Vec<FieldViolation> },
    /// The author's key did not hold the role at this position, or a rule was broken.
    Rejected { log_index: u64, rejection: Rejection },
    /// Events must be folded in log order, each once.
    OutOfOrder { expected_log_index: u64, log_index: u64 },
}

impl std::fmt::Display for FoldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FoldError::Payload { log_index, event_type, violations } => {
                let fields: Vec<String> = violations.iter().map(|v| format!("{} {}", v.field, v.description)).collect();
                write!(f, "log index {log_index}: the {event_type} payload is invalid: {}", fields.join("; "))
            }
            FoldError::Rejected { log_index, rejection } => write!(f, "log index {log_index}: {rejection}"),
            FoldError::OutOfOrder { expected_log_index, log_index } => {
                write!(f, "log index {log_index} folded where {expected_log_index} was next")
            }
        }
    }
}

impl std::error::Error for FoldError {}

/// One event of the log, as the fold needs it.
#[derive(Clone, Copy, Debug)]
pub struct LoggedEventRef<'a> {
    /// Its index in the log (its Merkle leaf index).
    pub log_index: u64,
    /// The exact envelope, as stored.
    pub envelope: &'a Envelope,
    /// Its event hash (FORMAT.md §2.4).
    pub event_hash: Hash256,
}

/// The domain state and every read view, as of a log prefix.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LogFold {
    state: DomainState,
    views: ViewSet,
    /// Index of the next event to fold: the length of the prefix folded so far.
    next_log_index: u64,
    /// Each stream's next revision and the hash of its last event, as of the prefix. Bounded
    /// by the number of streams.
    stream_heads: HashMap<String, (u64, Hash256)>,
    /// Events the domain judged late (responses after their deadline). Bounded by the number
    /// of responses.
    late_events: HashSet<EventId>,
    /// Every document an event other than an input commits to, by SHA-256: what it is, and
    /// the log index of the first event that commits to it. Packed in snapshots (41 bytes
    /// each). The inputs' documents are in the domain's table of inputs, kept once.
    #[serde(with = "documents_packed")]
    documents: klero_ledger::hash::Hash256Map<CommittedDocument>,
    /// Folds a slice of the log (FORMAT.md §15): some streams' events, in log order with gaps.
    #[serde(default)]
    slice: bool,
}

/// A document some event commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedDocument {
    pub kind: DocumentKind,
    /// The first event that commits to it.
    pub log_index: u64,
}

mod documents_packed {
    use super::{CommittedDocument, DocumentKind, Hash256};
    use klero_ledger::hash::Hash256Map;
    use klero_ledger::records::{self, FixedRecord};

    /// A kind's byte in a snapshot's document rows: fixed for each kind, so never reordered.
    fn code(kind: DocumentKind) -> u8 {
        match kind {
            DocumentKind::Evidence => 0,
            DocumentKind::PublicSubmission => 1,
            DocumentKind::RecommendationText => 2,
            DocumentKind::FinalReport => 3,
            DocumentKind::ImplementationEvidence => 4,
            DocumentKind::ResponseLetter => 5,
            DocumentKind::ConsentText => 6,
            DocumentKind::ModerationPolicy => 7,
        }
    }

    /// The inverse of [`code`], which a new kind's byte is added to beside its `code` arm.
    fn kind(code: u8) -> Option<DocumentKind> {
        let kind = match code {
            0 => DocumentKind::Evidence,
            1 => DocumentKind::PublicSubmission,
            2 => DocumentKind::RecommendationText,
            3 => DocumentKind::FinalReport,
            4 => DocumentKind::ImplementationEvidence,
            5 => DocumentKind::ResponseLetter,
            6 => DocumentKind::ConsentText,
            7 => DocumentKind::ModerationPolicy,
            _ => return None,
        };
        (self::code(kind) == code).then_some(kind)
    }

    struct Row(Hash256, CommittedDocument);

    impl FixedRecord for Row {
        const LEN: usize = 41;
        fn write(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0 .0);
            out.push(code(self.1.kind));
            out.extend_from_slice(&self.1.log_index.to_be_bytes());
        }
        fn read(bytes: &[u8]) -> Option<Row> {
            Some(Row(
                Hash256(bytes[..32].try_into().ok()?),
                CommittedDocument {
                    kind: kind(bytes[32])?,
                    log_index: u64::from_be_bytes(bytes[33..41].try_into().ok()?),
                },
            ))
        }
    }

    pub fn serialize<S: serde::Serializer>(
        documents: &Hash256Map<CommittedDocument>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut rows: Vec<Row> = documents.iter().map(|(hash, document)| Row(*hash, *document)).collect();
        rows.sort_by_key(|row| row.0);
        records::serialize(&rows, serializer)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Hash256Map<CommittedDocument>, D::Error> {
        Ok(records::deserialize::<Row, D>(deserializer)?
            .into_iter()
            .map(|Row(hash, document)| (hash, document))
            .collect())
    }
}

impl LogFold {
    /// An empty fold, for a log whose registry `trust_root` governs.
    pub fn new(trust_root: [u8; 32]) -> LogFold {
        LogFold {
            state: DomainState::new(trust_root),
            views: ViewSet::new(),
            next_log_index: 0,
            stream_heads: HashMap::new(),
            late_events: HashSet::new(),
            documents: Default::default(),
            slice: false,
        }
    }

    /// Keeps only the newest rows of the domain's tables in memory from now on; the rest go
    /// to files that `files` makes ([`klero_domain::spill`]). Only an empty fold's tables take
    /// spill files.
    pub fn spill_tables_to(&mut self, files: Arc<dyn SpillFiles>) {
        self.state.spill_tables_to(files);
    }

    /// An empty fold of a slice of the log (FORMAT.md §15): the events of some streams, in
    /// log order but with gaps. Authority and rules are decided as in the whole log, since an
    /// assembly's rules read only its own streams and the registry; the views then stand for
    /// the prefix [`LogFold::finish_prefix`] names.
    pub fn for_slice(trust_root: [u8; 32]) -> LogFold {
        LogFold { views: ViewSet::for_slice(), slice: true, ..LogFold::new(trust_root) }
    }

    /// A slice's fold stands for the log's first `tree_size` events, the last of which was
    /// recorded at `as_of_unix_ms`.
    pub fn finish_prefix(&mut self, tree_size: u64, as_of_unix_ms: u64) {
        assert!(self.slice, "only a slice's fold names its prefix");
        self.views.finish_prefix(tree_size, as_of_unix_ms);
        self.next_log_index = tree_size;
    }

    /// Decodes an envelope's payload under the catalogue.
    pub fn decode(envelope: &Envelope) -> Result<DomainEvent, Vec<FieldViolation>> {
        let author = envelope.author();
        decode_event(&author.event_type, author.event_version, &author.payload)
    }

    /// Folds in the next event of the log: decode (unless `decoded` already holds it), decide at
    /// this position, evolve, views. On an error nothing changes.
    pub fn fold(&mut self, event: LoggedEventRef<'_>, decoded: Option<DomainEvent>) -> Result<Acceptance, FoldError> {
        let in_order =
            if self.slice { event.log_index >= self.next_log_index } else { event.log_index == self.next_log_index };
        if !in_order {
            return Err(FoldError::OutOfOrder { expected_log_index: self.next_log_index, log_index: event.log_index });
        }
        let author = event.envelope.author();
        let domain_event = match decoded {
            Some(domain_event) => domain_event,
            None => Self::decode(event.envelope).map_err(|violations| FoldError::Payload {
                log_index: event.log_index,
                event_type: author.event_type.clone(),
                violations,
            })?,
        };
        let recorded = Recorded {
            stream: &author.stream,
            author: &author.author_public_key,
            recorded_at_unix_ms: event.envelope.ledger().recorded_at_unix_ms,
            event_hash: event.event_hash,
            log_index: event.log_index,
        };
        klero_domain::check_authored_at(author.authored_at_unix_ms, recorded.recorded_at_unix_ms)
            .map_err(|rejection| FoldError::Rejected { log_index: event.log_index, rejection })?;
        // Decided at its place in the log, then folded in; decide and evolve must agree (the
        // domain asserts it).
        let evolved = self
            .state
            .decide_and_evolve(&domain_event, recorded)
            .map_err(|rejection| FoldError::Rejected { log_index: event.log_index, rejection })?;
        self.views.apply(&domain_event, recorded, evolved);
        // An input's own document is in the domain's table of inputs.
        let input_document = domain_event.as_input().filter(|(_, _, sealed)| !sealed).map(|(_, hash, _)| hash);
        for (hash, kind) in domain_event.committed_documents() {
            if Some(hash) != input_document {
                self.documents.entry(hash).or_insert(CommittedDocument { kind, log_index: event.log_index });
            }
        }
        if evolved.late {
            self.late_events.insert(author.event_id);
        }
        match self.stream_heads.get_mut(author.stream.as_str()) {
            Some(head) => *head = (head.0 + 1, event.event_hash),
            None => {
                self.stream_heads.insert(author.stream.clone(), (1, event.event_hash));
            }
        }
        self.next_log_index = event.log_index + 1;
        Ok(evolved)
    }

    /// Decides proposed events for one stream, each against the state the earlier ones leave,
    /// without changing anything. On rejection, the index of the first event refused.
    pub fn decide(
        &self,
        events: &[DomainEvent],
        proposal: Proposal<'_>,
    ) -> Result<Vec<Acceptance>, (usize, Rejection)> {
        if let [event] = events {
            return self.state.decide(event, proposal).map(|acceptance| vec![acceptance]).map_err(|r| (0, r));
        }
        self.state.decide_batch(events, proposal)
    }

    /// The domain state as of the prefix.
    pub fn state(&self) -> &DomainState {
        &self.state
    }

    /// The read views as of the prefix.
    pub fn views(&self) -> Views<'_> {
        Views::new(&self.views, self.state.inputs())
    }

    /// How many events have been folded: the next log index.
    pub fn next_log_index(&self) -> u64 {
        self.next_log_index
    }

    /// The last revision of `stream` as of the prefix; `None` if it holds no event.
    pub fn stream_revision(&self, stream: &str) -> Option<u64> {
        self.stream_heads.get(stream).map(|(next, _)| next - 1)
    }

    /// Every stream's head as of the prefix: (stream, next revision, last event hash).
    pub fn stream_heads(&self) -> Vec<(String, u64, Hash256)> {
        self.stream_heads.iter().map(|(stream, (next, last))| (stream.clone(), *next, *last)).collect()
    }

    /// Whether the domain judged this event late.
    pub fn is_late(&self, event_id: &EventId) -> bool {
        self.late_events.contains(event_id)
    }

    /// The document with this hash, if an event commits to it: what the first event that
    /// commits to it says it is.
    pub fn committed_document(&self, sha256: &Hash256) -> Option<CommittedDocument> {
        let by_input = self
            .state
            .inputs()
            .by_document(sha256)
            .map(|input| CommittedDocument { kind: Self::input_document_kind(input.kind), log_index: input.log_index });
        match (self.documents.get(sha256).copied(), by_input) {
            (Some(other), Some(input)) => Some(if input.log_index < other.log_index { input } else { other }),
            (other, input) => other.or(input),
        }
    }

    fn input_document_kind(kind: InputKind) -> DocumentKind {
        match kind {
            InputKind::Evidence => DocumentKind::Evidence,
            InputKind::PublicSubmission => DocumentKind::PublicSubmission,
        }
    }

    /// Every document hash an event commits to, and what commits to it, each once.
    pub fn committed_document_kinds(&self) -> impl Iterator<Item = (Hash256, DocumentKind)> + '_ {
        let inputs = self.state.inputs().documents().map(|input| input.content_hash);
        let others = self.documents.keys().copied().filter(|hash| self.state.inputs().by_document(hash).is_none());
        inputs.chain(others).map(|hash| (hash, self.committed_document(&hash).expect("committed").kind))
    }

    /// How many streams have events.
    pub fn streams(&self) -> usize {
        self.stream_heads.len()
    }

    /// The fold as a snapshot's text (FORMAT.md §6.1), so that a restart can take it up
    /// instead of folding the whole log again: everything but the domain's tables, whose
    /// heads it names and whose rows are kept beside it ([`LogFold::kept_rows`]). The server
    /// signs it with the root of the prefix it covers.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_snapshot(&mut bytes);
        bytes
    }

    /// [`LogFold::to_snapshot`]'s bytes, appended to `bytes`.
    pub fn write_snapshot(&self, bytes: &mut Vec<u8>) {
        let text = SnapshotText { fold: self, tables: self.state.tables().heads() };
        serde_json::to_writer(bytes, &text).expect("a fold always serialises")
    }

    /// The heads of the domain's tables, as the snapshot's text names them.
    pub fn table_heads(&self) -> TableHeads {
        self.state.tables().heads()
    }

    /// `table`'s rows `from..to` (`to` at most its length), as kept beside snapshots.
    pub fn kept_rows(&self, table: TableName, from: u32, to: u32) -> Vec<u8> {
        self.state.tables().kept_range(table, from, to)
    }

    /// A fold from a snapshot's text, and the heads of the tables whose rows are kept beside
    /// it: the caller adds them with [`LogFold::take_up_rows`] (checking them against what the
    /// snapshot's signature covers), then calls [`LogFold::check_table_heads`].
    /// With `spill`, the tables' rows leave memory as they come ([`LogFold::spill_tables_to`]).
    pub fn from_snapshot_text(
        text: &[u8],
        spill: Option<Arc<dyn SpillFiles>>,
    ) -> Result<(LogFold, TableHeads), String> {
        let SnapshotTextRead { mut fold, tables } = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        fold.state.take_up_table_heads(&tables, spill)?;
        Ok((fold, tables))
    }

    /// Adds a piece of a table's kept rows, in order (see [`LogFold::from_snapshot_text`]).
    pub fn take_up_rows(&mut self, table: TableName, bytes: &[u8]) -> Result<(), String> {
        self.state.take_up_rows(table, bytes)
    }

    /// Ends a take-up: whether every row the snapshot's text counts was taken up, each key
    /// once.
    pub fn check_table_heads(&mut self, heads: &TableHeads) -> Result<(), String> {
        self.state.check_table_heads(heads)
    }

    /// How many bytes of `table`'s kept rows `heads` counts.
    pub fn kept_length(heads: &TableHeads, table: TableName) -> u64 {
        heads.rows(table) as u64 * EventTables::row_bytes(table) as u64
    }

    /// A fold from a snapshot's text and all the rows kept beside it at once: `rows` gives the
    /// first `length` bytes of a table's kept rows.
    pub fn from_snapshot(
        text: &[u8],
        mut rows: impl FnMut(TableName, u64) -> Result<Vec<u8>, String>,
    ) -> Result<LogFold, String> {
        let (mut fold, heads) = LogFold::from_snapshot_text(text, None)?;
        for table in TableName::ALL {
            fold.take_up_rows(table, &rows(table, LogFold::kept_length(&heads, table))?)?;
        }
        fold.check_table_heads(&heads)?;
        Ok(fold)
    }
}

/// A snapshot's text: the fold, and the heads of the tables kept beside it.
#[derive(serde::Serialize)]
struct SnapshotText<'a> {
    fold: &'a LogFold,
    tables: TableHeads,
}

#[derive(serde::Deserialize)]
struct SnapshotTextRead {
    fold: LogFold,
    tables: TableHeads,
}
