//! What the views keep of each assembly between events: sessions, inputs, citations,
//! recommendations and responses, as the fold leaves them (FORMAT.md §7).

use super::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Session {
    pub(crate) held: SessionHeld,
    pub(crate) log_index: u64,
    pub(crate) evidence: Vec<(EvidencePresented, u64, Hash256)>,
}

/// Who cited an input: a recommendation (by id) or a response (by the adoption it answers).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Citer {
    Recommendation(String),
    Response(Hash256),
}

/// One citation, where it was recorded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CitationRecord {
    pub(crate) input_event_hash: Hash256,
    pub(crate) note: String,
    /// The recommendation text cited for; `None` for a response's citation.
    pub(crate) text_hash: Option<Hash256>,
    pub(crate) log_index: u64,
    pub(crate) event_hash: Hash256,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Recommendation {
    pub(crate) title: String,
    pub(crate) status: RecommendationStatus,
    pub(crate) drafted_text_hash: Hash256,
    pub(crate) drafted_log_index: u64,
    pub(crate) text_hash: Hash256,
    pub(crate) amendments: Vec<Amendment>,
    pub(crate) votes: Vec<Vote>,
    pub(crate) withdrawn_reason: Option<String>,
    /// The adoption, its log index, event hash and recording time.
    pub(crate) adoption: Option<(RecommendationAdopted, u64, Hash256, u64)>,
}

/// Free text as the fold keeps it: the text, or a sealed field's commitment (never its
/// plaintext, so every rebuild gives the same bytes, keys or no keys).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum KeptText {
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
pub(crate) struct KeptAnswer {
    pub(crate) decision: Decision,
    pub(crate) rationale: KeptText,
    pub(crate) responsible_body: String,
    pub(crate) due_on: Date,
    pub(crate) reason_for_amendment: Option<String>,
    pub(crate) event_hash: Hash256,
    pub(crate) log_index: u64,
    pub(crate) recorded_at_unix_ms: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeptUpdate {
    pub(crate) status: ImplementationStatus,
    pub(crate) progress_percent: u32,
    pub(crate) note: KeptText,
    pub(crate) evidence_hash: Option<Hash256>,
    pub(crate) event_hash: Hash256,
    pub(crate) log_index: u64,
    pub(crate) recorded_at_unix_ms: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Response {
    pub(crate) history: Vec<KeptAnswer>,
    pub(crate) late: bool,
    pub(crate) updates: Vec<KeptUpdate>,
}

impl Response {
    pub(crate) fn current(&self) -> &KeptAnswer {
        self.history.last().expect("a response has its issued answer")
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct AssemblyViews {
    pub(crate) convened: AssemblyConvened,
    pub(crate) convened_log_index: u64,
    pub(crate) timeline: Vec<Milestone>,
    pub(crate) quotas: Vec<Quota>,
    /// The relaxed quotas and why (FORMAT.md §9.2), when the officer relaxed any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) relaxation: Option<klero_domain::events::QuotasRelaxed>,
    pub(crate) pool: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) seated: BTreeSet<String>,
    pub(crate) withdrawals: u64,
    pub(crate) replacements: u64,
    pub(crate) sessions: Vec<Session>,
    pub(crate) submissions_by_day: BTreeMap<Date, u64>,
    pub(crate) recommendations: BTreeMap<String, Recommendation>,
    pub(crate) adopted_by_hash: HashMap<Hash256, String>,
    pub(crate) final_report: Option<(Hash256, u64)>,
    pub(crate) responses: HashMap<Hash256, Response>,
    /// Input event hash → what cited it, in log order. Only cited inputs are here.
    pub(crate) input_citations: HashMap<Hash256, Vec<(Citer, CitationRecord)>>,
    /// Recommendation id → its citations, in log order.
    pub(crate) recommendation_citations: HashMap<String, Vec<CitationRecord>>,
    /// Adoption event hash → the response's citations, in log order.
    pub(crate) response_citations: HashMap<Hash256, Vec<CitationRecord>>,
    /// Adoption event hash → (letter hash, log index, event hash) of each response letter.
    pub(crate) response_letters: HashMap<Hash256, Vec<(Hash256, u64, Hash256)>>,
    /// Event hash → the commitments of its sealed fields, for events that hold any.
    pub(crate) sealed_commitments: HashMap<Hash256, Vec<Hash256>>,
    /// Event hash → the erasure of its personal content.
    pub(crate) erased_events: HashMap<Hash256, ViewErasure>,
    /// Sealed commitment → the erasure of the event that holds it.
    pub(crate) erased_commitments: HashMap<Hash256, ViewErasure>,
    /// Calls for residents' submissions, by id.
    #[serde(default)]
    pub(crate) calls: BTreeMap<String, CallKept>,
    /// Residents' own submissions, by event hash: their call, path and moderation.
    #[serde(default)]
    pub(crate) resident: HashMap<Hash256, ResidentKept>,
}

/// A call, as the views keep it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CallKept {
    pub(crate) opened: CallOpened,
    pub(crate) log_index: u64,
    /// (log index, reason) of the `CallClosed`.
    pub(crate) closed: Option<(u64, String)>,
}

/// A resident's submission, as the views keep it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ResidentKept {
    pub(crate) call_id: String,
    pub(crate) path: SubmissionPath,
    /// (decision, reason, log index), in log order.
    pub(crate) decisions: Vec<(ModerationDecision, Option<String>, u64)>,
    pub(crate) appealed_log_index: Option<u64>,
}

impl ResidentKept {
    /// "pending", "published" or "withheld": its latest decision.
    pub(crate) fn state(&self) -> &'static str {
        match self.decisions.last() {
            None => "pending",
            Some((ModerationDecision::Publish, _, _)) => "published",
            Some((ModerationDecision::Withhold, _, _)) => "withheld",
        }
    }
}

/// How an erasure shows in the views.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ViewErasure {
    pub(crate) erased_on: Date,
    pub(crate) legal_basis: String,
}

impl AssemblyViews {
    pub(crate) fn new(convened: &AssemblyConvened, record: &Recorded<'_>) -> AssemblyViews {
        AssemblyViews {
            convened: convened.clone(),
            convened_log_index: record.log_index,
            timeline: vec![milestone(MilestoneKind::Convened, record)],
            quotas: Vec::new(),
            relaxation: None,
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
            input_citations: HashMap::new(),
            recommendation_citations: HashMap::new(),
            response_citations: HashMap::new(),
            response_letters: HashMap::new(),
            sealed_commitments: HashMap::new(),
            erased_events: HashMap::new(),
            erased_commitments: HashMap::new(),
            calls: BTreeMap::new(),
            resident: HashMap::new(),
        }
    }

    /// The recommendation id an adoption event hash names, if any.
    pub(crate) fn adopted_id(&self, adoption: &Hash256) -> Option<&String> {
        self.adopted_by_hash.get(adoption)
    }

    /// Free text as a view shows it: an erased sealed field gains its erasure (FORMAT.md §7;
    /// the only change an erasure makes to a view).
    pub(crate) fn personal(&self, text: &KeptText) -> PersonalTextView {
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

    pub(crate) fn answer(&self, kept: &KeptAnswer) -> Answer {
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

    pub(crate) fn update(&self, kept: &KeptUpdate) -> ImplementationUpdate {
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

    pub(crate) fn response_record(&self, response: &Response) -> ResponseRecord {
        ResponseRecord {
            current: self.answer(response.current()),
            history: response.history.iter().map(|answer| self.answer(answer)).collect(),
            late: response.late,
        }
    }

    pub(crate) fn updates(&self, response: Option<&Response>) -> Vec<ImplementationUpdate> {
        response.map_or_else(Vec::new, |response| response.updates.iter().map(|u| self.update(u)).collect())
    }
}

pub(crate) fn milestone(what: MilestoneKind, record: &Recorded<'_>) -> Milestone {
    Milestone { log_index: record.log_index, recorded_at_unix_ms: record.recorded_at_unix_ms, what }
}
