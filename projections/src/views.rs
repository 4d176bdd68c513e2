//! The read views as types (docs/FORMAT.md §7): each view's body is a struct here, and its
//! canonical JSON is that struct's serialisation.
//!
//! Canonical JSON sorts object keys by their bytes, so every struct declares its fields in that
//! order (`serde_json` writes fields in declaration order); the golden vectors and
//! `tests::every_view_serialises_in_canonical_key_order` pin it. Optional keys that FORMAT.md
//! marks *only* (present only for sealed or erased content) skip serialising when absent; every
//! other optional value is written as `null`. Free-form words of the format (a status, a
//! decision, a milestone) are enums, so a renamed one fails to compile instead of showing an
//! empty string.

use klero_domain::{Decision, ImplementationStatus, InputKind};
use klero_ledger::Hash256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A date as FORMAT.md writes it, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoDate(pub klero_domain::Date);

impl Serialize for IsoDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IsoDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<IsoDate, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        klero_domain::Date::parse(&text).map(IsoDate).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for IsoDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Every view: which view, of which assembly, folded from which log prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View<B> {
    /// The recording time of the last event of the prefix: the view's "now".
    pub as_of_unix_ms: u64,
    pub assembly_id: String,
    pub body: B,
    /// The prefix folded: the whole log's first `tree_size` events.
    pub tree_size: u64,
    pub version: u32,
    pub view: String,
}

/// Free text that may hold personal data (FORMAT.md §14): the text when the event holds it
/// plain, or the sealed field's commitment, with the erasure once a `ContentErased` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PersonalTextView {
    Plain(String),
    Sealed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        erased_on: Option<IsoDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        erasure_reason: Option<String>,
        sealed_commitment: Hash256,
    },
}

impl PersonalTextView {
    /// The erasure of sealed text, if it was erased.
    pub fn erasure(&self) -> Option<(IsoDate, &str)> {
        match self {
            PersonalTextView::Sealed { erased_on: Some(on), erasure_reason, .. } => {
                Some((*on, erasure_reason.as_deref().unwrap_or_default()))
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- assembly-overview

/// What moved an assembly on: the `what` of a timeline entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    Convened,
    SelectionPlanned,
    PoolRegistered,
    LotteryPublished,
    PanelDrawn,
    FirstSessionHeld,
    FirstRecommendationDrafted,
    FinalReportPublished,
    FirstResponseIssued,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
    pub what: MilestoneKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewCounts {
    pub adopted: u64,
    pub recommendations: u64,
    pub responses: u64,
    pub seated: u64,
    pub sessions: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssemblyOverview {
    pub adoption_threshold_percent: u32,
    pub area: String,
    pub convened_log_index: u64,
    pub council: String,
    pub counts: OverviewCounts,
    pub ends_on: IsoDate,
    pub panel_size: u32,
    pub remit_question: String,
    pub response_deadline_days: u32,
    pub starts_on: IsoDate,
    /// The `what` of the last milestone.
    pub status: MilestoneKind,
    pub timeline: Vec<Milestone>,
}

// ---------------------------------------------------------------- panel

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSeats {
    pub feature: String,
    pub max: u32,
    pub min: u32,
    /// When the quota was relaxed (FORMAT.md §9.2): its planned bounds; `max` and `min` are then
    /// the relaxed ones, which apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_min: Option<u32>,
    /// Seated members whose pool record has this value.
    pub seated: u64,
    pub value: String,
    pub within_quota: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panel {
    pub panel_size: u32,
    pub pool_size: u64,
    pub quotas: Vec<QuotaSeats>,
    /// Why the quotas were relaxed, when they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relaxation_reason: Option<String>,
    pub replacements: u64,
    pub seated: u64,
    pub withdrawals: u64,
}

// ---------------------------------------------------------------- deliberation-record

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    pub content_hash: Hash256,
    pub event_hash: Hash256,
    pub log_index: u64,
    pub media_type: String,
    pub speaker_role: String,
    pub title: PersonalTextView,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    pub agenda: String,
    pub attendance_count: u32,
    pub evidence: Vec<EvidenceEntry>,
    pub held_on: IsoDate,
    pub log_index: u64,
    pub session_number: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionsOnDay {
    pub count: u64,
    pub received_on: IsoDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicSubmissionCounts {
    pub by_day: Vec<SubmissionsOnDay>,
    pub total: u64,
}

/// A call for residents' submissions, with its moderation counted by outcome and by reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEntry {
    /// Appeals recorded against withholdings.
    pub appeals: u64,
    pub call_id: String,
    /// When a facilitator closed it before its last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<CallClosedEntry>,
    pub closes_on: IsoDate,
    pub consent_hash: Hash256,
    pub log_index: u64,
    pub moderation_policy_hash: Hash256,
    pub names_asked: bool,
    pub one_per_key: bool,
    pub opens_on: IsoDate,
    /// The proof of work each browser's submission carries, in bits; absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proof_of_work_bits: u32,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    pub retention_days: u32,
    pub submissions: CallCounts,
    pub text_bytes_max: u32,
    /// Submissions withheld now, by reason code (every code of the call, 0 included).
    pub withheld_by_reason: BTreeMap<String, u64>,
    pub withhold_reasons: Vec<String>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallClosedEntry {
    pub log_index: u64,
    pub reason: String,
}

/// A call's submissions by where moderation left them: their latest decision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    pub by_browser: u64,
    pub by_web_form: u64,
    pub pending: u64,
    pub published: u64,
    pub received: u64,
    pub withheld: u64,
}

/// A resident's submission's moderation, in its input-trace entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appealed_log_index: Option<u64>,
    pub decisions: Vec<ModerationDecisionEntry>,
    /// "pending", "published" or "withheld": the latest decision.
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationDecisionEntry {
    /// "publish" or "withhold".
    pub decision: String,
    pub log_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliberationRecord {
    /// Calls for residents' submissions, by id; absent when the assembly has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallEntry>,
    pub public_submissions: PublicSubmissionCounts,
    pub sessions: Vec<SessionEntry>,
}

// ---------------------------------------------------------------- recommendations

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationStatus {
    Drafted,
    Withdrawn,
    Adopted,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drafted {
    pub log_index: u64,
    pub text_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    pub log_index: u64,
    pub reason: String,
    pub text_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub abstaining: u32,
    pub against: u32,
    pub in_favour: u32,
    pub log_index: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptionVote {
    pub abstaining: u32,
    pub against: u32,
    pub event_hash: Hash256,
    pub final_text_hash: Hash256,
    pub in_favour: u32,
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecommendationEntry {
    pub adoption: Option<AdoptionVote>,
    pub amendments: Vec<Amendment>,
    /// The last amendment's text, else the draft's.
    pub current_text_hash: Hash256,
    pub drafted: Drafted,
    pub recommendation_id: String,
    pub status: RecommendationStatus,
    pub title: String,
    pub votes: Vec<Vote>,
    pub withdrawn_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalReport {
    pub content_hash: Hash256,
    pub log_index: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendations {
    pub final_report: Option<FinalReport>,
    /// Sorted by `recommendation_id`, by its UTF-8 bytes.
    pub recommendations: Vec<RecommendationEntry>,
}

// ---------------------------------------------------------------- accountability

/// The council's answer: from a `ResponseIssued`, or a `ResponseAmended` (which adds its
/// reason).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub decision: Decision,
    pub due_on: IsoDate,
    pub event_hash: Hash256,
    pub log_index: u64,
    pub rationale: PersonalTextView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_for_amendment: Option<String>,
    pub recorded_at_unix_ms: u64,
    pub responsible_body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplementationUpdate {
    pub event_hash: Hash256,
    pub evidence_hash: Option<Hash256>,
    pub log_index: u64,
    pub note: PersonalTextView,
    pub progress_percent: u32,
    pub recorded_at_unix_ms: u64,
    pub status: ImplementationStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// The last element of `history`.
    pub current: Answer,
    pub history: Vec<Answer>,
    /// The `ResponseIssued` was recorded after the deadline.
    pub late: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseState {
    Responded,
    NoResponseYet,
    Overdue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptionRef {
    pub event_hash: Hash256,
    pub final_text_hash: Hash256,
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptedRecommendation {
    pub adoption: AdoptionRef,
    pub implementation: Vec<ImplementationUpdate>,
    pub recommendation_id: String,
    pub response: Option<ResponseRecord>,
    /// The adoption's recording time plus the deadline's days.
    pub response_due_by_unix_ms: u64,
    pub state: ResponseState,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accountability {
    pub adopted_recommendations: Vec<AdoptedRecommendation>,
}

// ---------------------------------------------------------------- input-trace

/// A recommendation's citation of an input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitedBy {
    /// The citing event's.
    pub event_hash: Hash256,
    pub log_index: u64,
    pub note: String,
    pub recommendation_id: String,
    /// The recommendation text the citation is for.
    pub text_hash: Option<Hash256>,
}

/// A response's citation of an input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsideredIn {
    pub event_hash: Hash256,
    pub log_index: u64,
    pub note: String,
    /// The recommendation whose adoption the response answers.
    pub recommendation_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub adoption_event_hash: Option<Hash256>,
    pub implementation: Vec<ImplementationUpdate>,
    pub recommendation_id: String,
    pub response: Option<Answer>,
    pub status: RecommendationStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    /// A resident's own submission: the call it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    pub cited_by: Vec<CitedBy>,
    pub considered_in: Vec<ConsideredIn>,
    /// The document's SHA-256; `None` for a sealed public submission.
    pub content_hash: Option<Hash256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_on: Option<IsoDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_reason: Option<String>,
    pub event_hash: Hash256,
    pub kind: InputKind,
    pub log_index: u64,
    /// A resident's own submission: its moderation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<ModerationEntry>,
    pub outcomes: Vec<Outcome>,
    /// A resident's own submission: "browser" or "web_form".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only for a sealed public submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_commitment: Option<Hash256>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTrace {
    pub inputs: Vec<InputEntry>,
}

// ---------------------------------------------------------------- response-trace

/// A response's citation of an input (`considered`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The citing event's.
    pub event_hash: Hash256,
    pub input_event_hash: Hash256,
    /// `None` if the cited event is not an input of the assembly.
    pub kind: Option<InputKind>,
    pub log_index: u64,
    pub note: String,
}

/// A recommendation's citation of an input (`recommendation_cited`): a citation, and the
/// recommendation text it is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecommendationCitation {
    pub event_hash: Hash256,
    pub input_event_hash: Hash256,
    pub kind: Option<InputKind>,
    pub log_index: u64,
    pub note: String,
    pub text_hash: Option<Hash256>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceAdoption {
    pub event_hash: Hash256,
    pub final_text_hash: Hash256,
    pub log_index: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    pub event_hash: Hash256,
    pub letter_hash: Hash256,
    pub log_index: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTraceEntry {
    pub adoption: TraceAdoption,
    pub considered: Vec<Citation>,
    pub letters: Vec<Letter>,
    pub recommendation_cited: Vec<RecommendationCitation>,
    pub recommendation_id: String,
    pub response: ResponseRecord,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTrace {
    pub responses: Vec<ResponseTraceEntry>,
}

/// Every view of one assembly, as of one log prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblyViewSet {
    pub overview: View<AssemblyOverview>,
    pub panel: View<Panel>,
    pub deliberation: View<DeliberationRecord>,
    pub recommendations: View<Recommendations>,
    pub accountability: View<Accountability>,
    pub input_trace: View<InputTrace>,
    pub response_trace: View<ResponseTrace>,
}
