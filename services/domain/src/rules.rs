//! The rules: pure `decide` and `evolve` over the whole domain state.
//!
//! Authors submit signed events, so the "command" is the proposed event itself:
//! [`DomainState::decide`] accepts it (saying whether it is late) or rejects it, naming the
//! rule; [`DomainState::evolve`] folds an accepted, recorded event into the state. Neither reads
//! a clock or does I/O: the recording time and the event hash are passed in.
//! Every rule is listed, with its code, in docs/RULES.md.

use crate::events::*;
use crate::types::*;
use klero_ledger::Hash256;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Declares every rule code: the enum, its stable text form, and the list of all codes.
macro_rules! rule_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// A rule the server enforces before it appends, by its stable code. docs/RULES.md
        /// describes each; a tidy test checks that the two lists are the same and that a test
        /// exercises every code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleCode {
            $(#[doc = concat!("`", $code, "`")] $variant,)*
        }

        impl RuleCode {
            /// Every rule code, in the order of docs/RULES.md.
            pub const ALL: &'static [RuleCode] = &[$(RuleCode::$variant,)*];

            /// The code as clients see it, e.g. `selection.panel_meets_quotas`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleCode::$variant => $code,)*
                }
            }

            /// The rule code spelled `code`, if there is one.
            pub fn parse(code: &str) -> Option<RuleCode> {
                RuleCode::ALL.iter().copied().find(|rule| rule.as_str() == code)
            }
        }
    };
}

rule_codes! {
    EventStreamMatches = "event.stream_matches",
    EventAuthoredAtPlausible = "event.authored_at_plausible",
    RegistryTrustRootOnly = "registry.trust_root_only",
    RegistryGrantNotDuplicate = "registry.grant_not_duplicate",
    RegistryRevokeRequiresGrant = "registry.revoke_requires_grant",
    AuthorityRoleRequired = "authority.role_required",
    AuthorityKeyRevoked = "authority.key_revoked",
    AssemblyConvenedFirst = "assembly.convened_first",
    AssemblyConvenedOnce = "assembly.convened_once",
    AssemblyDatesOrdered = "assembly.dates_ordered",
    SelectionPlannedOnce = "selection.planned_once",
    SelectionPanelSizeMatches = "selection.panel_size_matches",
    SelectionQuotasCanFillPanel = "selection.quotas_can_fill_panel",
    SelectionPoolAfterPlan = "selection.pool_after_plan",
    SelectionPoolRegisteredOnce = "selection.pool_registered_once",
    SelectionPoolMatchesCommitment = "selection.pool_matches_commitment",
    SelectionPoolHasQuotaFeatures = "selection.pool_has_quota_features",
    SelectionPoolLargeEnough = "selection.pool_large_enough",
    SelectionDrawAfterPool = "selection.draw_after_pool",
    SelectionDrawnOnce = "selection.drawn_once",
    SelectionSeedMatchesCommitment = "selection.seed_matches_commitment",
    SelectionPanelSize = "selection.panel_size",
    SelectionPanelFromPool = "selection.panel_from_pool",
    SelectionPanelMeetsQuotas = "selection.panel_meets_quotas",
    SelectionPoolValuesHaveQuotas = "selection.pool_values_have_quotas",
    SelectionQuotasFeasible = "selection.quotas_feasible",
    SelectionLotteryAfterPool = "selection.lottery_after_pool",
    SelectionLotteryPublishedOnce = "selection.lottery_published_once",
    SelectionLotteryBeforeDraw = "selection.lottery_before_draw",
    SelectionLotteryMeetsQuotas = "selection.lottery_meets_quotas",
    SelectionDrawNeedsLottery = "selection.draw_needs_lottery",
    SelectionPanelIsTheDraw = "selection.panel_is_the_draw",
    SelectionReplacementIsTheDraw = "selection.replacement_is_the_draw",
    SelectionWithdrawSeated = "selection.withdraw_seated",
    SelectionReplaceWithdrawn = "selection.replace_withdrawn",
    SelectionReplacementIsNew = "selection.replacement_is_new",
    DeliberationAfterPanel = "deliberation.after_panel",
    DeliberationSessionSequence = "deliberation.session_sequence",
    DeliberationAttendanceWithinPanel = "deliberation.attendance_within_panel",
    DeliberationEvidenceAtHeldSession = "deliberation.evidence_at_held_session",
    RecommendationAfterPanel = "recommendation.after_panel",
    RecommendationIdUnique = "recommendation.id_unique",
    RecommendationExists = "recommendation.exists",
    RecommendationDraftedOnly = "recommendation.drafted_only",
    RecommendationVoteWithinPanel = "recommendation.vote_within_panel",
    RecommendationAdoptionNeedsVote = "recommendation.adoption_needs_vote",
    RecommendationAdoptionMatchesVote = "recommendation.adoption_matches_vote",
    RecommendationAdoptionMeetsThreshold = "recommendation.adoption_meets_threshold",
    RecommendationAdoptionFinalText = "recommendation.adoption_final_text",
    RecommendationReportAfterAdoption = "recommendation.report_after_adoption",
    RecommendationReportOnce = "recommendation.report_once",
    ResponseNamesAdoptedRecommendation = "response.names_adopted_recommendation",
    ResponseOncePerRecommendation = "response.once_per_recommendation",
    ResponseAmendExisting = "response.amend_existing",
    ResponseImplementationNeedsAcceptance = "response.implementation_needs_acceptance",
    CitationNamesRecordedInput = "citation.names_recorded_input",
    CitationCurrentText = "citation.current_text",
    CitationAfterResponse = "citation.after_response",
    PrivacyRetentionSetOnce = "privacy.retention_set_once",
    PrivacyErasureNamesPersonalContent = "privacy.erasure_names_personal_content",
    PrivacyErasedOnce = "privacy.erased_once",
}

impl std::fmt::Display for RuleCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a proposed event was refused, naming the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The author may not write this event (gRPC PERMISSION_DENIED).
    #[error("{rule}: {message}")]
    NotAuthorised { rule: RuleCode, message: String },
    /// The event breaks a domain rule in the current state (gRPC FAILED_PRECONDITION).
    #[error("{rule}: {message}")]
    RuleBroken { rule: RuleCode, message: String },
}

impl Rejection {
    /// The rule that refused the event.
    pub fn rule(&self) -> RuleCode {
        match self {
            Rejection::NotAuthorised { rule, .. } | Rejection::RuleBroken { rule, .. } => *rule,
        }
    }
}

fn broken(rule: RuleCode, message: impl Into<String>) -> Rejection {
    Rejection::RuleBroken { rule, message: message.into() }
}

/// What `decide` knows about the proposed event besides its payload.
#[derive(Clone, Copy, Debug)]
pub struct Proposal<'a> {
    /// The stream the author signed the event for.
    pub stream: &'a str,
    /// The author's public key.
    pub author: &'a [u8; 32],
    /// The recording time the ledger will give it.
    pub recorded_at_unix_ms: u64,
}

/// What `evolve` knows about a recorded event.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    pub stream: &'a str,
    pub author: &'a [u8; 32],
    pub recorded_at_unix_ms: u64,
    pub event_hash: Hash256,
    pub log_index: u64,
}

/// Milliseconds in a day; deadlines count whole days of 86,400,000 ms from the adoption.
pub const DAY_MS: u64 = 86_400_000;

/// How far an author's clock may run ahead of the ledger's: clock skew, not the future.
pub const AUTHORED_AHEAD_OF_RECORDING_MAX_MS: u64 = 5 * 60 * 1000;
/// How long before its recording an event may have been signed: long enough for an author who
/// signs offline and hands the event over later, short enough that the claim means something.
pub const AUTHORED_BEFORE_RECORDING_MAX_MS: u64 = 30 * DAY_MS;

/// `event.authored_at_plausible`: the author's claimed signing time lies within
/// [recorded − 30 days, recorded + 5 minutes]. The ledger's recording time is the one that
/// counts for deadlines; this only keeps the author's claim plausible. Checked for every event
/// of an append, and again by every replay of the log.
pub fn check_authored_at(authored_at_unix_ms: u64, recorded_at_unix_ms: u64) -> Result<(), Rejection> {
    let earliest = recorded_at_unix_ms.saturating_sub(AUTHORED_BEFORE_RECORDING_MAX_MS);
    let latest = recorded_at_unix_ms.saturating_add(AUTHORED_AHEAD_OF_RECORDING_MAX_MS);
    if (earliest..=latest).contains(&authored_at_unix_ms) {
        return Ok(());
    }
    Err(broken(
        RuleCode::EventAuthoredAtPlausible,
        format!(
            "authored_at_unix_ms {authored_at_unix_ms} is outside {earliest}..={latest}: an event may be signed at most \
             30 days before it is recorded (at {recorded_at_unix_ms}) and at most 5 minutes after"
        ),
    ))
}

/// When the council's response to a recommendation adopted at `adopted_at_unix_ms` is due:
/// `response_deadline_days` days later. A response recorded after this is late, and an
/// adoption with no response by then is overdue. The one definition of the deadline.
pub fn response_due_by_unix_ms(adopted_at_unix_ms: u64, response_deadline_days: u32) -> u64 {
    adopted_at_unix_ms.saturating_add(response_deadline_days as u64 * DAY_MS)
}

/// The outcome of accepting an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Acceptance {
    /// The event is recorded after a deadline that applies to it (a late response).
    pub late: bool,
}

/// One grant of a role to a key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub public_key: [u8; 32],
    pub role: Role,
    pub scope: Scope,
    pub holder_title: String,
    pub granted_at_log_index: u64,
    pub revoked_at_log_index: Option<u64>,
}

/// What authorised an event (FORMAT.md §8, authority; docs/RULES.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorisedBy<'s> {
    /// A registry event, signed by the trust root.
    TrustRoot,
    /// An assembly event, by a key holding the role its type needs for the assembly.
    Grant(&'s Grant),
}

/// The selection stage's state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SelectionState {
    pub plan: Option<SelectionPlanned>,
    /// Pool members by id: their (feature → value) map.
    pub pool: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// Seated members.
    pub seated: BTreeSet<String>,
    /// Everyone ever seated, so a replacement is always someone new.
    pub ever_seated: BTreeSet<String>,
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
    /// Inputs that can be cited: evidence and public submissions, by event hash. One entry
    /// per input; a snapshot does not keep them, the views' input rows do, and
    /// [`DomainState::restore_input`] puts them back.
    #[serde(skip)]
    pub inputs: klero_ledger::hash::Hash256Map<InputKind>,
    /// How many days personal text is kept, once a `PersonalDataRetentionSet` says so.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Every event of the assembly that holds erasable personal content (sealed fields, a
    /// personal document), by event hash.
    #[serde(default)]
    pub personal_items: HashMap<Hash256, PersonalItem>,
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

/// Everything the rules need: the registry and every assembly.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DomainState {
    trust_root: [u8; 32],
    grants: Vec<Grant>,
    assemblies: BTreeMap<AssemblyId, AssemblyState>,
    /// Assembly ids in the order they were convened.
    convened_order: Vec<AssemblyId>,
}

impl DomainState {
    /// An empty state whose registry is governed by `trust_root` (the council's public key).
    pub fn new(trust_root: [u8; 32]) -> DomainState {
        DomainState { trust_root, grants: Vec::new(), assemblies: BTreeMap::new(), convened_order: Vec::new() }
    }

    pub fn trust_root(&self) -> &[u8; 32] {
        &self.trust_root
    }
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }
    pub fn assembly(&self, id: &AssemblyId) -> Option<&AssemblyState> {
        self.assemblies.get(id)
    }
    pub fn assembly_ids(&self) -> &[AssemblyId] {
        &self.convened_order
    }

    /// Whether `key` holds an unrevoked grant of `role` covering `assembly`.
    pub fn holds_role(&self, key: &[u8; 32], role: Role, assembly: &AssemblyId) -> bool {
        self.holds_role_str(key, role, assembly.as_str())
    }

    fn holds_role_str(&self, key: &[u8; 32], role: Role, assembly: &str) -> bool {
        self.grants.iter().any(|g| {
            g.public_key == *key && g.role == role && g.revoked_at_log_index.is_none() && g.scope.covers_str(assembly)
        })
    }

    /// Puts back the inputs of one assembly that a snapshot left out (see
    /// `AssemblyState::inputs`).
    pub fn restore_inputs(
        &mut self,
        assembly_id: &AssemblyId,
        inputs: impl ExactSizeIterator<Item = (Hash256, InputKind)>,
    ) {
        if let Some(assembly) = self.assemblies.get_mut(assembly_id.as_str()) {
            assembly.inputs.reserve(inputs.len());
            assembly.inputs.extend(inputs);
        }
    }

    /// The stream and authority checks of [`DomainState::decide`], and what authorised the
    /// event: the trust root (registry events), or the grant of its author's role.
    pub fn authorise(&self, event: &DomainEvent, proposal: Proposal<'_>) -> Result<AuthorisedBy<'_>, Rejection> {
        let (stream_kind, stream_assembly) = StreamKind::parse_stream_str(proposal.stream).ok_or_else(|| {
            broken(RuleCode::EventStreamMatches, format!("stream {} is not a Kleroterion stream", proposal.stream))
        })?;
        if stream_kind != event.stream_kind() {
            return Err(broken(
                RuleCode::EventStreamMatches,
                format!("this event type belongs in the {:?} stream, not {}", event.stream_kind(), proposal.stream),
            ));
        }
        let Some(assembly_id) = stream_assembly else {
            if *proposal.author != self.trust_root {
                return Err(Rejection::NotAuthorised {
                    rule: RuleCode::RegistryTrustRootOnly,
                    message: "only the trust root may grant or revoke keys".into(),
                });
            }
            return Ok(AuthorisedBy::TrustRoot);
        };
        let role = event
            .authority()
            .role()
            .ok_or_else(|| broken(RuleCode::EventStreamMatches, "registry events go in the registry stream"))?;
        let grant = self.grants.iter().find(|g| {
            g.public_key == *proposal.author
                && g.role == role
                && g.revoked_at_log_index.is_none()
                && g.scope.covers_str(assembly_id)
        });
        match grant {
            Some(grant) => Ok(AuthorisedBy::Grant(grant)),
            None => {
                let revoked = self
                    .grants
                    .iter()
                    .any(|g| g.public_key == *proposal.author && g.role == role && g.scope.covers_str(assembly_id));
                Err(Rejection::NotAuthorised {
                    rule: if revoked { RuleCode::AuthorityKeyRevoked } else { RuleCode::AuthorityRoleRequired },
                    message: if revoked {
                        format!("the author's {role} grant for assembly {assembly_id} was revoked")
                    } else {
                        format!("the author's key holds no {role} grant for assembly {assembly_id}")
                    },
                })
            }
        }
    }

    /// Accepts or rejects a proposed event: stream, authority, then the stage's rules.
    pub fn decide(&self, event: &DomainEvent, proposal: Proposal<'_>) -> Result<Acceptance, Rejection> {
        let authorised = self.authorise(event, proposal)?;
        let assembly_id = match (authorised, StreamKind::parse_stream_str(proposal.stream)) {
            (AuthorisedBy::Grant(_), Some((_, Some(assembly_id)))) => assembly_id,
            _ => return self.decide_registry(event, proposal),
        };
        if let DomainEvent::AssemblyConvened(convened) = event {
            if convened.assembly_id.as_str() != assembly_id {
                return Err(broken(
                    RuleCode::EventStreamMatches,
                    format!("assembly id {} does not match stream {}", convened.assembly_id, proposal.stream),
                ));
            }
            if self.assemblies.contains_key(assembly_id) {
                return Err(broken(
                    RuleCode::AssemblyConvenedOnce,
                    format!("assembly {assembly_id} is already convened"),
                ));
            }
            if convened.ends_on < convened.starts_on {
                return Err(broken(RuleCode::AssemblyDatesOrdered, "ends_on is before starts_on"));
            }
            return Ok(Acceptance::default());
        }
        let assembly = self.assemblies.get(assembly_id).ok_or_else(|| {
            broken(RuleCode::AssemblyConvenedFirst, format!("assembly {assembly_id} has not been convened"))
        })?;
        assembly.decide(event, proposal)
    }

    /// Decides a batch of events for one stream, each against the state the earlier ones leave.
    /// Works on a scratch copy of only the registry and the stream's assembly. On rejection it
    /// returns the index of the first event refused.
    pub fn decide_batch(
        &self,
        events: &[DomainEvent],
        proposal: Proposal<'_>,
    ) -> Result<Vec<Acceptance>, (usize, Rejection)> {
        let mut scratch = DomainState {
            trust_root: self.trust_root,
            grants: self.grants.clone(),
            assemblies: BTreeMap::new(),
            convened_order: Vec::new(),
        };
        if let Some((_, Some(id))) = StreamKind::parse_stream(proposal.stream) {
            if let Some(assembly) = self.assemblies.get(&id) {
                scratch.assemblies.insert(id, assembly.clone());
            }
        }
        let mut acceptances = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            acceptances.push(scratch.decide(event, proposal).map_err(|rejection| (index, rejection))?);
            // Hashes of events in the same batch are not known yet, so nothing later in the
            // batch can name them; a placeholder keeps the scratch state consistent.
            let placeholder = Hash256::of(&(index as u64).to_be_bytes());
            scratch.evolve(
                event,
                Recorded {
                    stream: proposal.stream,
                    author: proposal.author,
                    recorded_at_unix_ms: proposal.recorded_at_unix_ms,
                    event_hash: placeholder,
                    log_index: u64::MAX,
                },
            );
        }
        Ok(acceptances)
    }

    /// The registry's rules, for an event [`DomainState::authorise`] found the trust root signed.
    fn decide_registry(&self, event: &DomainEvent, _proposal: Proposal<'_>) -> Result<Acceptance, Rejection> {
        match event {
            DomainEvent::KeyGranted(grant) => {
                let active = self.grants.iter().any(|g| {
                    g.public_key == grant.public_key
                        && g.role == grant.role
                        && g.scope == grant.scope
                        && g.revoked_at_log_index.is_none()
                });
                if active {
                    return Err(broken(
                        RuleCode::RegistryGrantNotDuplicate,
                        format!("the key already holds {} for scope {}", grant.role, grant.scope),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::KeyRevoked(revoke) => {
                let active = self.grants.iter().any(|g| {
                    g.public_key == revoke.public_key
                        && g.role == revoke.role
                        && g.scope == revoke.scope
                        && g.revoked_at_log_index.is_none()
                });
                if !active {
                    return Err(broken(
                        RuleCode::RegistryRevokeRequiresGrant,
                        format!("the key holds no active {} grant for scope {}", revoke.role, revoke.scope),
                    ));
                }
                Ok(Acceptance::default())
            }
            _ => Err(broken(RuleCode::EventStreamMatches, "only registry events go in the registry stream")),
        }
    }

    /// Decides a recorded event at its place in the log and, if accepted, folds it in: what a
    /// replay of the log does for every event. The same answers as `decide` then `evolve`,
    /// with the stream parsed and the assembly found once for the common case.
    pub fn decide_and_evolve(&mut self, event: &DomainEvent, recorded: Recorded<'_>) -> Result<Acceptance, Rejection> {
        let proposal = Proposal {
            stream: recorded.stream,
            author: recorded.author,
            recorded_at_unix_ms: recorded.recorded_at_unix_ms,
        };
        if let Some((kind, Some(assembly_id))) = StreamKind::parse_stream_str(recorded.stream) {
            let authorised = kind == event.stream_kind()
                && !matches!(event, DomainEvent::AssemblyConvened(_))
                && event.authority().role().is_some_and(|role| self.holds_role_str(recorded.author, role, assembly_id));
            if authorised {
                if let Some(assembly) = self.assemblies.get_mut(assembly_id) {
                    let decided = assembly.decide(event, proposal)?;
                    let evolved = assembly.evolve(event, recorded);
                    assert_eq!(decided, evolved, "decide and evolve disagree at log index {}", recorded.log_index);
                    return Ok(evolved);
                }
            }
        }
        // Registry events, convenings and every refusal take the general path.
        let decided = self.decide(event, proposal)?;
        let evolved = self.evolve(event, recorded);
        assert_eq!(decided, evolved, "decide and evolve disagree at log index {}", recorded.log_index);
        Ok(evolved)
    }

    /// Folds a recorded event in. The event must have been accepted by `decide` on the state
    /// as it was when it was recorded (the log's order guarantees this); a replay of a log
    /// that breaks the rules is caught by `decide`, never by `evolve`.
    ///
    /// Returns what the event turned out to be, as `decide` judged it (whether it was late).
    pub fn evolve(&mut self, event: &DomainEvent, recorded: Recorded<'_>) -> Acceptance {
        let assembly_id = match StreamKind::parse_stream_str(recorded.stream) {
            Some((_, Some(id))) => id,
            _ => {
                self.evolve_registry(event, recorded);
                return Acceptance::default();
            }
        };
        if let DomainEvent::AssemblyConvened(convened) = event {
            self.convened_order.push(convened.assembly_id.clone());
            self.assemblies.insert(
                convened.assembly_id.clone(),
                AssemblyState {
                    convened: convened.clone(),
                    selection: SelectionState::default(),
                    sessions_held: 0,
                    evidence_presented: 0,
                    public_submissions: 0,
                    recommendations: BTreeMap::new(),
                    adopted_by_hash: HashMap::new(),
                    responses: HashMap::new(),
                    final_report: None,
                    inputs: Default::default(),
                    retention_days: None,
                    personal_items: HashMap::new(),
                },
            );
            return Acceptance::default();
        }
        match self.assemblies.get_mut(assembly_id) {
            Some(assembly) => assembly.evolve(event, recorded),
            None => Acceptance::default(),
        }
    }

    fn evolve_registry(&mut self, event: &DomainEvent, recorded: Recorded<'_>) {
        match event {
            DomainEvent::KeyGranted(grant) => self.grants.push(Grant {
                public_key: grant.public_key,
                role: grant.role,
                scope: grant.scope.clone(),
                holder_title: grant.holder_title.clone(),
                granted_at_log_index: recorded.log_index,
                revoked_at_log_index: None,
            }),
            DomainEvent::KeyRevoked(revoke) => {
                for g in &mut self.grants {
                    if g.public_key == revoke.public_key
                        && g.role == revoke.role
                        && g.scope == revoke.scope
                        && g.revoked_at_log_index.is_none()
                    {
                        g.revoked_at_log_index = Some(recorded.log_index);
                    }
                }
            }
            _ => {}
        }
    }
}

impl AssemblyState {
    /// Seats currently filled on the panel.
    pub fn seated_count(&self) -> u32 {
        self.selection.seated.len() as u32
    }

    fn require_panel(&self, rule: RuleCode) -> Result<(), Rejection> {
        if !self.selection.panel_drawn {
            return Err(broken(rule, "the panel has not been drawn yet"));
        }
        Ok(())
    }

    fn drafted(&self, id: &str) -> Result<&RecommendationState, Rejection> {
        let recommendation = self
            .recommendations
            .get(id)
            .ok_or_else(|| broken(RuleCode::RecommendationExists, format!("no recommendation {id}")))?;
        if recommendation.status != RecommendationStatus::Drafted {
            return Err(broken(
                RuleCode::RecommendationDraftedOnly,
                format!("recommendation {id} is {}", recommendation.status.as_str()),
            ));
        }
        Ok(recommendation)
    }

    fn adopted(&self, hash: &Hash256) -> Result<&String, Rejection> {
        self.adopted_by_hash.get(hash).ok_or_else(|| {
            broken(
                RuleCode::ResponseNamesAdoptedRecommendation,
                format!("{hash} is not the event hash of an adoption in this assembly"),
            )
        })
    }

    fn decide(&self, event: &DomainEvent, proposal: Proposal<'_>) -> Result<Acceptance, Rejection> {
        let selection = &self.selection;
        match event {
            DomainEvent::KeyGranted(_) | DomainEvent::KeyRevoked(_) | DomainEvent::AssemblyConvened(_) => {
                Err(broken(RuleCode::EventStreamMatches, "handled before the assembly's rules"))
            }
            DomainEvent::SelectionPlanned(plan) => {
                if selection.plan.is_some() {
                    return Err(broken(RuleCode::SelectionPlannedOnce, "the selection is already planned"));
                }
                if plan.panel_size != self.convened.panel_size {
                    return Err(broken(
                        RuleCode::SelectionPanelSizeMatches,
                        format!(
                            "the plan fills {} seats; the assembly has {}",
                            plan.panel_size, self.convened.panel_size
                        ),
                    ));
                }
                let mut by_feature: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
                for quota in &plan.quotas {
                    let entry = by_feature.entry(&quota.feature).or_default();
                    entry.0 += quota.min as u64;
                    entry.1 += quota.max as u64;
                }
                for (feature, (min_sum, max_sum)) in by_feature {
                    if min_sum > plan.panel_size as u64 || max_sum < plan.panel_size as u64 {
                        return Err(broken(
                            RuleCode::SelectionQuotasCanFillPanel,
                            format!("feature {feature}: minimums sum to {min_sum} and maximums to {max_sum}, which cannot fill {} seats", plan.panel_size),
                        ));
                    }
                }
                Ok(Acceptance::default())
            }
            DomainEvent::PoolRegistered(pool) => {
                let plan = selection
                    .plan
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionPoolAfterPlan, "plan the selection first"))?;
                if selection.pool.is_some() {
                    return Err(broken(RuleCode::SelectionPoolRegisteredOnce, "the pool is already registered"));
                }
                if pool.payload_hash != plan.pool_commitment {
                    return Err(broken(
                        RuleCode::SelectionPoolMatchesCommitment,
                        format!(
                            "the pool's payload hashes to {}, the plan committed to {}",
                            pool.payload_hash, plan.pool_commitment
                        ),
                    ));
                }
                let features: BTreeSet<&str> = plan.quotas.iter().map(|q| q.feature.as_str()).collect();
                for member in &pool.members {
                    let has: BTreeSet<&str> = member.features.iter().map(|(f, _)| f.as_str()).collect();
                    if let Some(missing) = features.iter().find(|f| !has.contains(*f)) {
                        return Err(broken(
                            RuleCode::SelectionPoolHasQuotaFeatures,
                            format!("member {} has no value for feature {missing}", member.id),
                        ));
                    }
                }
                if (pool.members.len() as u64) < plan.panel_size as u64 {
                    return Err(broken(
                        RuleCode::SelectionPoolLargeEnough,
                        format!("{} volunteers cannot fill {} seats", pool.members.len(), plan.panel_size),
                    ));
                }
                selection_instance(plan, pool)
                    .map_err(|e| broken(RuleCode::SelectionPoolValuesHaveQuotas, e.to_string()))?;
                Ok(Acceptance::default())
            }
            DomainEvent::LotteryPublished(lottery) => {
                let instance = selection
                    .instance
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionLotteryAfterPool, "register the pool first"))?;
                if selection.lottery.is_some() {
                    return Err(broken(RuleCode::SelectionLotteryPublishedOnce, "the lottery is already published"));
                }
                if selection.panel_drawn {
                    return Err(broken(RuleCode::SelectionLotteryBeforeDraw, "the panel is already drawn"));
                }
                let total: u128 = lottery.panels.iter().map(|(w, _)| *w as u128).sum();
                if total != klero_draw::WEIGHT_TOTAL as u128 {
                    return Err(broken(
                        RuleCode::SelectionLotteryMeetsQuotas,
                        format!("the weights sum to {total}, not {}", klero_draw::WEIGHT_TOTAL),
                    ));
                }
                if let Some(bad) = lottery
                    .panels
                    .iter()
                    .position(|(_, seats)| seats.len() != instance.types.len() || !instance.panel_meets_quotas(seats))
                {
                    return Err(broken(
                        RuleCode::SelectionLotteryMeetsQuotas,
                        format!(
                            "panel {bad} of the lottery does not give seats to the pool's {} types within the quotas",
                            instance.types.len()
                        ),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::PanelDrawn(drawn) => {
                let plan = selection
                    .plan
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionDrawAfterPool, "plan the selection first"))?;
                let pool = selection
                    .pool
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionDrawAfterPool, "register the pool first"))?;
                if selection.panel_drawn {
                    return Err(broken(RuleCode::SelectionDrawnOnce, "the panel is already drawn"));
                }
                if Hash256::of(&drawn.seed) != plan.seed_commitment {
                    return Err(broken(
                        RuleCode::SelectionSeedMatchesCommitment,
                        "SHA-256 of the revealed seed is not the plan's seed commitment",
                    ));
                }
                let distinct: BTreeSet<&str> = drawn.member_ids.iter().map(String::as_str).collect();
                if distinct.len() != drawn.member_ids.len() || drawn.member_ids.len() as u32 != plan.panel_size {
                    return Err(broken(
                        RuleCode::SelectionPanelSize,
                        format!("the panel must be {} distinct members", plan.panel_size),
                    ));
                }
                if let Some(stranger) = drawn.member_ids.iter().find(|id| !pool.contains_key(*id)) {
                    return Err(broken(RuleCode::SelectionPanelFromPool, format!("{stranger} is not in the pool")));
                }
                check_quotas(&plan.quotas, drawn.member_ids.iter().map(|id| &pool[id]))?;
                if uses_lottery(plan) {
                    let (Some(instance), Some(lottery)) = (&selection.instance, &selection.lottery) else {
                        return Err(broken(
                            RuleCode::SelectionDrawNeedsLottery,
                            "a leximin selection publishes its lottery before the draw",
                        ));
                    };
                    let expected = klero_draw::draw(instance, lottery, &drawn.seed);
                    let mut claimed = drawn.member_ids.clone();
                    claimed.sort();
                    if claimed != expected {
                        return Err(broken(
                            RuleCode::SelectionPanelIsTheDraw,
                            "the seed, applied to the published lottery, draws a different panel",
                        ));
                    }
                }
                Ok(Acceptance::default())
            }
            DomainEvent::MemberWithdrew(withdrew) => {
                self.require_panel(RuleCode::SelectionWithdrawSeated)?;
                if !selection.seated.contains(&withdrew.member_id) {
                    return Err(broken(
                        RuleCode::SelectionWithdrawSeated,
                        format!("{} is not a seated member", withdrew.member_id),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::ReplacementDrawn(replacement) => {
                if !selection.awaiting_replacement.contains(&replacement.withdrawn_member_id) {
                    return Err(broken(
                        RuleCode::SelectionReplaceWithdrawn,
                        format!("{} did not withdraw, or was already replaced", replacement.withdrawn_member_id),
                    ));
                }
                let pool =
                    selection.pool.as_ref().ok_or_else(|| broken(RuleCode::SelectionReplaceWithdrawn, "no pool"))?;
                if !pool.contains_key(&replacement.replacement_member_id) {
                    return Err(broken(
                        RuleCode::SelectionPanelFromPool,
                        format!("{} is not in the pool", replacement.replacement_member_id),
                    ));
                }
                if selection.ever_seated.contains(&replacement.replacement_member_id) {
                    return Err(broken(
                        RuleCode::SelectionReplacementIsNew,
                        format!("{} has already been seated", replacement.replacement_member_id),
                    ));
                }
                if let (Some(instance), Some(_), Some(seed)) =
                    (&selection.instance, &selection.lottery, &selection.seed)
                {
                    let ever_seated: Vec<String> = selection.ever_seated.iter().cloned().collect();
                    let expected =
                        klero_draw::draw_replacement(instance, seed, &replacement.withdrawn_member_id, &ever_seated)
                            .map_err(|e| broken(RuleCode::SelectionReplacementIsTheDraw, e.to_string()))?;
                    if expected != replacement.replacement_member_id {
                        return Err(broken(
                            RuleCode::SelectionReplacementIsTheDraw,
                            format!("the seed draws {expected} to replace {}", replacement.withdrawn_member_id),
                        ));
                    }
                }
                Ok(Acceptance::default())
            }
            DomainEvent::SessionHeld(session) => {
                self.require_panel(RuleCode::DeliberationAfterPanel)?;
                if session.session_number != self.sessions_held + 1 {
                    return Err(broken(
                        RuleCode::DeliberationSessionSequence,
                        format!("the next session is number {}", self.sessions_held + 1),
                    ));
                }
                if session.attendance_count > self.seated_count() {
                    return Err(broken(
                        RuleCode::DeliberationAttendanceWithinPanel,
                        format!(
                            "attendance {} exceeds the {} seated members",
                            session.attendance_count,
                            self.seated_count()
                        ),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::EvidencePresented(evidence) => {
                if evidence.session_number == 0 || evidence.session_number > self.sessions_held {
                    return Err(broken(
                        RuleCode::DeliberationEvidenceAtHeldSession,
                        format!("session {} has not been held", evidence.session_number),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::PublicSubmissionReceived(_) => Ok(Acceptance::default()),
            DomainEvent::PersonalDataRetentionSet(_) => {
                if let Some(days) = self.retention_days {
                    return Err(broken(
                        RuleCode::PrivacyRetentionSetOnce,
                        format!("the retention period is already set, to {days} days"),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::ContentErased(erased) => {
                let item = self.personal_items.get(&erased.event_hash).ok_or_else(|| {
                    broken(
                        RuleCode::PrivacyErasureNamesPersonalContent,
                        format!(
                            "{} is not the event hash of an event of this assembly that holds sealed text or a \
                             personal document (plain text in the log cannot be erased)",
                            erased.event_hash
                        ),
                    )
                })?;
                if let Some(erasure) = &item.erasure {
                    return Err(broken(
                        RuleCode::PrivacyErasedOnce,
                        format!("its content was already erased, at log index {}", erasure.log_index),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::RecommendationDrafted(draft) => {
                self.require_panel(RuleCode::RecommendationAfterPanel)?;
                if self.recommendations.contains_key(&draft.recommendation_id) {
                    return Err(broken(
                        RuleCode::RecommendationIdUnique,
                        format!("recommendation {} already exists", draft.recommendation_id),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::RecommendationAmended(amended) => {
                self.drafted(&amended.recommendation_id).map(|_| Acceptance::default())
            }
            DomainEvent::RecommendationWithdrawn(withdrawn) => {
                self.drafted(&withdrawn.recommendation_id).map(|_| Acceptance::default())
            }
            DomainEvent::VoteRecorded(vote) => {
                self.drafted(&vote.recommendation_id)?;
                let cast = vote.tally.in_favour as u64 + vote.tally.against as u64 + vote.tally.abstaining as u64;
                if cast > self.seated_count() as u64 {
                    return Err(broken(
                        RuleCode::RecommendationVoteWithinPanel,
                        format!("{cast} votes exceed the {} seated members", self.seated_count()),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::RecommendationAdopted(adopted) => {
                let recommendation = self.drafted(&adopted.recommendation_id)?;
                let vote = recommendation.last_vote.ok_or_else(|| {
                    broken(
                        RuleCode::RecommendationAdoptionNeedsVote,
                        "no vote has been recorded since the last draft or amendment",
                    )
                })?;
                if vote != adopted.tally {
                    return Err(broken(
                        RuleCode::RecommendationAdoptionMatchesVote,
                        "the adoption's tally differs from the last recorded vote",
                    ));
                }
                let decisive = vote.in_favour as u64 + vote.against as u64;
                let threshold = self.convened.adoption_threshold_percent as u64;
                if vote.in_favour == 0 || (vote.in_favour as u64) * 100 < threshold * decisive {
                    return Err(broken(
                        RuleCode::RecommendationAdoptionMeetsThreshold,
                        format!("{} of {} votes cast is below the {threshold}% threshold", vote.in_favour, decisive),
                    ));
                }
                if adopted.final_text_hash != recommendation.text_hash {
                    return Err(broken(
                        RuleCode::RecommendationAdoptionFinalText,
                        "the final text hash is not the latest draft or amendment",
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::FinalReportPublished(_) => {
                if self.final_report.is_some() {
                    return Err(broken(RuleCode::RecommendationReportOnce, "the final report is already published"));
                }
                if self.adopted_by_hash.is_empty() {
                    return Err(broken(
                        RuleCode::RecommendationReportAfterAdoption,
                        "no recommendation has been adopted",
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::ResponseIssued(issued) => {
                let id = self.adopted(&issued.recommendation_event_hash)?;
                if self.responses.contains_key(&issued.recommendation_event_hash) {
                    return Err(broken(
                        RuleCode::ResponseOncePerRecommendation,
                        format!("recommendation {id} already has a response; amend it instead"),
                    ));
                }
                Ok(Acceptance { late: self.is_late(&issued.recommendation_event_hash, proposal.recorded_at_unix_ms) })
            }
            DomainEvent::ResponseAmended(amended) => {
                let id = self.adopted(&amended.recommendation_event_hash)?;
                if !self.responses.contains_key(&amended.recommendation_event_hash) {
                    return Err(broken(
                        RuleCode::ResponseAmendExisting,
                        format!("recommendation {id} has no response to amend"),
                    ));
                }
                Ok(Acceptance::default())
            }
            DomainEvent::RecommendationInputsCited(cited) => {
                let recommendation = self.recommendations.get(&cited.recommendation_id).ok_or_else(|| {
                    broken(
                        RuleCode::RecommendationExists,
                        format!("recommendation {} does not exist", cited.recommendation_id),
                    )
                })?;
                if recommendation.status == RecommendationStatus::Withdrawn {
                    return Err(broken(
                        RuleCode::CitationCurrentText,
                        format!("recommendation {} is withdrawn", cited.recommendation_id),
                    ));
                }
                if recommendation.text_hash != cited.text_hash {
                    return Err(broken(
                        RuleCode::CitationCurrentText,
                        format!(
                            "text {} is not the current text of {} (its draft or last amendment)",
                            cited.text_hash, cited.recommendation_id
                        ),
                    ));
                }
                self.check_citations(&cited.citations)
            }
            DomainEvent::ResponseInputsConsidered(considered) => {
                let id = self.adopted(&considered.recommendation_event_hash)?;
                if !self.responses.contains_key(&considered.recommendation_event_hash) {
                    return Err(broken(
                        RuleCode::CitationAfterResponse,
                        format!("recommendation {id} has no response yet: issue it, then record what it considered"),
                    ));
                }
                self.check_citations(&considered.citations)
            }
            DomainEvent::ImplementationUpdated(update) => {
                let id = self.adopted(&update.recommendation_event_hash)?;
                let response = self.responses.get(&update.recommendation_event_hash).ok_or_else(|| {
                    broken(
                        RuleCode::ResponseImplementationNeedsAcceptance,
                        format!("recommendation {id} has no response yet"),
                    )
                })?;
                if !response.decision.accepts() {
                    return Err(broken(
                        RuleCode::ResponseImplementationNeedsAcceptance,
                        format!("the response to {id} is {}, not accepted", response.decision.as_str()),
                    ));
                }
                Ok(Acceptance::default())
            }
        }
    }

    /// `citation.names_recorded_input`: every citation names evidence or a public submission
    /// already recorded in this assembly.
    fn check_citations(&self, citations: &[InputCitation]) -> Result<Acceptance, Rejection> {
        if let Some((index, citation)) =
            citations.iter().enumerate().find(|(_, c)| !self.inputs.contains_key(&c.input_event_hash))
        {
            return Err(broken(
                RuleCode::CitationNamesRecordedInput,
                format!(
                    "citations[{index}] names {}, which is not the event hash of evidence or a public submission recorded in this assembly",
                    citation.input_event_hash
                ),
            ));
        }
        Ok(Acceptance::default())
    }

    /// A response is late if recorded after the deadline counted from the adoption.
    fn is_late(&self, adoption_hash: &Hash256, recorded_at_unix_ms: u64) -> bool {
        let Some(id) = self.adopted_by_hash.get(adoption_hash) else { return false };
        let Some(adopted_at) = self.recommendations.get(id).and_then(|r| r.adopted_at_unix_ms) else { return false };
        recorded_at_unix_ms > response_due_by_unix_ms(adopted_at, self.convened.response_deadline_days)
    }

    fn evolve(&mut self, event: &DomainEvent, recorded: Recorded<'_>) -> Acceptance {
        let mut outcome = Acceptance::default();
        if event.holds_erasable_content() {
            self.personal_items.insert(
                recorded.event_hash,
                PersonalItem {
                    log_index: recorded.log_index,
                    recorded_at_unix_ms: recorded.recorded_at_unix_ms,
                    erasure: None,
                },
            );
        }
        let selection = &mut self.selection;
        match event {
            DomainEvent::KeyGranted(_) | DomainEvent::KeyRevoked(_) | DomainEvent::AssemblyConvened(_) => {}
            DomainEvent::SelectionPlanned(plan) => selection.plan = Some(plan.clone()),
            DomainEvent::PoolRegistered(pool) => {
                selection.pool =
                    Some(pool.members.iter().map(|m| (m.id.clone(), m.features.iter().cloned().collect())).collect());
                selection.instance = selection.plan.as_ref().and_then(|plan| selection_instance(plan, pool).ok());
            }
            DomainEvent::LotteryPublished(lottery) => {
                let (weights, panels) = lottery.panels.iter().cloned().unzip();
                selection.lottery = Some(klero_draw::PublishedLottery { panels, weights });
            }
            DomainEvent::PanelDrawn(drawn) => {
                selection.panel_drawn = true;
                selection.seed = Some(drawn.seed.clone());
                selection.seated = drawn.member_ids.iter().cloned().collect();
                selection.ever_seated = selection.seated.clone();
            }
            DomainEvent::MemberWithdrew(withdrew) => {
                selection.seated.remove(&withdrew.member_id);
                selection.awaiting_replacement.insert(withdrew.member_id.clone());
                selection.withdrawals += 1;
            }
            DomainEvent::ReplacementDrawn(replacement) => {
                selection.awaiting_replacement.remove(&replacement.withdrawn_member_id);
                selection.seated.insert(replacement.replacement_member_id.clone());
                selection.ever_seated.insert(replacement.replacement_member_id.clone());
            }
            DomainEvent::SessionHeld(_) => self.sessions_held += 1,
            DomainEvent::EvidencePresented(_) => {
                self.evidence_presented += 1;
                self.inputs.insert(recorded.event_hash, InputKind::Evidence);
            }
            DomainEvent::PublicSubmissionReceived(_) => {
                self.public_submissions += 1;
                self.inputs.insert(recorded.event_hash, InputKind::PublicSubmission);
            }
            DomainEvent::RecommendationInputsCited(_) | DomainEvent::ResponseInputsConsidered(_) => {}
            DomainEvent::PersonalDataRetentionSet(set) => self.retention_days = Some(set.retention_days),
            DomainEvent::ContentErased(erased) => {
                if let Some(item) = self.personal_items.get_mut(&erased.event_hash) {
                    item.erasure = Some(Erasure {
                        erased_on: erased.erased_on,
                        legal_basis: erased.legal_basis.clone(),
                        log_index: recorded.log_index,
                    });
                }
            }
            DomainEvent::RecommendationDrafted(draft) => {
                self.recommendations.insert(
                    draft.recommendation_id.clone(),
                    RecommendationState {
                        status: RecommendationStatus::Drafted,
                        title: draft.title.clone(),
                        text_hash: draft.text_hash,
                        amendments: 0,
                        last_vote: None,
                        adopted_event_hash: None,
                        adopted_at_unix_ms: None,
                    },
                );
            }
            DomainEvent::RecommendationAmended(amended) => {
                if let Some(r) = self.recommendations.get_mut(&amended.recommendation_id) {
                    r.text_hash = amended.text_hash;
                    r.amendments += 1;
                    r.last_vote = None; // a vote on the old text does not carry over
                }
            }
            DomainEvent::RecommendationWithdrawn(withdrawn) => {
                if let Some(r) = self.recommendations.get_mut(&withdrawn.recommendation_id) {
                    r.status = RecommendationStatus::Withdrawn;
                }
            }
            DomainEvent::VoteRecorded(vote) => {
                if let Some(r) = self.recommendations.get_mut(&vote.recommendation_id) {
                    r.last_vote = Some(vote.tally);
                }
            }
            DomainEvent::RecommendationAdopted(adopted) => {
                if let Some(r) = self.recommendations.get_mut(&adopted.recommendation_id) {
                    r.status = RecommendationStatus::Adopted;
                    r.adopted_event_hash = Some(recorded.event_hash);
                    r.adopted_at_unix_ms = Some(recorded.recorded_at_unix_ms);
                }
                self.adopted_by_hash.insert(recorded.event_hash, adopted.recommendation_id.clone());
            }
            DomainEvent::FinalReportPublished(report) => self.final_report = Some(report.content_hash),
            DomainEvent::ResponseIssued(issued) => {
                let late = self.is_late(&issued.recommendation_event_hash, recorded.recorded_at_unix_ms);
                outcome.late = late;
                let recommendation_id =
                    self.adopted_by_hash.get(&issued.recommendation_event_hash).cloned().unwrap_or_default();
                self.responses.insert(
                    issued.recommendation_event_hash,
                    ResponseState {
                        recommendation_id,
                        decision: issued.decision,
                        late,
                        amendments: 0,
                        implementation_updates: 0,
                    },
                );
            }
            DomainEvent::ResponseAmended(amended) => {
                if let Some(response) = self.responses.get_mut(&amended.recommendation_event_hash) {
                    response.decision = amended.decision;
                    response.amendments += 1;
                }
            }
            DomainEvent::ImplementationUpdated(update) => {
                if let Some(response) = self.responses.get_mut(&update.recommendation_event_hash) {
                    response.implementation_updates += 1;
                }
            }
        }
        outcome
    }
}

fn selection_instance(
    plan: &SelectionPlanned,
    pool: &PoolRegistered,
) -> Result<klero_draw::Instance, klero_draw::PoolError> {
    let people = pool.members.iter().map(|member| {
        let value_of = |feature: &str| member.features.iter().find(|(f, _)| f == feature).map(|(_, v)| v.as_str());
        (member.id.as_str(), value_of)
    });
    klero_draw::Instance::group(&plan.quotas, people, plan.panel_size)
}

/// Whether the plan commits to drawing from a published LEXIMIN lottery.
fn uses_lottery(plan: &SelectionPlanned) -> bool {
    plan.algorithm == "leximin"
}

/// Counts the panel's members per (feature, value) and checks every quota.
fn check_quotas<'a>(
    quotas: &[Quota],
    members: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> Result<(), Rejection> {
    let mut counts: HashMap<(&str, &str), u32> = HashMap::new();
    let members: Vec<&BTreeMap<String, String>> = members.collect();
    for quota in quotas {
        counts.insert((&quota.feature, &quota.value), 0);
    }
    for member in &members {
        for (feature, value) in member.iter() {
            if let Some(count) = counts.get_mut(&(feature.as_str(), value.as_str())) {
                *count += 1;
            }
        }
    }
    for quota in quotas {
        let count = counts[&(quota.feature.as_str(), quota.value.as_str())];
        if count < quota.min || count > quota.max {
            return Err(broken(
                RuleCode::SelectionPanelMeetsQuotas,
                format!("{} = {}: {count} seats, quota {}..={}", quota.feature, quota.value, quota.min, quota.max),
            ));
        }
    }
    Ok(())
}
