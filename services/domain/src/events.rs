//! The event catalogue as domain types. The edge (klero-api's codec) builds these from the
//! protobuf payloads after validating every field, so rules never see a prost type.

use crate::personal::{PersonalText, SealedText};
use crate::types::*;
pub use klero_draw::Quota;
use klero_ledger::Hash256;

/// Who may author an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Authority {
    /// A trust root (registry events): the platform's, configured at start, in the stream
    /// `registry` and for a council's registration; a council's own, registered by the
    /// platform, for grants and revocations in that council's stream `council/<id>`.
    TrustRoot,
    /// A key holding this role for the assembly, granted from the trust root.
    Role(Role),
    /// A resident: any key, inside an open call, within its limits (docs/RULES.md, `call.*`);
    /// the intake key for a submission from the web form; for an appeal, the submission's
    /// own author.
    Resident,
}

impl Authority {
    /// The role an assembly event needs; `None` for registry events and residents' events.
    pub fn role(self) -> Option<Role> {
        match self {
            Authority::TrustRoot | Authority::Resident => None,
            Authority::Role(role) => Some(role),
        }
    }
}

/// One domain event type, declared once in [`domain_events!`]: its stream and its authors.
/// The catalogue (`klero-catalogue`) links each to its protobuf message, name, version and
/// decoder, and a type it does not link fails to compile there.
pub trait DomainEventType: Into<DomainEvent> {
    /// The variant's name, e.g. `KeyGranted`.
    const NAME: &'static str;
    /// The stream this event type is appended to.
    const STREAM_KIND: StreamKind;
    /// Who may author it.
    const AUTHORITY: Authority;
}

/// The one declaration of every event type, grouped by the stream kind (the stage) it is
/// appended to, with who may author it. It makes the [`DomainEvent`] enum, the
/// [`DomainEventType`] impls, [`DOMAIN_EVENT_TYPES`] and one borrowed enum per stage
/// ([`StageEvent`]), so that each stage's rules match exhaustively over their own events only.
macro_rules! domain_events {
    ($($kind:ident($stage:ident) { $($(#[$doc:meta])* $name:ident: $authority:expr;)* })*) => {
        /// Every event an assembly's record can hold.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum DomainEvent {
            $($($(#[$doc])* $name($name),)*)*
        }

        $($(
            impl DomainEventType for $name {
                const NAME: &'static str = stringify!($name);
                const STREAM_KIND: StreamKind = StreamKind::$kind;
                const AUTHORITY: Authority = $authority;
            }

            impl From<$name> for DomainEvent {
                fn from(event: $name) -> DomainEvent {
                    DomainEvent::$name(event)
                }
            }
        )*)*

        $(
            #[doc = concat!("The events of the ", stringify!($kind), " stream, borrowed.")]
            #[derive(Clone, Copy, Debug)]
            pub enum $stage<'e> {
                $($name(&'e $name),)*
            }
        )*

        /// An event, by the stage whose rules decide it.
        #[derive(Clone, Copy, Debug)]
        pub enum StageEvent<'e> {
            $($kind($stage<'e>),)*
        }

        impl DomainEvent {
            /// The variant's name.
            pub fn name(&self) -> &'static str {
                match self {
                    $($(DomainEvent::$name(_) => stringify!($name),)*)*
                }
            }

            /// The stream this event must be appended to.
            pub fn stream_kind(&self) -> StreamKind {
                match self {
                    $($(DomainEvent::$name(_) => StreamKind::$kind,)*)*
                }
            }

            /// Who may author this event.
            pub fn authority(&self) -> Authority {
                match self {
                    $($(DomainEvent::$name(_) => $authority,)*)*
                }
            }

            /// The event as its stage's own type.
            pub fn stage(&self) -> StageEvent<'_> {
                match self {
                    $($(DomainEvent::$name(event) => StageEvent::$kind($stage::$name(event)),)*)*
                }
            }
        }

        /// Every event type, in declaration order: name, stream kind, authority.
        pub const DOMAIN_EVENT_TYPES: &[(&str, StreamKind, Authority)] =
            &[$($((stringify!($name), StreamKind::$kind, $authority),)*)*];
    };
}

use Authority::{Resident, Role as By, TrustRoot};
use Role::*;

domain_events! {
    Registry(RegistryEvent) {
        KeyGranted: TrustRoot;
        KeyRevoked: TrustRoot;
        CouncilRegistered: TrustRoot;
    }
    Assembly(AssemblyEvent) {
        AssemblyConvened: By(Convenor);
        PersonalDataRetentionSet: By(DataProtectionOfficer);
        ContentErased: By(DataProtectionOfficer);
    }
    Selection(SelectionEvent) {
        LettersPlanned: By(SelectionOperator);
        LettersDrawn: By(SelectionOperator);
        SelectionPlanned: By(SelectionOperator);
        PoolRegistered: By(SelectionOperator);
        QuotasRelaxed: By(SelectionOperator);
        LotteryPublished: By(SelectionOperator);
        PanelDrawn: By(SelectionOperator);
        MemberWithdrew: By(SelectionOperator);
        ReplacementDrawn: By(SelectionOperator);
    }
    Deliberation(DeliberationEvent) {
        SessionHeld: By(Facilitator);
        EvidencePresented: By(Facilitator);
        PublicSubmissionReceived: By(Facilitator);
        CallOpened: By(Facilitator);
        CallClosed: By(Facilitator);
        ResidentSubmitted: Resident;
        SubmissionModerated: By(Moderator);
        ModerationAppealed: Resident;
    }
    Recommendation(RecommendationEvent) {
        RecommendationDrafted: By(PanelSecretary);
        RecommendationAmended: By(PanelSecretary);
        RecommendationWithdrawn: By(PanelSecretary);
        VoteRecorded: By(PanelSecretary);
        RecommendationAdopted: By(PanelSecretary);
        FinalReportPublished: By(PanelSecretary);
        RecommendationInputsCited: By(PanelSecretary);
    }
    Response(ResponseEvent) {
        ResponseIssued: By(CouncilDecisionMaker);
        ResponseAmended: By(CouncilDecisionMaker);
        ImplementationUpdated: By(CouncilDecisionMaker);
        ResponseInputsConsidered: By(CouncilDecisionMaker);
    }
}

/// What a document an event commits to is, by the field that commits to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DocumentKind {
    /// `EvidencePresented.content_hash`.
    Evidence,
    /// `PublicSubmissionReceived.content_hash`: may hold personal data.
    PublicSubmission,
    /// `RecommendationDrafted.text_hash`, `RecommendationAmended.text_hash`,
    /// `RecommendationAdopted.final_text_hash`.
    RecommendationText,
    /// `FinalReportPublished.content_hash`.
    FinalReport,
    /// `ImplementationUpdated.evidence_hash`.
    ImplementationEvidence,
    /// `ResponseInputsConsidered.letter_hash`.
    ResponseLetter,
    /// `CallOpened.consent_hash`.
    ConsentText,
    /// `CallOpened.moderation_policy_hash`.
    ModerationPolicy,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Evidence => "evidence",
            DocumentKind::PublicSubmission => "public_submission",
            DocumentKind::RecommendationText => "recommendation_text",
            DocumentKind::FinalReport => "final_report",
            DocumentKind::ImplementationEvidence => "implementation_evidence",
            DocumentKind::ResponseLetter => "response_letter",
            DocumentKind::ConsentText => "consent_text",
            DocumentKind::ModerationPolicy => "moderation_policy",
        }
    }

    /// Whether documents of this kind may hold personal data, and so may be erased.
    pub fn may_hold_personal_data(self) -> bool {
        matches!(self, DocumentKind::PublicSubmission)
    }
}

/// An input that recommendations and responses cite. Its serde name is its name in the views
/// (FORMAT.md §7), as [`InputKind::as_str`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// An `EvidencePresented` event.
    Evidence,
    /// A `PublicSubmissionReceived` or `ResidentSubmitted` event.
    PublicSubmission,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Evidence => "evidence",
            InputKind::PublicSubmission => "public_submission",
        }
    }
}

impl DomainEvent {
    /// The documents this event commits to, by hash, with what each is, in field order.
    pub fn committed_documents(&self) -> Vec<(Hash256, DocumentKind)> {
        use DocumentKind as K;
        match self {
            DomainEvent::EvidencePresented(e) => vec![(e.content_hash, K::Evidence)],
            DomainEvent::PublicSubmissionReceived(e) => match &e.content {
                SubmissionContent::Document(hash) => vec![(*hash, K::PublicSubmission)],
                SubmissionContent::Sealed(_) => Vec::new(),
            },
            DomainEvent::RecommendationDrafted(e) => vec![(e.text_hash, K::RecommendationText)],
            DomainEvent::RecommendationAmended(e) => vec![(e.text_hash, K::RecommendationText)],
            DomainEvent::RecommendationAdopted(e) => vec![(e.final_text_hash, K::RecommendationText)],
            DomainEvent::FinalReportPublished(e) => vec![(e.content_hash, K::FinalReport)],
            DomainEvent::ImplementationUpdated(e) => {
                e.evidence_hash.map(|h| (h, K::ImplementationEvidence)).into_iter().collect()
            }
            DomainEvent::ResponseInputsConsidered(e) => {
                e.letter_hash.map(|h| (h, K::ResponseLetter)).into_iter().collect()
            }
            DomainEvent::CallOpened(e) => {
                vec![(e.consent_hash, K::ConsentText), (e.moderation_policy_hash, K::ModerationPolicy)]
            }
            DomainEvent::KeyGranted(_)
            | DomainEvent::KeyRevoked(_)
            | DomainEvent::CouncilRegistered(_)
            | DomainEvent::AssemblyConvened(_)
            | DomainEvent::LettersPlanned(_)
            | DomainEvent::LettersDrawn(_)
            | DomainEvent::SelectionPlanned(_)
            | DomainEvent::PoolRegistered(_)
            | DomainEvent::QuotasRelaxed(_)
            | DomainEvent::LotteryPublished(_)
            | DomainEvent::PanelDrawn(_)
            | DomainEvent::MemberWithdrew(_)
            | DomainEvent::ReplacementDrawn(_)
            | DomainEvent::SessionHeld(_)
            | DomainEvent::RecommendationWithdrawn(_)
            | DomainEvent::VoteRecorded(_)
            | DomainEvent::ResponseIssued(_)
            | DomainEvent::ResponseAmended(_)
            | DomainEvent::RecommendationInputsCited(_)
            | DomainEvent::PersonalDataRetentionSet(_)
            | DomainEvent::ContentErased(_)
            | DomainEvent::CallClosed(_)
            | DomainEvent::ResidentSubmitted(_)
            | DomainEvent::SubmissionModerated(_)
            | DomainEvent::ModerationAppealed(_) => Vec::new(),
        }
    }

    /// The version its payload is signed at: 2 when it sets a version 2 field (sealed text,
    /// FORMAT.md §14.1; reserves, §9), else 1.
    pub fn payload_version(&self) -> u32 {
        let sets_version_2_field = !self.sealed_fields().is_empty()
            || match self {
                DomainEvent::SelectionPlanned(plan) => plan.reserve_count > 0,
                DomainEvent::PanelDrawn(drawn) => !drawn.reserve_member_ids.is_empty(),
                _ => false,
            };
        if sets_version_2_field {
            2
        } else {
            1
        }
    }

    /// The event's sealed fields, by their protobuf field name, in field order: what its data
    /// key opens (FORMAT.md §14).
    pub fn sealed_fields(&self) -> Vec<(&'static str, &SealedText)> {
        fn field<'a>(name: &'static str, text: &'a PersonalText) -> Option<(&'static str, &'a SealedText)> {
            text.sealed().map(|sealed| (name, sealed))
        }
        match self {
            DomainEvent::EvidencePresented(e) => field("sealed_title", &e.title).into_iter().collect(),
            DomainEvent::PublicSubmissionReceived(e) => match &e.content {
                SubmissionContent::Sealed(sealed) => vec![("sealed_text", sealed)],
                SubmissionContent::Document(_) => Vec::new(),
            },
            DomainEvent::ResponseIssued(e) => field("sealed_rationale", &e.rationale).into_iter().collect(),
            DomainEvent::ResponseAmended(e) => field("sealed_rationale", &e.rationale).into_iter().collect(),
            DomainEvent::ImplementationUpdated(e) => field("sealed_note", &e.note).into_iter().collect(),
            DomainEvent::ResidentSubmitted(e) => {
                let mut fields = vec![("sealed_text", &e.text)];
                fields.extend(e.contact.as_ref().map(|contact| ("sealed_contact", contact)));
                fields
            }
            // No sealed field: a new event type with one must be listed above (FORMAT.md §14).
            DomainEvent::KeyGranted(_)
            | DomainEvent::KeyRevoked(_)
            | DomainEvent::CouncilRegistered(_)
            | DomainEvent::AssemblyConvened(_)
            | DomainEvent::PersonalDataRetentionSet(_)
            | DomainEvent::ContentErased(_)
            | DomainEvent::LettersPlanned(_)
            | DomainEvent::LettersDrawn(_)
            | DomainEvent::SelectionPlanned(_)
            | DomainEvent::PoolRegistered(_)
            | DomainEvent::QuotasRelaxed(_)
            | DomainEvent::LotteryPublished(_)
            | DomainEvent::PanelDrawn(_)
            | DomainEvent::MemberWithdrew(_)
            | DomainEvent::ReplacementDrawn(_)
            | DomainEvent::SessionHeld(_)
            | DomainEvent::RecommendationDrafted(_)
            | DomainEvent::RecommendationAmended(_)
            | DomainEvent::RecommendationWithdrawn(_)
            | DomainEvent::VoteRecorded(_)
            | DomainEvent::RecommendationAdopted(_)
            | DomainEvent::FinalReportPublished(_)
            | DomainEvent::RecommendationInputsCited(_)
            | DomainEvent::ResponseInputsConsidered(_)
            | DomainEvent::CallOpened(_)
            | DomainEvent::CallClosed(_)
            | DomainEvent::SubmissionModerated(_)
            | DomainEvent::ModerationAppealed(_) => Vec::new(),
        }
    }

    /// The sealed fields a public page may show once opened: all but a resident's contact,
    /// which is kept only to tell them what became of their submission (FORMAT.md §15.2).
    pub fn shown_sealed_fields(&self) -> Vec<(&'static str, &SealedText)> {
        self.sealed_fields().into_iter().filter(|(field, _)| *field != "sealed_contact").collect()
    }

    /// Whether the event holds personal content that a `ContentErased` can erase: sealed
    /// fields, or a document that may hold personal data.
    pub fn holds_erasable_content(&self) -> bool {
        !self.sealed_fields().is_empty()
            || self.committed_documents().iter().any(|(_, kind)| kind.may_hold_personal_data())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyGranted {
    pub public_key: [u8; 32],
    pub role: Role,
    pub scope: Scope,
    pub holder_title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRevoked {
    pub public_key: [u8; 32],
    pub role: Role,
    pub scope: Scope,
    pub reason: String,
}

/// The platform's trust root registers a council, with the council's own trust root, which
/// the council keeps offline and which alone grants roles for the council's assemblies.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CouncilRegistered {
    pub council_id: CouncilId,
    /// The council's public name, e.g. "Cardiff Council".
    pub name: String,
    pub root_public_key: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectionPlanned {
    pub panel_size: u32,
    pub quotas: Vec<Quota>,
    pub algorithm: String,
    pub algorithm_version: String,
    pub pool_commitment: Hash256,
    pub seed_commitment: Hash256,
    pub randomness_source: String,
    /// Reserves to draw with the panel (FORMAT.md §9, step 4); 0 for none. A version 2 field.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserve_count: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The letter lottery's plan (FORMAT.md §9.1): the committed address list, the counts and the
/// seed commitment. The list itself stays with the council.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LettersPlanned {
    pub address_list_hash: Hash256,
    pub address_count: u32,
    pub letter_count: u32,
    /// The list's area column; empty when the draw is not stratified.
    pub area_column: String,
    /// Every area, sorted by name; empty without an area column.
    pub areas: Vec<klero_draw::letters::AreaLetters>,
    pub seed_commitment: Hash256,
    pub randomness_source: String,
}

/// Quotas loosened because no panel could meet them (FORMAT.md §9.2): each changed quota with
/// its relaxed bounds, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuotasRelaxed {
    pub quotas: Vec<Quota>,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LettersDrawn {
    pub seed: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolMember {
    pub id: String,
    /// (feature, value) pairs, one per feature.
    pub features: Vec<(String, String)>,
    /// The salted household commitment, if the member names one (FORMAT.md §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Hash256>,
    /// The salted commitment to the letter the member answered, if any (FORMAT.md §9.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letter: Option<Hash256>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolRegistered {
    pub members: Vec<PoolMember>,
    /// SHA-256 of the exact payload bytes, compared with the plan's pool commitment.
    pub payload_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LotteryPublished {
    /// (weight in parts of 1,000,000,000, seats per type) for each panel.
    pub panels: Vec<(u64, Vec<u32>)>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PanelDrawn {
    pub seed: Vec<u8>,
    pub member_ids: Vec<String>,
    /// The reserve list, in order (FORMAT.md §9, step 4). A version 2 field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserve_member_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberWithdrew {
    pub member_id: String,
    pub reason: WithdrawalReason,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplacementDrawn {
    pub withdrawn_member_id: String,
    pub replacement_member_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionHeld {
    pub session_number: u32,
    pub held_on: Date,
    pub agenda: String,
    pub attendance_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvidencePresented {
    pub session_number: u32,
    pub speaker_role: String,
    pub title: PersonalText,
    pub content_hash: Hash256,
    pub media_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublicSubmissionReceived {
    pub submitter_id: String,
    pub content: SubmissionContent,
    pub received_on: Date,
}

/// A call for residents' submissions (docs/RULES.md, `call.*`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallOpened {
    pub call_id: String,
    pub prompt: String,
    /// `None` when the call asks the assembly's question; else a drafted recommendation put
    /// out for comment.
    pub recommendation_id: Option<String>,
    pub opens_on: Date,
    pub closes_on: Date,
    pub text_bytes_max: u32,
    pub one_per_key: bool,
    pub names_asked: bool,
    pub consent_hash: Hash256,
    pub moderation_policy_hash: Hash256,
    pub withhold_reasons: Vec<String>,
    pub retention_days: u32,
    /// The proof of work each browser's submission must carry, in bits (0: none).
    pub proof_of_work_bits: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallClosed {
    pub call_id: String,
    pub reason: String,
}

/// How a resident's submission reached the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionPath {
    /// Signed in the resident's own browser.
    Browser,
    /// The pages' plain form, signed by the intake key.
    WebForm,
}

impl SubmissionPath {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionPath::Browser => "browser",
            SubmissionPath::WebForm => "web_form",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResidentSubmitted {
    pub call_id: String,
    pub path: SubmissionPath,
    pub text: SealedText,
    pub contact: Option<SealedText>,
    /// The proof of work (docs/FORMAT.md §14.6); 0 when the call asks for none.
    pub work_nonce: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationDecision {
    Publish,
    Withhold,
}

impl ModerationDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ModerationDecision::Publish => "publish",
            ModerationDecision::Withhold => "withhold",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubmissionModerated {
    pub submission_event_hash: Hash256,
    pub decision: ModerationDecision,
    /// The call's withhold reason, for a withholding.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModerationAppealed {
    pub submission_event_hash: Hash256,
}

/// Where a public submission's text is: a document the event commits to by hash (version 1),
/// or sealed in the event itself (version 2).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SubmissionContent {
    Document(Hash256),
    Sealed(SealedText),
}

impl SubmissionContent {
    /// The hash an input row records for it: the document's SHA-256, or the sealed text's
    /// commitment.
    pub fn content_hash(&self) -> Hash256 {
        match self {
            SubmissionContent::Document(hash) => *hash,
            SubmissionContent::Sealed(sealed) => sealed.commitment,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecommendationDrafted {
    pub recommendation_id: String,
    pub title: String,
    pub text_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecommendationAmended {
    pub recommendation_id: String,
    pub text_hash: Hash256,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecommendationWithdrawn {
    pub recommendation_id: String,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    pub in_favour: u32,
    pub against: u32,
    pub abstaining: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoteRecorded {
    pub recommendation_id: String,
    pub tally: Tally,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecommendationAdopted {
    pub recommendation_id: String,
    pub final_text_hash: Hash256,
    pub tally: Tally,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FinalReportPublished {
    pub content_hash: Hash256,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponseIssued {
    pub recommendation_event_hash: Hash256,
    pub decision: Decision,
    pub rationale: PersonalText,
    pub responsible_body: String,
    pub due_on: Date,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponseAmended {
    pub recommendation_event_hash: Hash256,
    pub decision: Decision,
    pub rationale: PersonalText,
    pub responsible_body: String,
    pub due_on: Date,
    pub reason: String,
}

/// A citation of an input by its event hash, with a note on how it was used.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputCitation {
    pub input_event_hash: Hash256,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecommendationInputsCited {
    pub recommendation_id: String,
    /// The recommendation's current text, which the citations are for.
    pub text_hash: Hash256,
    pub citations: Vec<InputCitation>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponseInputsConsidered {
    pub recommendation_event_hash: Hash256,
    pub citations: Vec<InputCitation>,
    pub letter_hash: Option<Hash256>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImplementationUpdated {
    pub recommendation_event_hash: Hash256,
    pub status: ImplementationStatus,
    pub progress_percent: u32,
    pub note: PersonalText,
    pub evidence_hash: Option<Hash256>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonalDataRetentionSet {
    pub retention_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContentErased {
    /// The event whose personal content is erased.
    pub event_hash: Hash256,
    /// The legal basis of the erasure.
    pub legal_basis: String,
    pub erased_on: Date,
}
