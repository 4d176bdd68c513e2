//! Kleroterion's read views: pure folds over recorded events.
//!
//! [`ViewSet::apply`] folds one recorded event in; [`ViewSet::render`] renders a view of one
//! assembly as canonical JSON (docs/FORMAT.md §7) with its SHA-256 digest. Nothing here reads a
//! clock: "now" in a view is the recording time of the last event folded in, so the same log
//! prefix gives the same bytes on any machine.
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

use klero_domain::events::*;
use klero_domain::*;
use klero_ledger::Hash256;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
struct Milestone {
    log_index: u64,
    recorded_at_unix_ms: u64,
    what: String,
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
    status: String,
    drafted_text_hash: Hash256,
    drafted_log_index: u64,
    text_hash: Hash256,
    amendments: Vec<Value>,
    votes: Vec<Value>,
    withdrawn_reason: Option<String>,
    adoption: Option<(RecommendationAdopted, u64, Hash256, u64)>,
}

impl AssemblyViews {
    fn add_input(&mut self, kind: InputKind, content_hash: Hash256, sealed: bool, record: &Recorded<'_>) {
        self.inputs.push(InputRow {
            kind,
            event_hash: record.event_hash,
            log_index: record.log_index,
            content_hash,
            sealed,
        });
    }

    /// Rebuilds what a snapshot does not keep (nothing today; kept so that callers need not
    /// know which tables are derived).
    fn rebuild_indexes(&mut self) {}

    /// The recommendation id an adoption event hash names, if any.
    fn adopted_id(&self, adoption: &Hash256) -> Option<&String> {
        self.adopted_by_hash.get(adoption)
    }

    /// The kind of every cited input: one pass over the inputs, at render time only.
    fn cited_input_kinds(&self) -> HashMap<Hash256, &'static str> {
        self.inputs
            .iter()
            .filter(|input| self.input_citations.contains_key(&input.event_hash))
            .map(|input| (input.event_hash, input.kind.as_str()))
            .collect()
    }
}

impl ViewSet {
    /// `input-trace`: for each input, in log order, what cited it and what became of it. Written
    /// as canonical JSON text directly; an entry's keys in byte order: cited_by,
    /// considered_in, content_hash, event_hash, kind, log_index, outcomes.
    fn input_trace(views: &AssemblyViews) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(32 + views.inputs.len() * 220);
        out.push_str("{\"inputs\":[");
        for (at, input) in views.inputs.iter().enumerate() {
            if at > 0 {
                out.push(',');
            }
            let citations: &[(Citer, CitationRecord)] =
                views.input_citations.get(&input.event_hash).map_or(&[], Vec::as_slice);
            // Most inputs are cited by nothing: their lists are written as `[]` at once.
            let cited = (!citations.is_empty()).then(|| Self::input_citations(views, citations));
            match &cited {
                None => out.push_str("{\"cited_by\":[],\"considered_in\":[],"),
                Some((cited_by, considered_in, _)) => {
                    let _ = write!(out, "{{\"cited_by\":{cited_by},\"considered_in\":{considered_in},");
                }
            }
            if input.sealed {
                out.push_str("\"content_hash\":null");
            } else {
                out.push_str("\"content_hash\":\"");
                klero_ledger::hash::push_hex(&mut out, &input.content_hash.0);
                out.push('"');
                // A sealed submission's erasure is marked on its `sealed_commitment` instead.
                if let Some(erasure) = views.erased_events.get(&input.event_hash) {
                    let _ = write!(
                        out,
                        ",\"erased_on\":\"{}\",\"erasure_reason\":{}",
                        erasure.erased_on,
                        Value::from(erasure.legal_basis.as_str())
                    );
                }
            }
            out.push_str(",\"event_hash\":\"");
            klero_ledger::hash::push_hex(&mut out, &input.event_hash.0);
            out.push_str("\",\"kind\":\"");
            out.push_str(input.kind.as_str());
            out.push_str("\",\"log_index\":");
            let _ = write!(out, "{}", input.log_index);
            out.push_str(",\"outcomes\":");
            match &cited {
                None => out.push_str("[]"),
                Some((_, _, outcomes)) => {
                    let _ = write!(out, "{outcomes}");
                }
            }
            if input.sealed {
                out.push_str(",\"sealed_commitment\":\"");
                klero_ledger::hash::push_hex(&mut out, &input.content_hash.0);
                out.push('"');
            }
            out.push('}');
        }
        out.push_str("]}");
        out
    }

    /// An input's `cited_by`, `considered_in` and `outcomes`, from what cited it.
    fn input_citations(views: &AssemblyViews, citations: &[(Citer, CitationRecord)]) -> (Value, Value, Value) {
        let cited_by: Vec<Value> = citations
            .iter()
            .filter_map(|(citer, c)| match citer {
                Citer::Recommendation(id) => Some(json!({"recommendation_id": id, "note": c.note,
                    "text_hash": c.text_hash.as_ref().map(hex), "log_index": c.log_index,
                    "event_hash": hex(&c.event_hash)})),
                Citer::Response(_) => None,
            })
            .collect();
        let considered_in: Vec<Value> = citations
            .iter()
            .filter_map(|(citer, c)| match citer {
                Citer::Response(adoption) => Some(json!({"recommendation_id": views.adopted_id(adoption),
                    "note": c.note, "log_index": c.log_index, "event_hash": hex(&c.event_hash)})),
                Citer::Recommendation(_) => None,
            })
            .collect();
        let ids: BTreeSet<&String> = citations
            .iter()
            .filter_map(|(citer, _)| match citer {
                Citer::Recommendation(id) => Some(id),
                Citer::Response(adoption) => views.adopted_id(adoption),
            })
            .collect();
        let outcomes: Vec<Value> = ids
            .into_iter()
            .filter_map(|id| {
                let r = views.recommendations.get(id)?;
                let adoption = r.adoption.as_ref().map(|(_, _, hash, _)| *hash);
                let response = adoption.and_then(|hash| views.responses.get(&hash));
                Some(json!({
                    "recommendation_id": id, "status": r.status,
                    "adoption_event_hash": adoption.as_ref().map(hex),
                    "response": response.map(|resp| resp.current.clone()),
                    "implementation": response.map_or_else(Vec::new, |resp| resp.updates.clone()),
                }))
            })
            .collect();
        (Value::Array(cited_by), Value::Array(considered_in), Value::Array(outcomes))
    }

    /// `response-trace`: for each response, by recommendation id, what it answers and cites.
    fn response_trace(views: &AssemblyViews) -> Value {
        let kinds = views.cited_input_kinds();
        let citation = |c: &CitationRecord| {
            json!({"input_event_hash": hex(&c.input_event_hash), "kind": kinds.get(&c.input_event_hash),
                   "note": c.note, "log_index": c.log_index, "event_hash": hex(&c.event_hash)})
        };
        let responses: Vec<Value> = views
            .recommendations
            .iter()
            .filter_map(|(id, r)| {
                let (adopted, log_index, hash, _) = r.adoption.as_ref()?;
                let response = views.responses.get(hash)?;
                let cited: Vec<Value> = views.recommendation_citations.get(id).map_or_else(Vec::new, |cs| {
                    cs.iter()
                        .map(|c| {
                            let mut entry = citation(c);
                            entry["text_hash"] = json!(c.text_hash.as_ref().map(hex));
                            entry
                        })
                        .collect()
                });
                let considered: Vec<Value> =
                    views.response_citations.get(hash).map_or_else(Vec::new, |cs| cs.iter().map(citation).collect());
                let letters: Vec<Value> = views.response_letters.get(hash).map_or_else(Vec::new, |ls| {
                    ls.iter()
                        .map(|(letter, at, event)| json!({"letter_hash": hex(letter), "log_index": at, "event_hash": hex(event)}))
                        .collect()
                });
                Some(json!({
                    "recommendation_id": id, "title": r.title,
                    "adoption": {"event_hash": hex(hash), "log_index": log_index, "final_text_hash": hex(&adopted.final_text_hash)},
                    "recommendation_cited": cited,
                    "response": {"current": response.current, "history": response.history, "late": response.late},
                    "considered": considered,
                    "letters": letters,
                }))
            })
            .collect();
        json!({"responses": responses})
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Response {
    current: Value,
    history: Vec<Value>,
    late: bool,
    updates: Vec<Value>,
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
    #[serde(default)]
    sealed_commitments: HashMap<Hash256, Vec<Hash256>>,
    /// Event hash → the erasure of its personal content.
    #[serde(default)]
    erased_events: HashMap<Hash256, ViewErasure>,
    /// Sealed commitment → the erasure of the event that holds it.
    #[serde(default)]
    erased_commitments: HashMap<Hash256, ViewErasure>,
}

/// How an erasure shows in the views.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ViewErasure {
    erased_on: Date,
    legal_basis: String,
}

/// Free text as a view shows it: the text itself when plain, `{"sealed_commitment": hex}`
/// when sealed (the views never hold sealed text's plaintext, so every rebuild of the log gives
/// the same bytes, keys or no keys; an erasure adds `erased_on` and `erasure_reason` at render
/// time).
fn personal_json(text: &PersonalText) -> Value {
    match text {
        PersonalText::Plain(text) => Value::from(text.as_str()),
        PersonalText::Sealed(sealed) => json!({"sealed_commitment": hex(&sealed.commitment)}),
    }
}

/// Adds `erased_on` and `erasure_reason` to every object whose `sealed_commitment` was erased.
fn mark_erasures(value: &mut Value, erased: &HashMap<Hash256, ViewErasure>) {
    match value {
        Value::Object(map) => {
            let erasure = map
                .get("sealed_commitment")
                .and_then(Value::as_str)
                .and_then(|text| Hash256::from_hex(text).ok())
                .and_then(|commitment| erased.get(&commitment));
            if let Some(erasure) = erasure {
                map.insert("erased_on".into(), Value::from(erasure.erased_on.to_string()));
                map.insert("erasure_reason".into(), Value::from(erasure.legal_basis.as_str()));
            }
            for nested in map.values_mut() {
                mark_erasures(nested, erased);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mark_erasures(item, erased)),
        _ => {}
    }
}

/// Every view of every assembly, as of the events folded in so far.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ViewSet {
    assemblies: BTreeMap<AssemblyId, AssemblyViews>,
    /// Events folded in: the log prefix the views cover.
    tree_size: u64,
    /// Recording time of the last event folded in: the views' "now".
    as_of_unix_ms: u64,
}

fn hex(hash: &Hash256) -> String {
    hash.to_hex()
}

fn decision_name(decision: Decision) -> &'static str {
    decision.as_str()
}

fn status_name(status: ImplementationStatus) -> &'static str {
    match status {
        ImplementationStatus::NotStarted => "not_started",
        ImplementationStatus::InProgress => "in_progress",
        ImplementationStatus::Completed => "completed",
        ImplementationStatus::Stalled => "stalled",
    }
}

impl ViewSet {
    pub fn new() -> ViewSet {
        ViewSet::default()
    }

    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The views' "now": the recording time of the last event folded in (0 before any).
    pub fn as_of_unix_ms(&self) -> u64 {
        self.as_of_unix_ms
    }

    /// Rebuilds the lookups a snapshot does not keep; call after deserialising.
    pub fn rebuild_indexes(&mut self) {
        for views in self.assemblies.values_mut() {
            views.rebuild_indexes();
        }
    }

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
    /// it was late). Events must come in log order, each exactly once.
    pub fn apply(&mut self, event: &DomainEvent, record: Recorded<'_>, acceptance: Acceptance) {
        assert_eq!(record.log_index, self.tree_size, "views fold the log in order, each event once");
        self.tree_size = record.log_index + 1;
        self.as_of_unix_ms = self.as_of_unix_ms.max(record.recorded_at_unix_ms);
        let Some((_, Some(assembly_id))) = StreamKind::parse_stream_str(record.stream) else { return };
        let milestone = |what: &str| Milestone {
            log_index: record.log_index,
            recorded_at_unix_ms: record.recorded_at_unix_ms,
            what: what.to_string(),
        };
        if let DomainEvent::AssemblyConvened(convened) = event {
            self.assemblies.insert(
                convened.assembly_id.clone(),
                AssemblyViews {
                    convened: convened.clone(),
                    convened_log_index: record.log_index,
                    timeline: vec![milestone("convened")],
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
                },
            );
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
                views.timeline.push(milestone("selection_planned"));
            }
            DomainEvent::PoolRegistered(pool) => {
                views.pool =
                    pool.members.iter().map(|m| (m.id.clone(), m.features.iter().cloned().collect())).collect();
                views.timeline.push(milestone("pool_registered"));
            }
            DomainEvent::LotteryPublished(_) => views.timeline.push(milestone("lottery_published")),
            DomainEvent::PanelDrawn(drawn) => {
                views.seated = drawn.member_ids.iter().cloned().collect();
                views.timeline.push(milestone("panel_drawn"));
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
                    views.timeline.push(milestone("first_session_held"));
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
                    views.timeline.push(milestone("first_recommendation_drafted"));
                }
                views.recommendations.insert(
                    draft.recommendation_id.clone(),
                    Recommendation {
                        title: draft.title.clone(),
                        status: "drafted".to_string(),
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
                    r.amendments.push(json!({"text_hash": hex(&amended.text_hash), "reason": amended.reason, "log_index": record.log_index}));
                }
            }
            DomainEvent::RecommendationWithdrawn(withdrawn) => {
                if let Some(r) = views.recommendations.get_mut(&withdrawn.recommendation_id) {
                    r.status = "withdrawn".to_string();
                    r.withdrawn_reason = Some(withdrawn.reason.clone());
                }
            }
            DomainEvent::VoteRecorded(vote) => {
                if let Some(r) = views.recommendations.get_mut(&vote.recommendation_id) {
                    r.votes.push(json!({"in_favour": vote.tally.in_favour, "against": vote.tally.against,
                        "abstaining": vote.tally.abstaining, "log_index": record.log_index}));
                }
            }
            DomainEvent::RecommendationAdopted(adopted) => {
                if let Some(r) = views.recommendations.get_mut(&adopted.recommendation_id) {
                    r.status = "adopted".to_string();
                    r.adoption =
                        Some((adopted.clone(), record.log_index, record.event_hash, record.recorded_at_unix_ms));
                }
                views.adopted_by_hash.insert(record.event_hash, adopted.recommendation_id.clone());
            }
            DomainEvent::FinalReportPublished(report) => {
                views.final_report = Some((report.content_hash, record.log_index));
                views.timeline.push(milestone("final_report_published"));
            }
            DomainEvent::ResponseIssued(issued) => {
                let late = acceptance.late;
                let current = json!({"decision": decision_name(issued.decision), "rationale": personal_json(&issued.rationale),
                    "responsible_body": issued.responsible_body, "due_on": issued.due_on.to_string(),
                    "event_hash": hex(&record.event_hash), "log_index": record.log_index,
                    "recorded_at_unix_ms": record.recorded_at_unix_ms});
                if views.responses.is_empty() {
                    views.timeline.push(milestone("first_response_issued"));
                }
                views.responses.insert(
                    issued.recommendation_event_hash,
                    Response { current: current.clone(), history: vec![current], late, updates: Vec::new() },
                );
            }
            DomainEvent::ResponseAmended(amended) => {
                if let Some(response) = views.responses.get_mut(&amended.recommendation_event_hash) {
                    let current = json!({"decision": decision_name(amended.decision), "rationale": personal_json(&amended.rationale),
                        "responsible_body": amended.responsible_body, "due_on": amended.due_on.to_string(),
                        "reason_for_amendment": amended.reason, "event_hash": hex(&record.event_hash),
                        "log_index": record.log_index, "recorded_at_unix_ms": record.recorded_at_unix_ms});
                    response.history.push(current.clone());
                    response.current = current;
                }
            }
            DomainEvent::ImplementationUpdated(update) => {
                if let Some(response) = views.responses.get_mut(&update.recommendation_event_hash) {
                    response.updates.push(
                        json!({"status": status_name(update.status), "progress_percent": update.progress_percent,
                        "note": personal_json(&update.note), "evidence_hash": update.evidence_hash.as_ref().map(hex),
                        "event_hash": hex(&record.event_hash), "log_index": record.log_index,
                        "recorded_at_unix_ms": record.recorded_at_unix_ms}),
                    );
                }
            }
        }
    }

    /// Renders one view of one assembly; `None` if the assembly is not convened.
    pub fn render(&self, name: ViewName, assembly_id: &AssemblyId) -> Option<RenderedView> {
        let views = self.assemblies.get(assembly_id)?;
        // serde_json's maps are ordered by key, so a `Value`'s text is the canonical form: sorted
        // keys, no whitespace, integers only. `input-trace` has a row per input, so it writes its
        // text directly rather than build a tree of millions of maps.
        let body = match name {
            ViewName::AssemblyOverview => self.overview(views).to_string(),
            ViewName::Panel => Self::panel(views).to_string(),
            ViewName::DeliberationRecord => Self::deliberation(views).to_string(),
            ViewName::Recommendations => Self::recommendations(views).to_string(),
            ViewName::Accountability => self.accountability(views).to_string(),
            ViewName::InputTrace => Self::input_trace(views),
            ViewName::ResponseTrace => Self::response_trace(views).to_string(),
        };
        let body = if views.erased_commitments.is_empty() {
            body
        } else {
            let mut tree: Value = serde_json::from_str(&body).expect("a view's body is JSON");
            mark_erasures(&mut tree, &views.erased_commitments);
            tree.to_string()
        };
        // The envelope's keys in canonical (byte) order.
        let json = format!(
            "{{\"as_of_unix_ms\":{},\"assembly_id\":{},\"body\":{body},\"tree_size\":{},\"version\":{},\"view\":{}}}",
            self.as_of_unix_ms,
            Value::from(assembly_id.as_str()),
            self.tree_size,
            name.version(),
            Value::from(name.as_str()),
        );
        let digest = Hash256::of(json.as_bytes());
        Some(RenderedView { name, assembly_id: assembly_id.clone(), json, digest, tree_size: self.tree_size })
    }

    fn overview(&self, views: &AssemblyViews) -> Value {
        let c = &views.convened;
        let status = views.timeline.last().map_or("convened", |m| m.what.as_str());
        json!({
            "council": c.council, "remit_question": c.remit_question, "area": c.area,
            "starts_on": c.starts_on.to_string(), "ends_on": c.ends_on.to_string(),
            "panel_size": c.panel_size, "adoption_threshold_percent": c.adoption_threshold_percent,
            "response_deadline_days": c.response_deadline_days, "convened_log_index": views.convened_log_index,
            "status": status,
            "timeline": views.timeline.iter().map(|m| json!({"what": m.what, "log_index": m.log_index, "recorded_at_unix_ms": m.recorded_at_unix_ms})).collect::<Vec<_>>(),
            "counts": {
                "seated": views.seated.len(), "sessions": views.sessions.len(),
                "recommendations": views.recommendations.len(),
                "adopted": views.adopted_by_hash.len(), "responses": views.responses.len(),
            },
        })
    }

    fn panel(views: &AssemblyViews) -> Value {
        let mut seated_counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for id in &views.seated {
            if let Some(features) = views.pool.get(id) {
                for (feature, value) in features {
                    *seated_counts.entry((feature, value)).or_insert(0) += 1;
                }
            }
        }
        let quotas: Vec<Value> = views
            .quotas
            .iter()
            .map(|q| {
                let seated = seated_counts.get(&(q.feature.as_str(), q.value.as_str())).copied().unwrap_or(0);
                json!({"feature": q.feature, "value": q.value, "min": q.min, "max": q.max, "seated": seated,
                       "within_quota": (q.min as u64..=q.max as u64).contains(&seated)})
            })
            .collect();
        json!({
            "panel_size": views.convened.panel_size, "pool_size": views.pool.len(), "seated": views.seated.len(),
            "withdrawals": views.withdrawals, "replacements": views.replacements, "quotas": quotas,
        })
    }

    fn deliberation(views: &AssemblyViews) -> Value {
        let sessions: Vec<Value> = views
            .sessions
            .iter()
            .map(|s| {
                json!({"session_number": s.held.session_number, "held_on": s.held.held_on.to_string(), "agenda": s.held.agenda,
                    "attendance_count": s.held.attendance_count, "log_index": s.log_index,
                    "evidence": s.evidence.iter().map(|(e, log_index, hash)| json!({"speaker_role": e.speaker_role, "title": personal_json(&e.title),
                        "content_hash": hex(&e.content_hash), "media_type": e.media_type, "log_index": log_index,
                        "event_hash": hex(hash)})).collect::<Vec<_>>()})
            })
            .collect();
        let by_day: Vec<Value> = views
            .submissions_by_day
            .iter()
            .map(|(day, count)| json!({"received_on": day.to_string(), "count": count}))
            .collect();
        json!({"sessions": sessions, "public_submissions": {"total": views.submissions_by_day.values().sum::<u64>(), "by_day": by_day}})
    }

    fn recommendations(views: &AssemblyViews) -> Value {
        let recommendations: Vec<Value> = views
            .recommendations
            .iter()
            .map(|(id, r)| {
                json!({"recommendation_id": id, "title": r.title, "status": r.status,
                    "drafted": {"text_hash": hex(&r.drafted_text_hash), "log_index": r.drafted_log_index},
                    "current_text_hash": hex(&r.text_hash), "amendments": r.amendments, "votes": r.votes,
                    "withdrawn_reason": r.withdrawn_reason,
                    "adoption": r.adoption.as_ref().map(|(a, log_index, hash, at)| json!({"final_text_hash": hex(&a.final_text_hash),
                        "in_favour": a.tally.in_favour, "against": a.tally.against, "abstaining": a.tally.abstaining,
                        "event_hash": hex(hash), "log_index": log_index, "recorded_at_unix_ms": at}))})
            })
            .collect();
        json!({"recommendations": recommendations,
            "final_report": views.final_report.as_ref().map(|(hash, log_index)| json!({"content_hash": hex(hash), "log_index": log_index}))})
    }

    fn accountability(&self, views: &AssemblyViews) -> Value {
        let tracked: Vec<Value> = views
            .recommendations
            .iter()
            .filter_map(|(id, r)| {
                let (adopted, log_index, hash, at) = r.adoption.as_ref()?;
                let deadline = response_due_by_unix_ms(*at, views.convened.response_deadline_days);
                let response = views.responses.get(hash);
                let state = match response {
                    Some(_) => "responded",
                    None if self.as_of_unix_ms > deadline => "overdue",
                    None => "no_response_yet",
                };
                Some(json!({
                    "recommendation_id": id, "title": r.title,
                    "adoption": {"event_hash": hex(hash), "log_index": log_index, "recorded_at_unix_ms": at,
                                 "final_text_hash": hex(&adopted.final_text_hash)},
                    "response_due_by_unix_ms": deadline,
                    "state": state,
                    "response": response.map(|resp| json!({"current": resp.current, "history": resp.history, "late": resp.late})),
                    "implementation": response.map_or_else(Vec::new, |resp| resp.updates.clone()),
                }))
            })
            .collect();
        json!({"adopted_recommendations": tracked})
    }
}
