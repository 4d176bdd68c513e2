//! Kleroterion's read views: pure folds over recorded events.
//!
//! [`ViewSet::apply`] folds one recorded event in; the typed query methods
//! ([`ViewSet::assembly_views`], [`ViewSet::overview`], …) give a view of one assembly as the
//! types of [`views`], and [`ViewSet::render`] its canonical JSON (docs/FORMAT.md §7) with its
//! SHA-256 digest: the serialisation of those types. Nothing here reads a clock: "now" in a
//! view is the recording time of the last event of the prefix, so the same log prefix gives the
//! same bytes on any machine.
//!
//! | view | version | what |
//! |---|---|---|
//! | `assembly-overview` | 1 | remit, dates, status and timeline |
//! | `panel` | 1 | composition against the quotas, as counts only |
//! | `deliberation-record` | 1 | sessions, evidence with content hashes, submission counts |
//! | `recommendations` | 1 | text hashes, amendments, votes and adoption |
//! | `accountability` | 1 | for each adopted recommendation: the response or its absence, implementation, and the event hashes that prove each link |
//! | `input-trace` | 1 | for each input (evidence, public submission): what cited it and what became of those recommendations |
//! | `response-trace` | 1 | for each response: the recommendation it answers, the inputs that recommendation cited, and what the council considered |

pub mod views;

use klero_domain::events::*;
use klero_domain::*;
use klero_ledger::Hash256;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use views::*;

/// A view's name and the version of its JSON shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewName {
    AssemblyOverview,
    Panel,
    DeliberationRecord,
    Recommendations,
    Accountability,
    InputTrace,
    ResponseTrace,
}

impl ViewName {
    pub const ALL: [ViewName; 7] = [
        ViewName::AssemblyOverview,
        ViewName::Panel,
        ViewName::DeliberationRecord,
        ViewName::Recommendations,
        ViewName::Accountability,
        ViewName::InputTrace,
        ViewName::ResponseTrace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViewName::AssemblyOverview => "assembly-overview",
            ViewName::Panel => "panel",
            ViewName::DeliberationRecord => "deliberation-record",
            ViewName::Recommendations => "recommendations",
            ViewName::Accountability => "accountability",
            ViewName::InputTrace => "input-trace",
            ViewName::ResponseTrace => "response-trace",
        }
    }

    /// The version of the view's JSON shape; it changes whenever the bytes would.
    pub fn version(self) -> u32 {
        1
    }

    pub fn parse(name: &str) -> Option<ViewName> {
        ViewName::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

/// A rendered view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedView {
    pub name: ViewName,
    pub assembly_id: AssemblyId,
    /// Canonical JSON bytes.
    pub json: String,
    /// SHA-256 of `json`.
    pub digest: Hash256,
    /// How many log events the view covers.
    pub tree_size: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Session {
    held: SessionHeld,
    log_index: u64,
    evidence: Vec<(EvidencePresented, u64, Hash256)>,
}

/// An input that can be cited: one per evidence or public submission, so kept small, and
/// packed in snapshots (73 bytes).
#[derive(Clone, Copy, Debug)]
struct InputRow {
    kind: InputKind,
    event_hash: Hash256,
    log_index: u64,
    /// The document's SHA-256, or a sealed submission's commitment.
    content_hash: Hash256,
    /// A public submission sealed in its event (version 2), not kept as a document.
    sealed: bool,
}

impl klero_ledger::records::FixedRecord for InputRow {
    const LEN: usize = 73;
    fn write(&self, out: &mut Vec<u8>) {
        out.push(match (self.kind, self.sealed) {
            (InputKind::Evidence, _) => 0,
            (InputKind::PublicSubmission, false) => 1,
            (InputKind::PublicSubmission, true) => 2,
        });
        out.extend_from_slice(&self.event_hash.0);
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out.extend_from_slice(&self.content_hash.0);
    }
    fn read(bytes: &[u8]) -> Option<InputRow> {
        let (kind, sealed) = match bytes[0] {
            0 => (InputKind::Evidence, false),
            1 => (InputKind::PublicSubmission, false),
            2 => (InputKind::PublicSubmission, true),
            _ => return None,
        };
        Some(InputRow {
            kind,
            sealed,
            event_hash: Hash256(bytes[1..33].try_into().ok()?),
            log_index: u64::from_be_bytes(bytes[33..41].try_into().ok()?),
            content_hash: Hash256(bytes[41..73].try_into().ok()?),
        })
    }
}

mod input_rows_packed {
    use super::InputRow;
    pub fn serialize<S: serde::Serializer>(rows: &[InputRow], serializer: S) -> Result<S::Ok, S::Error> {
        klero_ledger::records::serialize(rows, serializer)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<InputRow>, D::Error> {
        klero_ledger::records::deserialize(deserializer)
    }
}

/// Who cited an input: a recommendation (by id) or a response (by the adoption it answers).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum Citer {
    Recommendation(String),
    Response(Hash256),
}

/// One citation, where it was recorded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct CitationRecord {
    input_event_hash: Hash256,
    note: String,
    /// The recommendation text cited for; `None` for a response's citation.
    text_hash: Option<Hash256>,
    log_index: u64,
    event_hash: Hash256,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Recommendation {
    title: String,
    status: RecommendationStatus,
    drafted_text_hash: Hash256,
    drafted_log_index: u64,
    text_hash: Hash256,
    amendments: Vec<Amendment>,
    votes: Vec<Vote>,
    withdrawn_reason: Option<String>,
    /// The adoption, its log index, event hash and recording time.
    adoption: Option<(RecommendationAdopted, u64, Hash256, u64)>,
}

/// Free text as the fold keeps it: the text, or a sealed field's commitment (never its
/// plaintext, so every rebuild gives the same bytes, keys or no keys).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum KeptText {
    Plain(String),
    Sealed(Hash256),
}

impl From<&PersonalText> for KeptText {
    fn from(text: &PersonalText) -> KeptText {
        match text {
            PersonalText::Plain(text) => KeptText::Plain(text.clone()),
            PersonalText::Sealed(sealed) => KeptText::Sealed(sealed.commitment),
        }
    }
}

/// An answer as the fold keeps it; rendered as [`Answer`] with erasures marked.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct KeptAnswer {
    decision: Decision,
    rationale: KeptText,
    responsible_body: String,
    due_on: Date,
    reason_for_amendment: Option<String>,
    event_hash: Hash256,
    log_index: u64,
    recorded_at_unix_ms: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct KeptUpdate {
    status: ImplementationStatus,
    progress_percent: u32,
    note: KeptText,
    evidence_hash: Option<Hash256>,
    event_hash: Hash256,
    log_index: u64,
    recorded_at_unix_ms: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Response {
    history: Vec<KeptAnswer>,
    late: bool,
    updates: Vec<KeptUpdate>,
}

impl Response {
    fn current(&self) -> &KeptAnswer {
        self.history.last().expect("a response has its issued answer")
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct AssemblyViews {
    convened: AssemblyConvened,
    convened_log_index: u64,
    timeline: Vec<Milestone>,
    quotas: Vec<Quota>,
    pool: BTreeMap<String, BTreeMap<String, String>>,
    seated: BTreeSet<String>,
    withdrawals: u64,
    replacements: u64,
    sessions: Vec<Session>,
    submissions_by_day: BTreeMap<Date, u64>,
    recommendations: BTreeMap<String, Recommendation>,
    adopted_by_hash: HashMap<Hash256, String>,
    final_report: Option<(Hash256, u64)>,
    responses: HashMap<Hash256, Response>,
    /// Evidence and public submissions, in log order.
    #[serde(with = "input_rows_packed")]
    inputs: Vec<InputRow>,
    /// Input event hash → what cited it, in log order. Only cited inputs are here.
    input_citations: HashMap<Hash256, Vec<(Citer, CitationRecord)>>,
    /// Recommendation id → its citations, in log order.
    recommendation_citations: HashMap<String, Vec<CitationRecord>>,
    /// Adoption event hash → the response's citations, in log order.
    response_citations: HashMap<Hash256, Vec<CitationRecord>>,
    /// Adoption event hash → (letter hash, log index, event hash) of each response letter.
    response_letters: HashMap<Hash256, Vec<(Hash256, u64, Hash256)>>,
    /// Event hash → the commitments of its sealed fields, for events that hold any.
    sealed_commitments: HashMap<Hash256, Vec<Hash256>>,
    /// Event hash → the erasure of its personal content.
    erased_events: HashMap<Hash256, ViewErasure>,
    /// Sealed commitment → the erasure of the event that holds it.
    erased_commitments: HashMap<Hash256, ViewErasure>,
}

/// How an erasure shows in the views.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ViewErasure {
    erased_on: Date,
    legal_basis: String,
}

impl AssemblyViews {
    fn new(convened: &AssemblyConvened, record: &Recorded<'_>) -> AssemblyViews {
        AssemblyViews {
            convened: convened.clone(),
            convened_log_index: record.log_index,
            timeline: vec![milestone(MilestoneKind::Convened, record)],
            quotas: Vec::new(),
            pool: BTreeMap::new(),
            seated: BTreeSet::new(),
            withdrawals: 0,
            replacements: 0,
            sessions: Vec::new(),
            submissions_by_day: BTreeMap::new(),
            recommendations: BTreeMap::new(),
            adopted_by_hash: HashMap::new(),
            final_report: None,
            responses: HashMap::new(),
            inputs: Vec::new(),
            input_citations: HashMap::new(),
            recommendation_citations: HashMap::new(),
            response_citations: HashMap::new(),
            response_letters: HashMap::new(),
            sealed_commitments: HashMap::new(),
            erased_events: HashMap::new(),
            erased_commitments: HashMap::new(),
        }
    }

    fn add_input(&mut self, kind: InputKind, content_hash: Hash256, sealed: bool, record: &Recorded<'_>) {
        self.inputs.push(InputRow {
            kind,
            event_hash: record.event_hash,
            log_index: record.log_index,
            content_hash,
            sealed,
        });
    }

    /// The recommendation id an adoption event hash names, if any.
    fn adopted_id(&self, adoption: &Hash256) -> Option<&String> {
        self.adopted_by_hash.get(adoption)
    }

    /// The kind of every cited input: one pass over the inputs, at render time only.
    fn cited_input_kinds(&self) -> HashMap<Hash256, InputKind> {
        self.inputs
            .iter()
            .filter(|input| self.input_citations.contains_key(&input.event_hash))
            .map(|input| (input.event_hash, input.kind))
            .collect()
    }

    /// Free text as a view shows it: an erased sealed field gains its erasure (FORMAT.md §7;
    /// the only change an erasure makes to a view).
    fn personal(&self, text: &KeptText) -> PersonalTextView {
        match text {
            KeptText::Plain(text) => PersonalTextView::Plain(text.clone()),
            KeptText::Sealed(commitment) => {
                let erasure = self.erased_commitments.get(commitment);
                PersonalTextView::Sealed {
                    erased_on: erasure.map(|e| IsoDate(e.erased_on)),
                    erasure_reason: erasure.map(|e| e.legal_basis.clone()),
                    sealed_commitment: *commitment,
                }
            }
        }
    }

    fn answer(&self, kept: &KeptAnswer) -> Answer {
        Answer {
            decision: kept.decision,
            due_on: IsoDate(kept.due_on),
            event_hash: kept.event_hash,
            log_index: kept.log_index,
            rationale: self.personal(&kept.rationale),
            reason_for_amendment: kept.reason_for_amendment.clone(),
            recorded_at_unix_ms: kept.recorded_at_unix_ms,
            responsible_body: kept.responsible_body.clone(),
        }
    }

    fn update(&self, kept: &KeptUpdate) -> ImplementationUpdate {
        ImplementationUpdate {
            event_hash: kept.event_hash,
            evidence_hash: kept.evidence_hash,
            log_index: kept.log_index,
            note: self.personal(&kept.note),
            progress_percent: kept.progress_percent,
            recorded_at_unix_ms: kept.recorded_at_unix_ms,
            status: kept.status,
        }
    }

    fn response_record(&self, response: &Response) -> ResponseRecord {
        ResponseRecord {
            current: self.answer(response.current()),
            history: response.history.iter().map(|answer| self.answer(answer)).collect(),
            late: response.late,
        }
    }

    fn updates(&self, response: Option<&Response>) -> Vec<ImplementationUpdate> {
        response.map_or_else(Vec::new, |response| response.updates.iter().map(|u| self.update(u)).collect())
    }
}

fn milestone(what: MilestoneKind, record: &Recorded<'_>) -> Milestone {
    Milestone { log_index: record.log_index, recorded_at_unix_ms: record.recorded_at_unix_ms, what }
}

/// Every view of every assembly, as of the events folded in so far.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ViewSet {
    assemblies: BTreeMap<AssemblyId, AssemblyViews>,
    /// Events folded in: the log prefix the views cover.
    tree_size: u64,
    /// Recording time of the last event of the prefix: the views' "now".
    as_of_unix_ms: u64,
    /// Folds a slice of the log (FORMAT.md §15): the events of some streams, with gaps between
    /// their log indexes; [`ViewSet::finish_prefix`] then names the prefix they stand for.
    #[serde(default)]
    gaps_allowed: bool,
}

impl ViewSet {
    pub fn new() -> ViewSet {
        ViewSet::default()
    }

    /// Views of a slice of the log: events come in log order but with gaps, and
    /// [`ViewSet::finish_prefix`] sets the prefix they stand for. The views of an assembly are
    /// then those of the whole prefix, since only the assembly's streams (and the registry,
    /// which no view shows) change them.
    pub fn for_slice() -> ViewSet {
        ViewSet { gaps_allowed: true, ..ViewSet::default() }
    }

    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The views' "now": the recording time of the last event of the prefix (0 before any).
    pub fn as_of_unix_ms(&self) -> u64 {
        self.as_of_unix_ms
    }

    /// A slice's views stand for the log's first `tree_size` events, the last of which was
    /// recorded at `as_of_unix_ms`.
    pub fn finish_prefix(&mut self, tree_size: u64, as_of_unix_ms: u64) {
        assert!(self.gaps_allowed, "only a slice's views name their prefix");
        assert!(tree_size >= self.tree_size, "a prefix covers every event folded in");
        self.tree_size = tree_size;
        self.as_of_unix_ms = as_of_unix_ms;
    }

    /// Rebuilds the lookups a snapshot does not keep; call after deserialising.
    pub fn rebuild_indexes(&mut self) {}

    /// Every input (evidence, public submission) of every assembly, in log order within each:
    /// (assembly, kind, event hash, content hash, log index). A snapshot keeps these once, here;
    /// the fold rebuilds its other tables of inputs from them.
    pub fn inputs(&self) -> impl Iterator<Item = (&AssemblyId, InputKind, Hash256, Hash256, u64)> + '_ {
        self.assemblies.iter().flat_map(|(id, views)| {
            views.inputs.iter().map(move |row| (id, row.kind, row.event_hash, row.content_hash, row.log_index))
        })
    }

    /// How many inputs the views hold, over every assembly.
    pub fn input_count(&self) -> usize {
        self.assemblies.values().map(|views| views.inputs.len()).sum()
    }

    /// One assembly's inputs, as [`ViewSet::inputs`] gives them.
    pub fn inputs_of(&self, assembly_id: &AssemblyId) -> impl Iterator<Item = (InputKind, Hash256, Hash256, u64)> + '_ {
        self.assemblies.get(assembly_id).into_iter().flat_map(|views| {
            views.inputs.iter().map(|row| (row.kind, row.event_hash, row.content_hash, row.log_index))
        })
    }

    pub fn assembly_ids(&self) -> Vec<AssemblyId> {
        self.assemblies.keys().cloned().collect()
    }

    /// Folds in the next event of the log, as the domain accepted it (`acceptance` says whether
    /// it was late). Events must come in log order, each exactly once; without gaps unless the
    /// views are a slice's.
    pub fn apply(&mut self, event: &DomainEvent, record: Recorded<'_>, acceptance: Acceptance) {
        if self.gaps_allowed {
            assert!(record.log_index >= self.tree_size, "a slice's views fold the log in order, each event once");
        } else {
            assert_eq!(record.log_index, self.tree_size, "views fold the log in order, each event once");
        }
        self.tree_size = record.log_index + 1;
        self.as_of_unix_ms = record.recorded_at_unix_ms;
        let Some((_, Some(assembly_id))) = StreamKind::parse_stream_str(record.stream) else { return };
        if let DomainEvent::AssemblyConvened(convened) = event {
            self.assemblies.insert(convened.assembly_id.clone(), AssemblyViews::new(convened, &record));
            return;
        }
        let Some(views) = self.assemblies.get_mut(assembly_id) else { return };
        let sealed = event.sealed_fields();
        if !sealed.is_empty() {
            views.sealed_commitments.insert(record.event_hash, sealed.iter().map(|(_, s)| s.commitment).collect());
        }
        match event {
            DomainEvent::KeyGranted(_) | DomainEvent::KeyRevoked(_) | DomainEvent::AssemblyConvened(_) => {}
            DomainEvent::SelectionPlanned(plan) => {
                views.quotas = plan.quotas.clone();
                views.timeline.push(milestone(MilestoneKind::SelectionPlanned, &record));
            }
            DomainEvent::PoolRegistered(pool) => {
                views.pool =
                    pool.members.iter().map(|m| (m.id.clone(), m.features.iter().cloned().collect())).collect();
                views.timeline.push(milestone(MilestoneKind::PoolRegistered, &record));
            }
            DomainEvent::LotteryPublished(_) => {
                views.timeline.push(milestone(MilestoneKind::LotteryPublished, &record))
            }
            DomainEvent::PanelDrawn(drawn) => {
                views.seated = drawn.member_ids.iter().cloned().collect();
                views.timeline.push(milestone(MilestoneKind::PanelDrawn, &record));
            }
            DomainEvent::MemberWithdrew(withdrew) => {
                views.seated.remove(&withdrew.member_id);
                views.withdrawals += 1;
            }
            DomainEvent::ReplacementDrawn(replacement) => {
                views.seated.insert(replacement.replacement_member_id.clone());
                views.replacements += 1;
            }
            DomainEvent::SessionHeld(held) => {
                if views.sessions.is_empty() {
                    views.timeline.push(milestone(MilestoneKind::FirstSessionHeld, &record));
                }
                views.sessions.push(Session { held: held.clone(), log_index: record.log_index, evidence: Vec::new() });
            }
            DomainEvent::EvidencePresented(evidence) => {
                if let Some(session) =
                    views.sessions.iter_mut().find(|s| s.held.session_number == evidence.session_number)
                {
                    session.evidence.push((evidence.clone(), record.log_index, record.event_hash));
                }
                views.add_input(InputKind::Evidence, evidence.content_hash, false, &record);
            }
            DomainEvent::PublicSubmissionReceived(submission) => {
                *views.submissions_by_day.entry(submission.received_on).or_insert(0) += 1;
                let sealed = matches!(submission.content, SubmissionContent::Sealed(_));
                views.add_input(InputKind::PublicSubmission, submission.content.content_hash(), sealed, &record);
            }
            // The retention period is the rules' (overdue erasures), not a stage of the assembly.
            DomainEvent::PersonalDataRetentionSet(_) => {}
            DomainEvent::ContentErased(erased) => {
                let erasure = ViewErasure { erased_on: erased.erased_on, legal_basis: erased.legal_basis.clone() };
                for commitment in views.sealed_commitments.get(&erased.event_hash).into_iter().flatten() {
                    views.erased_commitments.insert(*commitment, erasure.clone());
                }
                views.erased_events.insert(erased.event_hash, erasure);
            }
            DomainEvent::RecommendationInputsCited(cited) => {
                for citation in &cited.citations {
                    let cited_here = CitationRecord {
                        input_event_hash: citation.input_event_hash,
                        note: citation.note.clone(),
                        text_hash: Some(cited.text_hash),
                        log_index: record.log_index,
                        event_hash: record.event_hash,
                    };
                    views
                        .input_citations
                        .entry(citation.input_event_hash)
                        .or_default()
                        .push((Citer::Recommendation(cited.recommendation_id.clone()), cited_here.clone()));
                    views.recommendation_citations.entry(cited.recommendation_id.clone()).or_default().push(cited_here);
                }
            }
            DomainEvent::ResponseInputsConsidered(considered) => {
                let adoption = considered.recommendation_event_hash;
                for citation in &considered.citations {
                    let considered_here = CitationRecord {
                        input_event_hash: citation.input_event_hash,
                        note: citation.note.clone(),
                        text_hash: None,
                        log_index: record.log_index,
                        event_hash: record.event_hash,
                    };
                    views
                        .input_citations
                        .entry(citation.input_event_hash)
                        .or_default()
                        .push((Citer::Response(adoption), considered_here.clone()));
                    views.response_citations.entry(adoption).or_default().push(considered_here);
                }
                if let Some(letter) = considered.letter_hash {
                    views.response_letters.entry(adoption).or_default().push((
                        letter,
                        record.log_index,
                        record.event_hash,
                    ));
                }
            }
            DomainEvent::RecommendationDrafted(draft) => {
                if views.recommendations.is_empty() {
                    views.timeline.push(milestone(MilestoneKind::FirstRecommendationDrafted, &record));
                }
                views.recommendations.insert(
                    draft.recommendation_id.clone(),
                    Recommendation {
                        title: draft.title.clone(),
                        status: RecommendationStatus::Drafted,
                        drafted_text_hash: draft.text_hash,
                        drafted_log_index: record.log_index,
                        text_hash: draft.text_hash,
                        amendments: Vec::new(),
                        votes: Vec::new(),
                        withdrawn_reason: None,
                        adoption: None,
                    },
                );
            }
            DomainEvent::RecommendationAmended(amended) => {
                if let Some(r) = views.recommendations.get_mut(&amended.recommendation_id) {
                    r.text_hash = amended.text_hash;
                    r.amendments.push(Amendment {
                        log_index: record.log_index,
                        reason: amended.reason.clone(),
                        text_hash: amended.text_hash,
                    });
                }
            }
            DomainEvent::RecommendationWithdrawn(withdrawn) => {
                if let Some(r) = views.recommendations.get_mut(&withdrawn.recommendation_id) {
                    r.status = RecommendationStatus::Withdrawn;
                    r.withdrawn_reason = Some(withdrawn.reason.clone());
                }
            }
            DomainEvent::VoteRecorded(vote) => {
                if let Some(r) = views.recommendations.get_mut(&vote.recommendation_id) {
                    r.votes.push(Vote {
                        abstaining: vote.tally.abstaining,
                        against: vote.tally.against,
                        in_favour: vote.tally.in_favour,
                        log_index: record.log_index,
                    });
                }
            }
            DomainEvent::RecommendationAdopted(adopted) => {
                if let Some(r) = views.recommendations.get_mut(&adopted.recommendation_id) {
                    r.status = RecommendationStatus::Adopted;
                    r.adoption =
                        Some((adopted.clone(), record.log_index, record.event_hash, record.recorded_at_unix_ms));
                }
                views.adopted_by_hash.insert(record.event_hash, adopted.recommendation_id.clone());
            }
            DomainEvent::FinalReportPublished(report) => {
                views.final_report = Some((report.content_hash, record.log_index));
                views.timeline.push(milestone(MilestoneKind::FinalReportPublished, &record));
            }
            DomainEvent::ResponseIssued(issued) => {
                let answer = KeptAnswer {
                    decision: issued.decision,
                    rationale: KeptText::from(&issued.rationale),
                    responsible_body: issued.responsible_body.clone(),
                    due_on: issued.due_on,
                    reason_for_amendment: None,
                    event_hash: record.event_hash,
                    log_index: record.log_index,
                    recorded_at_unix_ms: record.recorded_at_unix_ms,
                };
                if views.responses.is_empty() {
                    views.timeline.push(milestone(MilestoneKind::FirstResponseIssued, &record));
                }
                views.responses.insert(
                    issued.recommendation_event_hash,
                    Response { history: vec![answer], late: acceptance.late, updates: Vec::new() },
                );
            }
            DomainEvent::ResponseAmended(amended) => {
                if let Some(response) = views.responses.get_mut(&amended.recommendation_event_hash) {
                    response.history.push(KeptAnswer {
                        decision: amended.decision,
                        rationale: KeptText::from(&amended.rationale),
                        responsible_body: amended.responsible_body.clone(),
                        due_on: amended.due_on,
                        reason_for_amendment: Some(amended.reason.clone()),
                        event_hash: record.event_hash,
                        log_index: record.log_index,
                        recorded_at_unix_ms: record.recorded_at_unix_ms,
                    });
                }
            }
            DomainEvent::ImplementationUpdated(update) => {
                if let Some(response) = views.responses.get_mut(&update.recommendation_event_hash) {
                    response.updates.push(KeptUpdate {
                        status: update.status,
                        progress_percent: update.progress_percent,
                        note: KeptText::from(&update.note),
                        evidence_hash: update.evidence_hash,
                        event_hash: record.event_hash,
                        log_index: record.log_index,
                        recorded_at_unix_ms: record.recorded_at_unix_ms,
                    });
                }
            }
        }
    }

    /// A view's body wrapped with what every view carries.
    fn view<B>(&self, name: ViewName, assembly_id: &AssemblyId, body: B) -> View<B> {
        View {
            as_of_unix_ms: self.as_of_unix_ms,
            assembly_id: assembly_id.to_string(),
            body,
            tree_size: self.tree_size,
            version: name.version(),
            view: name.as_str().to_string(),
        }
    }

    /// Every view of one assembly; `None` if it is not convened.
    pub fn assembly_views(&self, assembly_id: &AssemblyId) -> Option<AssemblyViewSet> {
        Some(AssemblyViewSet {
            overview: self.overview(assembly_id)?,
            panel: self.panel(assembly_id)?,
            deliberation: self.deliberation(assembly_id)?,
            recommendations: self.recommendations(assembly_id)?,
            accountability: self.accountability(assembly_id)?,
            input_trace: self.input_trace(assembly_id)?,
            response_trace: self.response_trace(assembly_id)?,
        })
    }

    /// Renders one view of one assembly as canonical JSON; `None` if the assembly is not
    /// convened.
    pub fn render(&self, name: ViewName, assembly_id: &AssemblyId) -> Option<RenderedView> {
        let json = match name {
            ViewName::AssemblyOverview => canonical(&self.overview(assembly_id)?),
            ViewName::Panel => canonical(&self.panel(assembly_id)?),
            ViewName::DeliberationRecord => canonical(&self.deliberation(assembly_id)?),
            ViewName::Recommendations => canonical(&self.recommendations(assembly_id)?),
            ViewName::Accountability => canonical(&self.accountability(assembly_id)?),
            ViewName::InputTrace => canonical(&self.input_trace(assembly_id)?),
            ViewName::ResponseTrace => canonical(&self.response_trace(assembly_id)?),
        };
        let digest = Hash256::of(json.as_bytes());
        Some(RenderedView { name, assembly_id: assembly_id.clone(), json, digest, tree_size: self.tree_size })
    }

    /// `assembly-overview`.
    pub fn overview(&self, assembly_id: &AssemblyId) -> Option<View<AssemblyOverview>> {
        let views = self.assemblies.get(assembly_id)?;
        let c = &views.convened;
        let body = AssemblyOverview {
            adoption_threshold_percent: c.adoption_threshold_percent,
            area: c.area.clone(),
            convened_log_index: views.convened_log_index,
            council: c.council.clone(),
            counts: OverviewCounts {
                adopted: views.adopted_by_hash.len() as u64,
                recommendations: views.recommendations.len() as u64,
                responses: views.responses.len() as u64,
                seated: views.seated.len() as u64,
                sessions: views.sessions.len() as u64,
            },
            ends_on: IsoDate(c.ends_on),
            panel_size: c.panel_size,
            remit_question: c.remit_question.clone(),
            response_deadline_days: c.response_deadline_days,
            starts_on: IsoDate(c.starts_on),
            status: views.timeline.last().map_or(MilestoneKind::Convened, |m| m.what),
            timeline: views.timeline.clone(),
        };
        Some(self.view(ViewName::AssemblyOverview, assembly_id, body))
    }

    /// `panel`.
    pub fn panel(&self, assembly_id: &AssemblyId) -> Option<View<Panel>> {
        let views = self.assemblies.get(assembly_id)?;
        let mut seated_counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for id in &views.seated {
            if let Some(features) = views.pool.get(id) {
                for (feature, value) in features {
                    *seated_counts.entry((feature, value)).or_insert(0) += 1;
                }
            }
        }
        let quotas = views
            .quotas
            .iter()
            .map(|q| {
                let seated = seated_counts.get(&(q.feature.as_str(), q.value.as_str())).copied().unwrap_or(0);
                QuotaSeats {
                    feature: q.feature.clone(),
                    max: q.max,
                    min: q.min,
                    seated,
                    value: q.value.clone(),
                    within_quota: (q.min as u64..=q.max as u64).contains(&seated),
                }
            })
            .collect();
        let body = Panel {
            panel_size: views.convened.panel_size,
            pool_size: views.pool.len() as u64,
            quotas,
            replacements: views.replacements,
            seated: views.seated.len() as u64,
            withdrawals: views.withdrawals,
        };
        Some(self.view(ViewName::Panel, assembly_id, body))
    }

    /// `deliberation-record`.
    pub fn deliberation(&self, assembly_id: &AssemblyId) -> Option<View<DeliberationRecord>> {
        let views = self.assemblies.get(assembly_id)?;
        let sessions = views
            .sessions
            .iter()
            .map(|s| SessionEntry {
                agenda: s.held.agenda.clone(),
                attendance_count: s.held.attendance_count,
                evidence: s
                    .evidence
                    .iter()
                    .map(|(e, log_index, hash)| EvidenceEntry {
                        content_hash: e.content_hash,
                        event_hash: *hash,
                        log_index: *log_index,
                        media_type: e.media_type.clone(),
                        speaker_role: e.speaker_role.clone(),
                        title: views.personal(&KeptText::from(&e.title)),
                    })
                    .collect(),
                held_on: IsoDate(s.held.held_on),
                log_index: s.log_index,
                session_number: s.held.session_number,
            })
            .collect();
        let by_day = views
            .submissions_by_day
            .iter()
            .map(|(day, count)| SubmissionsOnDay { count: *count, received_on: IsoDate(*day) })
            .collect();
        let body = DeliberationRecord {
            public_submissions: PublicSubmissionCounts {
                by_day,
                total: views.submissions_by_day.values().sum::<u64>(),
            },
            sessions,
        };
        Some(self.view(ViewName::DeliberationRecord, assembly_id, body))
    }

    /// `recommendations`.
    pub fn recommendations(&self, assembly_id: &AssemblyId) -> Option<View<Recommendations>> {
        let views = self.assemblies.get(assembly_id)?;
        let recommendations = views
            .recommendations
            .iter()
            .map(|(id, r)| RecommendationEntry {
                adoption: r.adoption.as_ref().map(|(a, log_index, hash, at)| AdoptionVote {
                    abstaining: a.tally.abstaining,
                    against: a.tally.against,
                    event_hash: *hash,
                    final_text_hash: a.final_text_hash,
                    in_favour: a.tally.in_favour,
                    log_index: *log_index,
                    recorded_at_unix_ms: *at,
                }),
                amendments: r.amendments.clone(),
                current_text_hash: r.text_hash,
                drafted: Drafted { log_index: r.drafted_log_index, text_hash: r.drafted_text_hash },
                recommendation_id: id.clone(),
                status: r.status,
                title: r.title.clone(),
                votes: r.votes.clone(),
                withdrawn_reason: r.withdrawn_reason.clone(),
            })
            .collect();
        let body = Recommendations {
            final_report: views.final_report.map(|(content_hash, log_index)| FinalReport { content_hash, log_index }),
            recommendations,
        };
        Some(self.view(ViewName::Recommendations, assembly_id, body))
    }

    /// `accountability`.
    pub fn accountability(&self, assembly_id: &AssemblyId) -> Option<View<Accountability>> {
        let views = self.assemblies.get(assembly_id)?;
        let adopted_recommendations = views
            .recommendations
            .iter()
            .filter_map(|(id, r)| {
                let (adopted, log_index, hash, at) = r.adoption.as_ref()?;
                let deadline = response_due_by_unix_ms(*at, views.convened.response_deadline_days);
                let response = views.responses.get(hash);
                let state = match response {
                    Some(_) => ResponseState::Responded,
                    None if self.as_of_unix_ms > deadline => ResponseState::Overdue,
                    None => ResponseState::NoResponseYet,
                };
                Some(AdoptedRecommendation {
                    adoption: AdoptionRef {
                        event_hash: *hash,
                        final_text_hash: adopted.final_text_hash,
                        log_index: *log_index,
                        recorded_at_unix_ms: *at,
                    },
                    implementation: views.updates(response),
                    recommendation_id: id.clone(),
                    response: response.map(|response| views.response_record(response)),
                    response_due_by_unix_ms: deadline,
                    state,
                    title: r.title.clone(),
                })
            })
            .collect();
        Some(self.view(ViewName::Accountability, assembly_id, Accountability { adopted_recommendations }))
    }

    /// `input-trace`: for each input, in log order, what cited it and what became of it.
    pub fn input_trace(&self, assembly_id: &AssemblyId) -> Option<View<InputTrace>> {
        let views = self.assemblies.get(assembly_id)?;
        let inputs = views
            .inputs
            .iter()
            .map(|input| {
                let citations: &[(Citer, CitationRecord)] =
                    views.input_citations.get(&input.event_hash).map_or(&[], Vec::as_slice);
                // A sealed submission's erasure is marked through its commitment, any other
                // input's through its event.
                let erasure = if input.sealed {
                    views.erased_commitments.get(&input.content_hash)
                } else {
                    views.erased_events.get(&input.event_hash)
                };
                InputEntry {
                    cited_by: citations
                        .iter()
                        .filter_map(|(citer, c)| match citer {
                            Citer::Recommendation(id) => Some(CitedBy {
                                event_hash: c.event_hash,
                                log_index: c.log_index,
                                note: c.note.clone(),
                                recommendation_id: id.clone(),
                                text_hash: c.text_hash,
                            }),
                            Citer::Response(_) => None,
                        })
                        .collect(),
                    considered_in: citations
                        .iter()
                        .filter_map(|(citer, c)| match citer {
                            Citer::Response(adoption) => Some(ConsideredIn {
                                event_hash: c.event_hash,
                                log_index: c.log_index,
                                note: c.note.clone(),
                                recommendation_id: views.adopted_id(adoption).cloned(),
                            }),
                            Citer::Recommendation(_) => None,
                        })
                        .collect(),
                    content_hash: (!input.sealed).then_some(input.content_hash),
                    erased_on: erasure.map(|e| IsoDate(e.erased_on)),
                    erasure_reason: erasure.map(|e| e.legal_basis.clone()),
                    event_hash: input.event_hash,
                    kind: input.kind,
                    log_index: input.log_index,
                    outcomes: Self::outcomes(views, citations),
                    sealed_commitment: input.sealed.then_some(input.content_hash),
                }
            })
            .collect();
        Some(self.view(ViewName::InputTrace, assembly_id, InputTrace { inputs }))
    }

    /// What became of the recommendations that cited an input (or whose responses did).
    fn outcomes(views: &AssemblyViews, citations: &[(Citer, CitationRecord)]) -> Vec<Outcome> {
        let ids: BTreeSet<&String> = citations
            .iter()
            .filter_map(|(citer, _)| match citer {
                Citer::Recommendation(id) => Some(id),
                Citer::Response(adoption) => views.adopted_id(adoption),
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                let r = views.recommendations.get(id)?;
                let adoption = r.adoption.as_ref().map(|(_, _, hash, _)| *hash);
                let response = adoption.and_then(|hash| views.responses.get(&hash));
                Some(Outcome {
                    adoption_event_hash: adoption,
                    implementation: views.updates(response),
                    recommendation_id: id.clone(),
                    response: response.map(|response| views.answer(response.current())),
                    status: r.status,
                })
            })
            .collect()
    }

    /// `response-trace`: for each response, by recommendation id, what it answers and cites.
    pub fn response_trace(&self, assembly_id: &AssemblyId) -> Option<View<ResponseTrace>> {
        let views = self.assemblies.get(assembly_id)?;
        let kinds = views.cited_input_kinds();
        let citation = |c: &CitationRecord| Citation {
            event_hash: c.event_hash,
            input_event_hash: c.input_event_hash,
            kind: kinds.get(&c.input_event_hash).copied(),
            log_index: c.log_index,
            note: c.note.clone(),
        };
        let responses = views
            .recommendations
            .iter()
            .filter_map(|(id, r)| {
                let (adopted, log_index, hash, _) = r.adoption.as_ref()?;
                let response = views.responses.get(hash)?;
                Some(ResponseTraceEntry {
                    adoption: TraceAdoption {
                        event_hash: *hash,
                        final_text_hash: adopted.final_text_hash,
                        log_index: *log_index,
                    },
                    considered: views
                        .response_citations
                        .get(hash)
                        .map_or_else(Vec::new, |cs| cs.iter().map(citation).collect()),
                    letters: views.response_letters.get(hash).map_or_else(Vec::new, |ls| {
                        ls.iter()
                            .map(|(letter, at, event)| Letter {
                                event_hash: *event,
                                letter_hash: *letter,
                                log_index: *at,
                            })
                            .collect()
                    }),
                    recommendation_cited: views.recommendation_citations.get(id).map_or_else(Vec::new, |cs| {
                        cs.iter()
                            .map(|c| RecommendationCitation {
                                event_hash: c.event_hash,
                                input_event_hash: c.input_event_hash,
                                kind: kinds.get(&c.input_event_hash).copied(),
                                log_index: c.log_index,
                                note: c.note.clone(),
                                text_hash: c.text_hash,
                            })
                            .collect()
                    }),
                    recommendation_id: id.clone(),
                    response: views.response_record(response),
                    title: r.title.clone(),
                })
            })
            .collect();
        Some(self.view(ViewName::ResponseTrace, assembly_id, ResponseTrace { responses }))
    }
}

/// A view's canonical JSON (FORMAT.md §7): its types declare their fields in key order, and
/// `serde_json` escapes strings as the format asks.
fn canonical<B: serde::Serialize>(view: &View<B>) -> String {
    serde_json::to_string(view).expect("a view always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A serialised value whose keys were re-sorted, as a reader that sorts them would see it.
    fn resorted(json: &str) -> String {
        serde_json::from_str::<serde_json::Value>(json).expect("JSON").to_string()
    }

    #[test]
    fn every_view_type_declares_its_keys_in_canonical_order() {
        let hash = Hash256::of(b"x");
        let date = IsoDate(Date(20_000));
        let answer = Answer {
            decision: Decision::AcceptedInPart,
            due_on: date,
            event_hash: hash,
            log_index: 1,
            rationale: PersonalTextView::Sealed {
                erased_on: Some(date),
                erasure_reason: Some("request".into()),
                sealed_commitment: hash,
            },
            reason_for_amendment: Some("changed".into()),
            recorded_at_unix_ms: 2,
            responsible_body: "b".into(),
        };
        let update = ImplementationUpdate {
            event_hash: hash,
            evidence_hash: Some(hash),
            log_index: 3,
            note: PersonalTextView::Plain("n".into()),
            progress_percent: 4,
            recorded_at_unix_ms: 5,
            status: ImplementationStatus::InProgress,
        };
        let response = ResponseRecord { current: answer.clone(), history: vec![answer.clone()], late: true };
        let samples: Vec<String> = vec![
            serde_json::to_string(&View {
                as_of_unix_ms: 1,
                assembly_id: "a".into(),
                body: AssemblyOverview {
                    adoption_threshold_percent: 1,
                    area: "a".into(),
                    convened_log_index: 0,
                    council: "c".into(),
                    counts: OverviewCounts { adopted: 1, recommendations: 2, responses: 3, seated: 4, sessions: 5 },
                    ends_on: date,
                    panel_size: 2,
                    remit_question: "q".into(),
                    response_deadline_days: 3,
                    starts_on: date,
                    status: MilestoneKind::PanelDrawn,
                    timeline: vec![Milestone { log_index: 0, recorded_at_unix_ms: 1, what: MilestoneKind::Convened }],
                },
                tree_size: 2,
                version: 1,
                view: "assembly-overview".into(),
            })
            .unwrap(),
            serde_json::to_string(&Panel {
                panel_size: 1,
                pool_size: 2,
                quotas: vec![QuotaSeats {
                    feature: "f".into(),
                    max: 2,
                    min: 1,
                    seated: 1,
                    value: "v".into(),
                    within_quota: true,
                }],
                replacements: 0,
                seated: 1,
                withdrawals: 0,
            })
            .unwrap(),
            serde_json::to_string(&DeliberationRecord {
                public_submissions: PublicSubmissionCounts {
                    by_day: vec![SubmissionsOnDay { count: 1, received_on: date }],
                    total: 1,
                },
                sessions: vec![SessionEntry {
                    agenda: "a".into(),
                    attendance_count: 1,
                    evidence: vec![EvidenceEntry {
                        content_hash: hash,
                        event_hash: hash,
                        log_index: 1,
                        media_type: "text/plain".into(),
                        speaker_role: "s".into(),
                        title: PersonalTextView::Plain("t".into()),
                    }],
                    held_on: date,
                    log_index: 1,
                    session_number: 1,
                }],
            })
            .unwrap(),
            serde_json::to_string(&Recommendations {
                final_report: Some(FinalReport { content_hash: hash, log_index: 1 }),
                recommendations: vec![RecommendationEntry {
                    adoption: Some(AdoptionVote {
                        abstaining: 1,
                        against: 2,
                        event_hash: hash,
                        final_text_hash: hash,
                        in_favour: 3,
                        log_index: 4,
                        recorded_at_unix_ms: 5,
                    }),
                    amendments: vec![Amendment { log_index: 1, reason: "r".into(), text_hash: hash }],
                    current_text_hash: hash,
                    drafted: Drafted { log_index: 1, text_hash: hash },
                    recommendation_id: "R1".into(),
                    status: RecommendationStatus::Adopted,
                    title: "t".into(),
                    votes: vec![Vote { abstaining: 1, against: 2, in_favour: 3, log_index: 4 }],
                    withdrawn_reason: None,
                }],
            })
            .unwrap(),
            serde_json::to_string(&Accountability {
                adopted_recommendations: vec![AdoptedRecommendation {
                    adoption: AdoptionRef {
                        event_hash: hash,
                        final_text_hash: hash,
                        log_index: 1,
                        recorded_at_unix_ms: 2,
                    },
                    implementation: vec![update.clone()],
                    recommendation_id: "R1".into(),
                    response: Some(response.clone()),
                    response_due_by_unix_ms: 3,
                    state: ResponseState::NoResponseYet,
                    title: "t".into(),
                }],
            })
            .unwrap(),
            serde_json::to_string(&InputTrace {
                inputs: vec![InputEntry {
                    cited_by: vec![CitedBy {
                        event_hash: hash,
                        log_index: 1,
                        note: "n".into(),
                        recommendation_id: "R1".into(),
                        text_hash: Some(hash),
                    }],
                    considered_in: vec![ConsideredIn {
                        event_hash: hash,
                        log_index: 2,
                        note: "n".into(),
                        recommendation_id: Some("R1".into()),
                    }],
                    content_hash: None,
                    erased_on: Some(date),
                    erasure_reason: Some("r".into()),
                    event_hash: hash,
                    kind: InputKind::PublicSubmission,
                    log_index: 0,
                    outcomes: vec![Outcome {
                        adoption_event_hash: Some(hash),
                        implementation: vec![update],
                        recommendation_id: "R1".into(),
                        response: Some(answer),
                        status: RecommendationStatus::Withdrawn,
                    }],
                    sealed_commitment: Some(hash),
                }],
            })
            .unwrap(),
            serde_json::to_string(&ResponseTrace {
                responses: vec![ResponseTraceEntry {
                    adoption: TraceAdoption { event_hash: hash, final_text_hash: hash, log_index: 1 },
                    considered: vec![Citation {
                        event_hash: hash,
                        input_event_hash: hash,
                        kind: Some(InputKind::Evidence),
                        log_index: 1,
                        note: "n".into(),
                    }],
                    letters: vec![Letter { event_hash: hash, letter_hash: hash, log_index: 1 }],
                    recommendation_cited: vec![RecommendationCitation {
                        event_hash: hash,
                        input_event_hash: hash,
                        kind: None,
                        log_index: 1,
                        note: "n".into(),
                        text_hash: Some(hash),
                    }],
                    recommendation_id: "R1".into(),
                    response,
                    title: "t".into(),
                }],
            })
            .unwrap(),
        ];
        for json in samples {
            assert_eq!(json, resorted(&json), "keys out of canonical order");
        }
    }

    #[test]
    fn the_words_of_the_views_are_the_domains_names() {
        for decision in
            [Decision::Accepted, Decision::AcceptedInPart, Decision::NotAccepted, Decision::ReferredForFurtherStudy]
        {
            assert_eq!(serde_json::to_value(decision).unwrap(), decision.as_str());
        }
        for kind in [InputKind::Evidence, InputKind::PublicSubmission] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
