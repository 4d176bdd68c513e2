//! The rules: pure `decide` and `evolve` over the whole domain state, one module per stage
//! (`registry`, `selection`, `deliberation`, `recommendation`, `response`, `privacy`), each
//! matching exhaustively over its own stage's events ([`StageEvent`]); this module checks the
//! stream and the authority and dispatches.
//!
//! Authors submit signed events, so the "command" is the proposed event itself:
//! [`DomainState::decide`] accepts it (saying whether it is late) or rejects it, naming the
//! rule; [`DomainState::evolve`] folds an accepted, recorded event into the state. Neither reads
//! a clock or does I/O: the recording time and the event hash are passed in.
//! Every rule is listed, with its code, in docs/RULES.md.

use crate::events::*;
use crate::spill::SpillFiles;
use crate::tables::{EventTables, InputRow, InputTable, PersonalRow, TableHeads, TableName};
use crate::types::*;
use klero_ledger::Hash256;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

mod deliberation;
mod participation;
mod privacy;
mod recommendation;
mod registry;
mod response;
mod selection;
mod state;

pub use participation::{CallState, ResidentSubmissionState};
pub use state::*;

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
    RegistryCouncilRootOnly = "registry.council_root_only",
    RegistryScopeInCouncil = "registry.scope_in_council",
    CouncilRegisteredFirst = "council.registered_first",
    CouncilRegisteredOnce = "council.registered_once",
    CouncilRootDistinct = "council.root_distinct",
    AuthorityRoleRequired = "authority.role_required",
    AuthorityKeyRevoked = "authority.key_revoked",
    AuthoritySubmitterOnly = "authority.submitter_only",
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
    SelectionPanelKeepsHouseholdsApart = "selection.panel_keeps_households_apart",
    SelectionPoolValuesHaveQuotas = "selection.pool_values_have_quotas",
    SelectionQuotasFeasible = "selection.quotas_feasible",
    SelectionLotteryAfterPool = "selection.lottery_after_pool",
    SelectionLotteryPublishedOnce = "selection.lottery_published_once",
    SelectionLotteryBeforeDraw = "selection.lottery_before_draw",
    SelectionLotteryMeetsQuotas = "selection.lottery_meets_quotas",
    SelectionLotteryKeepsHouseholdsApart = "selection.lottery_keeps_households_apart",
    SelectionDrawNeedsLottery = "selection.draw_needs_lottery",
    SelectionPanelIsTheDraw = "selection.panel_is_the_draw",
    SelectionReplacementIsTheDraw = "selection.replacement_is_the_draw",
    SelectionReservesAreTheDraw = "selection.reserves_are_the_draw",
    SelectionRelaxationBeforeLottery = "selection.relaxation_before_lottery",
    SelectionRelaxationOnlyRelaxes = "selection.relaxation_only_relaxes",
    SelectionLettersPlannedOnce = "selection.letters_planned_once",
    SelectionLettersAddUp = "selection.letters_add_up",
    SelectionLettersBeforePool = "selection.letters_before_pool",
    SelectionLettersDrawnAfterPlan = "selection.letters_drawn_after_plan",
    SelectionLettersSeedMatchesCommitment = "selection.letters_seed_matches_commitment",
    SelectionPoolLettersNeedDraw = "selection.pool_letters_need_draw",
    SelectionWithdrawSeated = "selection.withdraw_seated",
    SelectionReplaceWithdrawn = "selection.replace_withdrawn",
    SelectionReplacementIsNew = "selection.replacement_is_new",
    DeliberationAfterPanel = "deliberation.after_panel",
    DeliberationSessionSequence = "deliberation.session_sequence",
    DeliberationAttendanceWithinPanel = "deliberation.attendance_within_panel",
    DeliberationEvidenceAtHeldSession = "deliberation.evidence_at_held_session",
    CallIdUnique = "call.id_unique",
    CallDatesOrdered = "call.dates_ordered",
    CallNamesDraftedRecommendation = "call.names_drafted_recommendation",
    CallExists = "call.exists",
    CallOpen = "call.open",
    CallWithinLimits = "call.within_limits",
    CallOnePerKey = "call.one_per_key",
    CallProofOfWork = "call.proof_of_work",
    ModerationNamesResidentSubmission = "moderation.names_resident_submission",
    ModerationNotOwn = "moderation.not_own",
    ModerationReasonInPolicy = "moderation.reason_in_policy",
    ModerationDecidedOnce = "moderation.decided_once",
    ModerationSecondByAnother = "moderation.second_by_another",
    ModerationAppealAfterWithhold = "moderation.appeal_after_withhold",
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
    CitationPublishedOnly = "citation.published_only",
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
    /// A resident's event, by a key no grant names: a submission signed in the browser inside
    /// an open call, or its author's appeal.
    Resident,
}

/// A council registered by the platform: its own trust root and the grants that root made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CouncilState {
    pub name: String,
    pub root_public_key: [u8; 32],
    pub registered_at_log_index: u64,
    /// The council's grants, in log order; they cover only the council's assemblies.
    pub grants: Vec<Grant>,
}

/// Everything the rules need: the registries (the platform's and each council's) and every
/// assembly.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DomainState {
    trust_root: [u8; 32],
    /// The platform's grants: they cover the assemblies that belong to no council.
    grants: Vec<Grant>,
    /// Snapshots written before councils existed hold none.
    #[serde(default)]
    councils: BTreeMap<CouncilId, CouncilState>,
    assemblies: BTreeMap<AssemblyId, AssemblyState>,
    /// Assembly ids in the order they were convened.
    convened_order: Vec<AssemblyId>,
    /// What grows with the log, one row an event: every assembly's inputs, which citations
    /// must name (the views list them too), and its events that hold personal content. A
    /// snapshot keeps them beside its text ([`DomainState::tables`]).
    #[serde(skip)]
    tables: EventTables,
}

impl DomainState {
    /// An empty state whose registry is governed by `trust_root` (the council's public key).
    pub fn new(trust_root: [u8; 32]) -> DomainState {
        DomainState {
            trust_root,
            grants: Vec::new(),
            councils: BTreeMap::new(),
            assemblies: BTreeMap::new(),
            convened_order: Vec::new(),
            tables: EventTables::default(),
        }
    }

    /// What grows with the log, one row an event.
    pub fn tables(&self) -> &EventTables {
        &self.tables
    }

    /// Puts back the tables a snapshot kept beside its text, which the state was read from:
    /// empty ones with the heads' assemblies first, then each table's rows, piece by piece,
    /// then a check that every row came.
    /// With `spill`, the rows leave memory as they come ([`DomainState::spill_tables_to`]).
    pub fn take_up_table_heads(
        &mut self,
        heads: &TableHeads,
        spill: Option<Arc<dyn SpillFiles>>,
    ) -> Result<(), String> {
        self.tables = EventTables::from_heads(heads, spill)?;
        Ok(())
    }

    /// Keeps only the newest rows of the tables in memory from now on; the rest go to files
    /// that `files` makes ([`crate::spill`]). Only empty tables take spill files.
    pub fn spill_tables_to(&mut self, files: Arc<dyn SpillFiles>) {
        self.tables.spill_to(files);
    }

    /// See [`DomainState::take_up_table_heads`].
    pub fn take_up_rows(&mut self, table: TableName, bytes: &[u8]) -> Result<(), String> {
        self.tables.take_up(table, bytes)
    }

    /// See [`DomainState::take_up_table_heads`].
    pub fn check_table_heads(&mut self, heads: &TableHeads) -> Result<(), String> {
        self.tables.check_heads(heads)
    }

    /// Every assembly's inputs: evidence and public submissions, each where it was recorded.
    pub fn inputs(&self) -> &InputTable {
        &self.tables.inputs
    }

    /// The event of `assembly` with this hash, if it holds erasable personal content.
    pub fn personal_item(&self, assembly: &AssemblyId, event_hash: &Hash256) -> Option<PersonalItem> {
        let row = self.tables.personal_row(assembly, event_hash)?;
        Some(PersonalItem {
            log_index: row.log_index,
            recorded_at_unix_ms: row.recorded_at_unix_ms,
            erasure: self.assemblies.get(assembly)?.erasures.get(event_hash).cloned(),
        })
    }

    /// `assembly`'s events that hold erasable personal content, in log order.
    pub fn personal_items<'a>(&'a self, assembly: &AssemblyId) -> impl Iterator<Item = (Hash256, PersonalItem)> + 'a {
        let erasures = self.assemblies.get(assembly).map(|a| &a.erasures);
        self.tables.personal_rows(assembly).map(move |row| {
            let item = PersonalItem {
                log_index: row.log_index,
                recorded_at_unix_ms: row.recorded_at_unix_ms,
                erasure: erasures.and_then(|e| e.get(&row.event_hash)).cloned(),
            };
            (row.event_hash, item)
        })
    }

    pub fn trust_root(&self) -> &[u8; 32] {
        &self.trust_root
    }
    /// The platform's grants (for the assemblies of no council).
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }
    /// Every registered council, by id.
    pub fn councils(&self) -> &BTreeMap<CouncilId, CouncilState> {
        &self.councils
    }
    /// The grants that can cover an assembly of `council` (`None`: the platform's own).
    pub fn grants_of(&self, council: Option<&str>) -> &[Grant] {
        match council {
            None => &self.grants,
            Some(council) => self.councils.get(council).map_or(&[], |c| &c.grants[..]),
        }
    }
    pub fn assembly(&self, id: &AssemblyId) -> Option<&AssemblyState> {
        self.assemblies.get(id)
    }
    pub fn assembly_ids(&self) -> &[AssemblyId] {
        &self.convened_order
    }

    fn holds_role_str(&self, key: &[u8; 32], role: Role, assembly: &str) -> bool {
        self.role_grant(key, role, assembly).is_ok()
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
            return self.authorise_registry(event, proposal);
        };
        if let Some(council) = council_of_assembly(assembly_id) {
            if !self.councils.contains_key(council) {
                return Err(broken(
                    RuleCode::CouncilRegisteredFirst,
                    format!("council {council} is not registered, so assembly {assembly_id} cannot act"),
                ));
            }
        }
        if event.authority() == Authority::Resident {
            return self.authorise_resident(event, assembly_id, proposal.author);
        }
        let role = event
            .authority()
            .role()
            .ok_or_else(|| broken(RuleCode::EventStreamMatches, "registry events go in the registry stream"))?;
        self.role_grant(proposal.author, role, assembly_id).map(AuthorisedBy::Grant)
    }

    /// The unrevoked grant of `role` for `assembly` to `key`, or the refusal that names why
    /// there is none (`authority.key_revoked` when one was revoked, else
    /// `authority.role_required`): the one check of a role, for every event that needs one.
    pub(super) fn role_grant(&self, key: &[u8; 32], role: Role, assembly: &str) -> Result<&Grant, Rejection> {
        // A council's assembly is covered only by its council's grants, and the platform's own
        // assemblies only by the platform's: no key reaches across.
        let grants = self.grants_of(council_of_assembly(assembly));
        let held = |g: &&Grant| g.public_key == *key && g.role == role && g.scope.covers_str(assembly);
        if let Some(grant) = grants.iter().filter(held).find(|g| g.revoked_at_log_index.is_none()) {
            return Ok(grant);
        }
        let revoked = grants.iter().any(|g| held(&g));
        Err(Rejection::NotAuthorised {
            rule: if revoked { RuleCode::AuthorityKeyRevoked } else { RuleCode::AuthorityRoleRequired },
            message: if revoked {
                format!("the author's {role} grant for assembly {assembly} was revoked")
            } else {
                format!("the author's key holds no {role} grant for assembly {assembly}")
            },
        })
    }

    /// Accepts or rejects a proposed event: stream, authority, then the stage's rules.
    pub fn decide(&self, event: &DomainEvent, proposal: Proposal<'_>) -> Result<Acceptance, Rejection> {
        self.decide_with(event, proposal, &self.tables)
    }

    /// [`DomainState::decide`], reading the rows of `tables`: a batch's scratch state reads
    /// the whole state's.
    fn decide_with(
        &self,
        event: &DomainEvent,
        proposal: Proposal<'_>,
        tables: &EventTables,
    ) -> Result<Acceptance, Rejection> {
        let authorised = self.authorise(event, proposal)?;
        let assembly_id = match (authorised, StreamKind::parse_stream_str(proposal.stream)) {
            (AuthorisedBy::Grant(_) | AuthorisedBy::Resident, Some((_, Some(assembly_id)))) => assembly_id,
            _ => {
                return match event.stage() {
                    StageEvent::Registry(event) => self.decide_registry(event, proposal.stream),
                    _ => Err(broken(RuleCode::EventStreamMatches, "only registry events go in the registry stream")),
                }
            }
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
        assembly.decide(event, proposal, tables)
    }

    /// Decides a batch of events for one stream, each against the state the earlier ones leave.
    /// Works on a scratch copy of only the registry and the stream's assembly. On rejection it
    /// returns the index of the first event refused.
    pub fn decide_batch(
        &self,
        events: &[DomainEvent],
        proposal: Proposal<'_>,
    ) -> Result<Vec<Acceptance>, (usize, Rejection)> {
        // Only what the stream's events can read: its assembly and that assembly's council (a
        // registry stream may read every council: a registration checks their roots).
        let stream = StreamKind::parse_stream(proposal.stream);
        let councils = match &stream {
            Some((_, Some(id))) => id
                .council()
                .and_then(|council| self.councils.get_key_value(council))
                .map(|(id, council)| BTreeMap::from([(id.clone(), council.clone())]))
                .unwrap_or_default(),
            _ => self.councils.clone(),
        };
        let mut scratch = DomainState {
            trust_root: self.trust_root,
            grants: self.grants.clone(),
            councils,
            assemblies: BTreeMap::new(),
            convened_order: Vec::new(),
            // Only what the batch adds, which nothing later in it can name (see below).
            tables: EventTables::default(),
        };
        if let Some((_, Some(id))) = stream {
            if let Some(assembly) = self.assemblies.get(&id) {
                scratch.assemblies.insert(id, assembly.clone());
            }
        }
        let mut acceptances = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            acceptances
                .push(scratch.decide_with(event, proposal, &self.tables).map_err(|rejection| (index, rejection))?);
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
                    let decided = assembly.decide(event, proposal, &self.tables)?;
                    let evolved = assembly.evolve(event, recorded);
                    assert_eq!(decided, evolved, "decide and evolve disagree at log index {}", recorded.log_index);
                    Self::record_rows(&mut self.tables, &assembly.convened.assembly_id, event, recorded);
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
                if let StageEvent::Registry(event) = event.stage() {
                    self.evolve_registry(event, recorded, registry_of_stream(recorded.stream).flatten());
                }
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
                    retention_days: None,
                    erasures: HashMap::new(),
                    calls: BTreeMap::new(),
                    resident_submissions: HashMap::new(),
                },
            );
            return Acceptance::default();
        }
        match self.assemblies.get_mut(assembly_id) {
            Some(assembly) => {
                let evolved = assembly.evolve(event, recorded);
                Self::record_rows(&mut self.tables, &assembly.convened.assembly_id, event, recorded);
                evolved
            }
            None => Acceptance::default(),
        }
    }

    fn record_rows(tables: &mut EventTables, assembly_id: &AssemblyId, event: &DomainEvent, recorded: Recorded<'_>) {
        let personal = event.holds_erasable_content();
        if let Some((kind, content_hash, sealed)) = event.as_input() {
            let row = InputRow {
                kind,
                event_hash: recorded.event_hash,
                log_index: recorded.log_index,
                recorded_at_unix_ms: recorded.recorded_at_unix_ms,
                content_hash,
                sealed,
                personal,
            };
            tables.inputs.push(assembly_id, row);
        } else if personal {
            let row = PersonalRow {
                event_hash: recorded.event_hash,
                log_index: recorded.log_index,
                recorded_at_unix_ms: recorded.recorded_at_unix_ms,
            };
            tables.personal.push(assembly_id, row);
        }
    }
}

impl AssemblyState {
    /// Seats currently filled on the panel.
    pub fn seated_count(&self) -> u32 {
        self.selection.seated.len() as u32
    }

    /// The rules of the event's stage, for an event of this assembly.
    fn decide(
        &self,
        event: &DomainEvent,
        proposal: Proposal<'_>,
        tables: &EventTables,
    ) -> Result<Acceptance, Rejection> {
        match event.stage() {
            StageEvent::Registry(_) => Err(broken(RuleCode::EventStreamMatches, "handled before the assembly's rules")),
            StageEvent::Assembly(event) => self.decide_privacy(event, tables),
            StageEvent::Selection(event) => self.selection.decide(event, &self.convened),
            StageEvent::Deliberation(event) => self.decide_deliberation(event, proposal),
            StageEvent::Recommendation(event) => self.decide_recommendation(event, &tables.inputs),
            StageEvent::Response(event) => self.decide_response(event, proposal, &tables.inputs),
        }
    }

    /// Folds in an event of this assembly that `decide` accepted.
    fn evolve(&mut self, event: &DomainEvent, recorded: Recorded<'_>) -> Acceptance {
        match event.stage() {
            StageEvent::Registry(_) => {}
            StageEvent::Assembly(event) => self.evolve_privacy(event, recorded),
            StageEvent::Selection(event) => self.selection.evolve(event),
            StageEvent::Deliberation(event) => self.evolve_deliberation(event, recorded),
            StageEvent::Recommendation(event) => self.evolve_recommendation(event, recorded),
            StageEvent::Response(event) => return self.evolve_response(event, recorded),
        }
        Acceptance::default()
    }
}
