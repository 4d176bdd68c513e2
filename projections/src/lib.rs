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

mod kept;
mod render;

use kept::*;

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

/// One input of an assembly, as [`Views::inputs_of`] gives it.
#[derive(Clone, Copy, Debug)]
pub struct InputOf {
    pub kind: InputKind,
    pub event_hash: Hash256,
    /// The document it commits to; `None` for text sealed in the event itself.
    pub document: Option<Hash256>,
    pub log_index: u64,
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

/// The views as of the fold, ready to render: what the views keep, and the inputs, which the
/// domain keeps for both (`klero_domain::InputTable`).
#[derive(Clone, Copy, Debug)]
pub struct Views<'a> {
    kept: &'a ViewSet,
    inputs: &'a InputTable,
}

impl std::ops::Deref for Views<'_> {
    type Target = ViewSet;
    fn deref(&self) -> &ViewSet {
        self.kept
    }
}

impl<'a> Views<'a> {
    /// `kept`'s views, with the inputs of the domain state folded from the same events.
    pub fn new(kept: &'a ViewSet, inputs: &'a InputTable) -> Views<'a> {
        Views { kept, inputs }
    }

    /// Every input (evidence, public submission) of every assembly, in log order within each:
    /// (assembly, kind, event hash, content hash, log index).
    pub fn inputs(&self) -> impl Iterator<Item = (&'a AssemblyId, InputKind, Hash256, Hash256, u64)> + 'a {
        self.inputs.iter().map(|(id, row)| (id, row.kind, row.event_hash, row.content_hash, row.log_index))
    }

    /// How many inputs there are, over every assembly.
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// One assembly's inputs, as [`Views::inputs`] gives them.
    pub fn inputs_of(&self, assembly_id: &AssemblyId) -> impl Iterator<Item = InputOf> + 'a {
        self.inputs.of_assembly(assembly_id).map(|row| InputOf {
            kind: row.kind,
            event_hash: row.event_hash,
            document: row.document(),
            log_index: row.log_index,
        })
    }
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
            DomainEvent::KeyGranted(_)
            | DomainEvent::KeyRevoked(_)
            | DomainEvent::CouncilRegistered(_)
            | DomainEvent::AssemblyConvened(_) => {}
            // The letter lottery shows on its events' pages; no view counts letters (FORMAT.md §7).
            DomainEvent::LettersPlanned(_) | DomainEvent::LettersDrawn(_) => {}
            DomainEvent::SelectionPlanned(plan) => {
                views.quotas = plan.quotas.clone();
                views.timeline.push(milestone(MilestoneKind::SelectionPlanned, &record));
            }
            DomainEvent::PoolRegistered(pool) => {
                views.pool =
                    pool.members.iter().map(|m| (m.id.clone(), m.features.iter().cloned().collect())).collect();
                views.timeline.push(milestone(MilestoneKind::PoolRegistered, &record));
            }
            DomainEvent::QuotasRelaxed(relaxed) => views.relaxation = Some(relaxed.clone()),
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
            }
            DomainEvent::PublicSubmissionReceived(submission) => {
                *views.submissions_by_day.entry(submission.received_on).or_insert(0) += 1;
            }
            DomainEvent::CallOpened(call) => {
                views.calls.insert(
                    call.call_id.clone(),
                    CallKept { opened: call.clone(), log_index: record.log_index, closed: None },
                );
            }
            DomainEvent::CallClosed(closed) => {
                if let Some(call) = views.calls.get_mut(&closed.call_id) {
                    call.closed = Some((record.log_index, closed.reason.clone()));
                }
            }
            DomainEvent::ResidentSubmitted(submitted) => {
                let day = Date((record.recorded_at_unix_ms / klero_domain::rules::DAY_MS) as i64);
                *views.submissions_by_day.entry(day).or_insert(0) += 1;
                views.resident.insert(
                    record.event_hash,
                    ResidentKept {
                        call_id: submitted.call_id.clone(),
                        path: submitted.path,
                        decisions: Vec::new(),
                        appealed_log_index: None,
                    },
                );
            }
            DomainEvent::SubmissionModerated(moderated) => {
                if let Some(submission) = views.resident.get_mut(&moderated.submission_event_hash) {
                    submission.decisions.push((moderated.decision, moderated.reason.clone(), record.log_index));
                }
            }
            DomainEvent::ModerationAppealed(appealed) => {
                if let Some(submission) = views.resident.get_mut(&appealed.submission_event_hash) {
                    submission.appealed_log_index = Some(record.log_index);
                }
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
                    planned_max: None,
                    planned_min: None,
                    seated: 1,
                    value: "v".into(),
                    within_quota: true,
                }],
                relaxation_reason: None,
                replacements: 0,
                seated: 1,
                withdrawals: 0,
            })
            .unwrap(),
            serde_json::to_string(&DeliberationRecord {
                calls: vec![CallEntry {
                    appeals: 1,
                    call_id: "c".into(),
                    closed: Some(CallClosedEntry { log_index: 1, reason: "r".into() }),
                    closes_on: date,
                    consent_hash: hash,
                    log_index: 0,
                    moderation_policy_hash: hash,
                    names_asked: true,
                    one_per_key: true,
                    opens_on: date,
                    prompt: "p".into(),
                    recommendation_id: Some("R1".into()),
                    retention_days: 1,
                    proof_of_work_bits: 0,
                    submissions: CallCounts {
                        by_browser: 1,
                        by_web_form: 1,
                        pending: 0,
                        published: 1,
                        received: 2,
                        withheld: 1,
                    },
                    text_bytes_max: 1,
                    withheld_by_reason: [("off_topic".to_string(), 1)].into_iter().collect(),
                    withhold_reasons: vec!["off_topic".into()],
                }],
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
                    call_id: Some("c".into()),
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
                    moderation: Some(ModerationEntry {
                        appealed_log_index: Some(2),
                        decisions: vec![ModerationDecisionEntry {
                            decision: "withhold".into(),
                            log_index: 1,
                            reason: Some("off_topic".into()),
                        }],
                        state: "withheld".into(),
                    }),
                    outcomes: vec![Outcome {
                        adoption_event_hash: Some(hash),
                        implementation: vec![update],
                        recommendation_id: "R1".into(),
                        response: Some(answer),
                        status: RecommendationStatus::Withdrawn,
                    }],
                    path: Some("browser".into()),
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
