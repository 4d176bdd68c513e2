//! The event catalogue as domain types. The edge (klero-api's codec) builds these from the
//! protobuf payloads after validating every field, so rules never see a prost type.

use crate::types::*;
use klero_ledger::Hash256;

/// Every event an assembly's record can hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    KeyGranted(KeyGranted),
    KeyRevoked(KeyRevoked),
    AssemblyConvened(AssemblyConvened),
    SelectionPlanned(SelectionPlanned),
    PoolRegistered(PoolRegistered),
    LotteryPublished(LotteryPublished),
    PanelDrawn(PanelDrawn),
    MemberWithdrew(MemberWithdrew),
    ReplacementDrawn(ReplacementDrawn),
    SessionHeld(SessionHeld),
    EvidencePresented(EvidencePresented),
    PublicSubmissionReceived(PublicSubmissionReceived),
    RecommendationDrafted(RecommendationDrafted),
    RecommendationAmended(RecommendationAmended),
    RecommendationWithdrawn(RecommendationWithdrawn),
    VoteRecorded(VoteRecorded),
    RecommendationAdopted(RecommendationAdopted),
    FinalReportPublished(FinalReportPublished),
    ResponseIssued(ResponseIssued),
    ResponseAmended(ResponseAmended),
    ImplementationUpdated(ImplementationUpdated),
}

impl DomainEvent {
    /// The role whose key may author this event; `None` for registry events, which only the
    /// trust root may author.
    pub fn required_role(&self) -> Option<Role> {
        use DomainEvent::*;
        match self {
            KeyGranted(_) | KeyRevoked(_) => None,
            AssemblyConvened(_) => Some(Role::Convenor),
            SelectionPlanned(_) | PoolRegistered(_) | LotteryPublished(_) | PanelDrawn(_) | MemberWithdrew(_)
            | ReplacementDrawn(_) => Some(Role::SelectionOperator),
            SessionHeld(_) | EvidencePresented(_) | PublicSubmissionReceived(_) => Some(Role::Facilitator),
            RecommendationDrafted(_)
            | RecommendationAmended(_)
            | RecommendationWithdrawn(_)
            | VoteRecorded(_)
            | RecommendationAdopted(_)
            | FinalReportPublished(_) => Some(Role::PanelSecretary),
            ResponseIssued(_) | ResponseAmended(_) | ImplementationUpdated(_) => Some(Role::CouncilDecisionMaker),
        }
    }

    /// The stream this event must be appended to.
    pub fn stream_kind(&self) -> StreamKind {
        use DomainEvent::*;
        match self {
            KeyGranted(_) | KeyRevoked(_) => StreamKind::Registry,
            AssemblyConvened(_) => StreamKind::Assembly,
            SelectionPlanned(_) | PoolRegistered(_) | LotteryPublished(_) | PanelDrawn(_) | MemberWithdrew(_)
            | ReplacementDrawn(_) => StreamKind::Selection,
            SessionHeld(_) | EvidencePresented(_) | PublicSubmissionReceived(_) => StreamKind::Deliberation,
            RecommendationDrafted(_)
            | RecommendationAmended(_)
            | RecommendationWithdrawn(_)
            | VoteRecorded(_)
            | RecommendationAdopted(_)
            | FinalReportPublished(_) => StreamKind::Recommendation,
            ResponseIssued(_) | ResponseAmended(_) | ImplementationUpdated(_) => StreamKind::Response,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGranted {
    pub public_key: [u8; 32],
    pub role: Role,
    pub scope: Scope,
    pub holder_title: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRevoked {
    pub public_key: [u8; 32],
    pub role: Role,
    pub scope: Scope,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblyConvened {
    pub assembly_id: AssemblyId,
    pub council: String,
    pub remit_question: String,
    pub area: String,
    pub starts_on: Date,
    pub ends_on: Date,
    pub panel_size: u32,
    pub adoption_threshold_percent: u32,
    pub response_deadline_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    pub feature: String,
    pub value: String,
    pub min: u32,
    pub max: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionPlanned {
    pub panel_size: u32,
    pub quotas: Vec<Quota>,
    pub algorithm: String,
    pub algorithm_version: String,
    pub pool_commitment: Hash256,
    pub seed_commitment: Hash256,
    pub randomness_source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolMember {
    pub id: String,
    /// (feature, value) pairs, one per feature.
    pub features: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRegistered {
    pub members: Vec<PoolMember>,
    /// SHA-256 of the exact payload bytes, compared with the plan's pool commitment.
    pub payload_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotteryPublished {
    /// (weight in parts of 1,000,000,000, seats per type) for each panel.
    pub panels: Vec<(u64, Vec<u32>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelDrawn {
    pub seed: Vec<u8>,
    pub member_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberWithdrew {
    pub member_id: String,
    pub reason: WithdrawalReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplacementDrawn {
    pub withdrawn_member_id: String,
    pub replacement_member_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionHeld {
    pub session_number: u32,
    pub held_on: Date,
    pub agenda: String,
    pub attendance_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidencePresented {
    pub session_number: u32,
    pub speaker_role: String,
    pub title: String,
    pub content_hash: Hash256,
    pub media_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicSubmissionReceived {
    pub submitter_id: String,
    pub content_hash: Hash256,
    pub received_on: Date,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecommendationDrafted {
    pub recommendation_id: String,
    pub title: String,
    pub text_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecommendationAmended {
    pub recommendation_id: String,
    pub text_hash: Hash256,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecommendationWithdrawn {
    pub recommendation_id: String,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub in_favour: u32,
    pub against: u32,
    pub abstaining: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteRecorded {
    pub recommendation_id: String,
    pub tally: Tally,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecommendationAdopted {
    pub recommendation_id: String,
    pub final_text_hash: Hash256,
    pub tally: Tally,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalReportPublished {
    pub content_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseIssued {
    pub recommendation_event_hash: Hash256,
    pub decision: Decision,
    pub rationale: String,
    pub responsible_body: String,
    pub due_on: Date,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseAmended {
    pub recommendation_event_hash: Hash256,
    pub decision: Decision,
    pub rationale: String,
    pub responsible_body: String,
    pub due_on: Date,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImplementationUpdated {
    pub recommendation_event_hash: Hash256,
    pub status: ImplementationStatus,
    pub progress_percent: u32,
    pub note: String,
    pub evidence_hash: Option<Hash256>,
}
