//! What the rules keep of each assembly, stage by stage: the state `decide` reads and `evolve`
//! changes. Snapshots serialise it (FORMAT.md §10).

use super::*;

/// The selection stage's state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SelectionState {
    /// The letter lottery's plan, if the assembly invites by letter (FORMAT.md §9.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letters: Option<LettersPlanned>,
    /// Whether the letters' seed has been revealed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub letters_drawn: bool,
    pub plan: Option<SelectionPlanned>,
    /// Pool members by id: their (feature → value) map.
    pub pool: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// The quotas the officer relaxed, if any (FORMAT.md §9.2): from then on they apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relaxation: Option<QuotasRelaxed>,
    /// The household commitment of each pool member who names one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub households: BTreeMap<String, Hash256>,
    /// Seated members.
    pub seated: BTreeSet<String>,
    /// Everyone ever seated, so a replacement is always someone new.
    pub ever_seated: BTreeSet<String>,
    /// The reserve list drawn with the panel, in order (FORMAT.md §9, step 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserves: Vec<String>,
    /// Members who withdrew and have not been replaced yet.
    pub awaiting_replacement: BTreeSet<String>,
    pub panel_drawn: bool,
    pub withdrawals: u32,
    /// The pool as a selection instance (types of interchangeable volunteers).
    pub instance: Option<klero_draw::Instance>,
    /// The published lottery, if the plan uses one.
    pub lottery: Option<klero_draw::PublishedLottery>,
    /// The seed revealed by the draw.
    pub seed: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RecommendationStatus {
    Drafted,
    Withdrawn,
    Adopted,
}

impl RecommendationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendationStatus::Drafted => "drafted",
            RecommendationStatus::Withdrawn => "withdrawn",
            RecommendationStatus::Adopted => "adopted",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RecommendationState {
    pub status: RecommendationStatus,
    pub title: String,
    pub text_hash: Hash256,
    pub amendments: u32,
    /// The last vote since the last draft or amendment.
    pub last_vote: Option<Tally>,
    pub adopted_event_hash: Option<Hash256>,
    pub adopted_at_unix_ms: Option<u64>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ResponseState {
    pub recommendation_id: String,
    pub decision: Decision,
    pub late: bool,
    pub amendments: u32,
    pub implementation_updates: u32,
}

/// One assembly's state, folded from its events.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AssemblyState {
    pub convened: AssemblyConvened,
    pub selection: SelectionState,
    pub sessions_held: u32,
    pub evidence_presented: u32,
    pub public_submissions: u32,
    pub recommendations: BTreeMap<String, RecommendationState>,
    /// Adoption event hash → recommendation id.
    pub adopted_by_hash: HashMap<Hash256, String>,
    /// Responses by the adoption event hash they answer.
    pub responses: HashMap<Hash256, ResponseState>,
    pub final_report: Option<Hash256>,
    /// How many days personal text is kept, once a `PersonalDataRetentionSet` says so.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// The erasures of the assembly's personal content, by the event hash of what was erased
    /// (the events that hold such content are rows of `DomainState`'s tables).
    #[serde(default)]
    pub erasures: HashMap<Hash256, Erasure>,
    /// Calls for residents' submissions, by id.
    #[serde(default)]
    pub calls: BTreeMap<String, CallState>,
    /// Residents' own submissions, by event hash, with their moderation.
    #[serde(default)]
    pub resident_submissions: HashMap<Hash256, ResidentSubmissionState>,
}

/// An event that holds personal content a `ContentErased` can erase.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonalItem {
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
    pub erasure: Option<Erasure>,
}

/// When and why personal content was erased.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Erasure {
    pub erased_on: Date,
    pub legal_basis: String,
    /// Log index of the `ContentErased` event.
    pub log_index: u64,
}

impl AssemblyState {
    /// When the erasure of an item recorded at `recorded_at_unix_ms` falls due, under the
    /// assembly's retention period; `None` with no period set. The one definition.
    pub fn erasure_due_at_unix_ms(&self, recorded_at_unix_ms: u64) -> Option<u64> {
        self.retention_days.map(|days| recorded_at_unix_ms.saturating_add(days as u64 * DAY_MS))
    }
}
