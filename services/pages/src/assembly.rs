//! The assembly page and its open-data page, from an assembly's slice.

use crate::chart::{quota_chart, QuotaRow};
use crate::format::{self, date_words, day_words};
use crate::{Chrome, DocumentShown, ErasureNotice, PageError, PersonalShown, RenderedPage};
use askama::Template;
use klero_domain::{AssemblyId, DomainEvent, InputKind, StreamKind};
use klero_fold::LogFold;
use klero_ledger::Hash256;
use klero_projections::views::*;
use klero_projections::ViewName;
use klero_verifier::slice::VerifiedSlice;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct Milestone {
    pub what: String,
    /// The day it was recorded in the log.
    pub when: String,
    /// The day it happened, where the record gives one (a session's `held_on`), in words
    /// and ISO form.
    pub happened: Option<(String, String)>,
    pub log_index: u64,
}

#[derive(Clone, Debug)]
pub struct Replacement {
    pub withdrawn: String,
    pub replacement: String,
    pub log_index: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub pool_size: u64,
    pub seated: u64,
    pub withdrawals: u64,
    pub replacements: Vec<Replacement>,
    pub quotas: Vec<QuotaRow>,
    /// Why the quotas were relaxed, when they were: the table then shows planned and relaxed
    /// bounds side by side.
    pub relaxation_reason: Option<String>,
    pub chart_svg: String,
    /// The lowest and highest chance of selection any volunteer had under the lottery.
    pub chances: Option<(String, String)>,
    pub lottery_panels: usize,
    pub plan_log_index: Option<u64>,
    pub seed_commitment: Option<String>,
    pub draw_log_index: Option<u64>,
    pub seed: Option<String>,
    /// Whether the revealed seed hashes to the commitment.
    pub seed_matches: bool,
    pub randomness_source: String,
}

#[derive(Clone, Debug)]
pub struct Evidence {
    pub title: PersonalShown,
    pub speaker_role: String,
    pub media_type: String,
    pub log_index: u64,
    pub document: DocumentShown,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub number: u32,
    pub held_on: String,
    pub held_on_iso: String,
    pub agenda: String,
    pub attendance: u32,
    pub log_index: u64,
    pub evidence: Vec<Evidence>,
}

/// An input cited by a recommendation or considered by a response.
#[derive(Clone, Debug)]
pub struct Citation {
    pub kind: &'static str,
    /// What the input is: the evidence's title, or the submission's number.
    pub describes: String,
    pub input_log_index: Option<u64>,
    pub note: String,
    /// The citing event.
    pub log_index: u64,
}

#[derive(Clone, Debug)]
pub struct AnswerShown {
    pub decision: &'static str,
    pub decision_label: String,
    pub rationale: PersonalShown,
    pub responsible_body: String,
    pub due_on: String,
    pub due_on_iso: String,
    /// What the due date is for, in words, by decision: `None` for an answer that does not
    /// accept (nothing is to be done, so no date is shown).
    pub due_label: Option<&'static str>,
    pub log_index: u64,
    pub recorded: String,
    pub amendment_reason: Option<String>,
}

impl AnswerShown {
    pub(crate) fn of(slice: &VerifiedSlice, answer: &Answer) -> AnswerShown {
        AnswerShown {
            decision: answer.decision.as_str(),
            decision_label: format::decision_label(answer.decision),
            rationale: PersonalShown::of(slice, &answer.rationale),
            responsible_body: answer.responsible_body.clone(),
            due_on: date_words(&answer.due_on.to_string()),
            due_on_iso: answer.due_on.to_string(),
            due_label: match answer.decision {
                klero_domain::Decision::Accepted | klero_domain::Decision::AcceptedInPart => Some("due-to-be-done-by"),
                klero_domain::Decision::ReferredForFurtherStudy => Some("due-study-by"),
                klero_domain::Decision::NotAccepted => None,
            },
            log_index: answer.log_index,
            recorded: day_words(answer.recorded_at_unix_ms),
            amendment_reason: answer.reason_for_amendment.clone(),
        }
    }
}

/// When a quorum of the witnesses attests an answer was recorded by (FORMAT.md §13.6).
#[derive(Clone, Debug)]
pub struct Attested {
    pub time: String,
    /// By the answer's deadline.
    pub in_time: bool,
    pub quorum: u64,
    pub witnesses: u64,
}

#[derive(Clone, Debug)]
pub struct UpdateShown {
    pub status: &'static str,
    pub status_label: String,
    pub progress: u32,
    pub note: PersonalShown,
    pub log_index: u64,
    pub recorded: String,
    pub evidence: Option<DocumentShown>,
}

impl UpdateShown {
    pub(crate) fn of(slice: &VerifiedSlice, update: &ImplementationUpdate) -> UpdateShown {
        UpdateShown {
            status: status_name(update.status),
            status_label: format::status_label(update.status),
            progress: update.progress_percent,
            note: PersonalShown::of(slice, &update.note),
            log_index: update.log_index,
            recorded: day_words(update.recorded_at_unix_ms),
            evidence: update.evidence_hash.map(|hash| DocumentShown::of(slice, hash)),
        }
    }
}

fn status_name(status: klero_domain::ImplementationStatus) -> &'static str {
    match status {
        klero_domain::ImplementationStatus::NotStarted => "not_started",
        klero_domain::ImplementationStatus::InProgress => "in_progress",
        klero_domain::ImplementationStatus::Completed => "completed",
        klero_domain::ImplementationStatus::Stalled => "stalled",
    }
}

#[derive(Clone, Debug)]
pub struct Letter {
    pub log_index: u64,
    pub document: DocumentShown,
}

#[derive(Clone, Debug)]
pub struct Adoption {
    pub in_favour: u32,
    pub against: u32,
    pub abstaining: u32,
    pub log_index: u64,
    pub recorded: String,
}

#[derive(Clone, Debug)]
pub struct RecommendationShown {
    pub id: String,
    pub title: String,
    pub status: &'static str,
    pub drafted_log_index: u64,
    /// The current (or final) text.
    pub text: DocumentShown,
    pub amendments: Vec<(String, u64)>,
    pub withdrawn_reason: Option<String>,
    pub adoption: Option<Adoption>,
    pub cites: Vec<Citation>,
    /// Whether the council's answer is overdue; `None` unless adopted.
    pub state: Option<ResponseState>,
    pub due_by: String,
    pub answer: Option<AnswerShown>,
    pub history: usize,
    pub late: bool,
    /// When the witnesses attest the first answer was recorded by (FORMAT.md §13.6), in words,
    /// and whether that is by the deadline; `None` when the slice has no witnessed time for it.
    pub attested: Option<Attested>,
    pub considered: Vec<Citation>,
    pub letters: Vec<Letter>,
    pub updates: Vec<UpdateShown>,
}

impl RecommendationShown {
    pub fn latest_update(&self) -> Option<&UpdateShown> {
        self.updates.last()
    }
    pub fn overdue(&self) -> bool {
        self.state == Some(ResponseState::Overdue)
    }
}

/// A call for residents' submissions, as the assembly page shows it.
#[derive(Clone, Debug)]
pub struct CallShown {
    pub call_id: String,
    pub prompt: String,
    pub about: Option<String>,
    pub opens_on: String,
    pub closes_on: String,
    /// Why a facilitator closed it early.
    pub closed: Option<String>,
    /// Whether it takes submissions as of the record's date.
    pub open_now: bool,
    pub text_bytes_max: u32,
    pub one_per_key: bool,
    pub names_asked: bool,
    pub retention_days: u32,
    /// The proof of work a browser does before it sends, in bits (0: none).
    pub work_bits: u32,
    pub consent: DocumentShown,
    pub policy: DocumentShown,
    pub received: u64,
    pub published: u64,
    pub withheld: u64,
    pub pending: u64,
    pub by_browser: u64,
    pub by_web_form: u64,
    pub appeals: u64,
    /// (reason in words, count), for every reason of the policy.
    pub withheld_by_reason: Vec<(String, u64)>,
    pub log_index: u64,
}

impl CallShown {
    fn of(slice: &VerifiedSlice, call: &klero_projections::views::CallEntry) -> CallShown {
        let today = klero_domain::Date((slice.as_of_unix_ms / 86_400_000) as i64);
        let counts = &call.submissions;
        CallShown {
            call_id: call.call_id.clone(),
            prompt: call.prompt.clone(),
            about: call.recommendation_id.clone(),
            opens_on: date_words(&call.opens_on.to_string()),
            closes_on: date_words(&call.closes_on.to_string()),
            closed: call.closed.as_ref().map(|c| c.reason.clone()),
            open_now: call.closed.is_none() && call.opens_on.0 <= today && today <= call.closes_on.0,
            text_bytes_max: call.text_bytes_max,
            one_per_key: call.one_per_key,
            names_asked: call.names_asked,
            retention_days: call.retention_days,
            work_bits: call.proof_of_work_bits,
            consent: DocumentShown::of(slice, call.consent_hash),
            policy: DocumentShown::of(slice, call.moderation_policy_hash),
            received: counts.received,
            published: counts.published,
            withheld: counts.withheld,
            pending: counts.pending,
            by_browser: counts.by_browser,
            by_web_form: counts.by_web_form,
            appeals: call.appeals,
            withheld_by_reason: call
                .withheld_by_reason
                .iter()
                .map(|(reason, count)| (reason.replace('_', " "), *count))
                .collect(),
            log_index: call.log_index,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Submission {
    /// Its number among the assembly's public submissions (1 for the first received).
    pub number: usize,
    pub log_index: u64,
    /// A version 1 submission's document; `None` for a sealed one.
    pub document: Option<DocumentShown>,
    /// A sealed submission's text; `None` for a version 1 one.
    pub sealed: Option<PersonalShown>,
    /// Recommendations that cite it, and answers that considered it.
    pub cited_by: Vec<String>,
    pub considered_in: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct ViewRow {
    pub name: &'static str,
    pub digest: String,
}

/// Everything the assembly page shows.
#[derive(Clone, Debug)]
pub struct AssemblyModel {
    pub id: String,
    pub council: String,
    pub question: String,
    pub area: String,
    pub starts_on: String,
    pub starts_on_iso: String,
    pub ends_on: String,
    pub ends_on_iso: String,
    pub panel_size: u32,
    pub threshold: u32,
    pub deadline_days: u32,
    pub convened_log_index: u64,
    pub status: String,
    pub timeline: Vec<Milestone>,
    pub selection: Selection,
    pub sessions: Vec<Session>,
    /// Calls for residents' submissions, with moderation counted by outcome and reason.
    pub calls: Vec<CallShown>,
    pub submissions_total: u64,
    pub submissions_by_day: Vec<(String, u64)>,
    pub submissions_cited: Vec<Submission>,
    pub recommendations: Vec<RecommendationShown>,
    pub final_report: Option<(DocumentShown, u64)>,
    pub views: Vec<ViewRow>,
    pub tree_size: u64,
    /// What the server says of its old copies of the assembly's erased items.
    pub erasures: Option<ErasureNotice>,
}

/// Where an assembly stands, in plain words: from its last milestone, and once the council
/// answers, from the answers (a page must not say "answering" once every answer is in).
fn standing(last: MilestoneKind, accountability: &Accountability) -> &'static str {
    let adopted = &accountability.adopted_recommendations;
    if last != MilestoneKind::FirstResponseIssued || adopted.is_empty() {
        return standing_label(last);
    }
    let answered = adopted.iter().filter(|a| a.response.is_some()).count();
    let accepted: Vec<&AdoptedRecommendation> = adopted
        .iter()
        .filter(|a| {
            a.response.as_ref().is_some_and(|r| {
                matches!(r.current.decision, klero_domain::Decision::Accepted | klero_domain::Decision::AcceptedInPart)
            })
        })
        .collect();
    let carried_out = accepted
        .iter()
        .all(|a| a.implementation.last().is_some_and(|u| u.status == klero_domain::ImplementationStatus::Completed));
    if answered < adopted.len() {
        if adopted.iter().any(|a| a.state == ResponseState::Overdue) {
            "standing-answering-overdue"
        } else {
            "standing-answering"
        }
    } else if !accepted.is_empty() && carried_out {
        "standing-all-done"
    } else {
        "standing-all-answered"
    }
}

/// Where an assembly stands, from its last milestone: the message that says it.
pub fn standing_label(last: MilestoneKind) -> &'static str {
    match last {
        MilestoneKind::Convened => "standing-convened",
        MilestoneKind::SelectionPlanned | MilestoneKind::PoolRegistered | MilestoneKind::LotteryPublished => {
            "standing-selecting"
        }
        MilestoneKind::PanelDrawn => "standing-panel-drawn",
        MilestoneKind::FirstSessionHeld => "standing-deliberating",
        MilestoneKind::FirstRecommendationDrafted => "standing-writing",
        MilestoneKind::FinalReportPublished => "standing-waiting-answers",
        MilestoneKind::FirstResponseIssued => "standing-answering",
    }
}

/// The message that names a milestone.
pub fn milestone_label(what: MilestoneKind) -> &'static str {
    match what {
        MilestoneKind::Convened => "milestone-convened",
        MilestoneKind::SelectionPlanned => "milestone-selection-planned",
        MilestoneKind::PoolRegistered => "milestone-pool-registered",
        MilestoneKind::LotteryPublished => "milestone-lottery-published",
        MilestoneKind::PanelDrawn => "milestone-panel-drawn",
        MilestoneKind::FirstSessionHeld => "milestone-first-session",
        MilestoneKind::FirstRecommendationDrafted => "milestone-first-draft",
        MilestoneKind::FinalReportPublished => "milestone-final-report",
        MilestoneKind::FirstResponseIssued => "milestone-first-response",
    }
}

/// The assembly's views, or a page saying it is not in the record.
pub(crate) fn views_of(slice: &VerifiedSlice, id: &AssemblyId) -> Result<AssemblyViewSet, PageError> {
    slice
        .fold
        .views()
        .assembly_views(id)
        .ok_or_else(|| PageError::NotFound(crate::i18n::tra("error-no-assembly", &[("id", id.as_str().into())])))
}

/// The hashes of the slice's events on the assembly's streams (the slice also holds the
/// registry's and the log's last event, whatever its stream).
fn assembly_event_hashes(slice: &VerifiedSlice, id: &AssemblyId) -> Vec<Hash256> {
    let stream = StreamKind::Assembly.stream_name(id);
    slice
        .events
        .values()
        .filter(|(envelope, _)| {
            let of = envelope.author().stream.as_str();
            of == stream || of.strip_prefix(stream.as_str()).is_some_and(|rest| rest.starts_with('/'))
        })
        .map(|(_, hash)| *hash)
        .collect()
}

/// Public submissions by their number in the assembly (1 for the first received): by event
/// hash, with the log index.
pub(crate) fn submission_numbers(views: &AssemblyViewSet) -> HashMap<Hash256, (usize, u64)> {
    views
        .input_trace
        .body
        .inputs
        .iter()
        .filter(|input| input.kind == InputKind::PublicSubmission)
        .enumerate()
        .map(|(at, input)| (input.event_hash, (at + 1, input.log_index)))
        .collect()
}

/// The content of an input as a page shows it: a version 1 submission's or evidence's
/// document, or a sealed submission's text; erased content says so.
pub(crate) fn input_content(
    slice: &VerifiedSlice,
    input: &InputEntry,
) -> (Option<DocumentShown>, Option<PersonalShown>) {
    // A resident's own submission shows only once published, whatever the slice holds.
    if let Some(moderation) = input.moderation.as_ref().filter(|_| input.erased_on.is_none()) {
        let withheld_reason = moderation.decisions.last().and_then(|d| d.reason.clone());
        match moderation.state.as_str() {
            "published" => {}
            "withheld" => return (None, Some(PersonalShown::Withheld(withheld_reason.unwrap_or_default()))),
            _ => return (None, Some(PersonalShown::AwaitingModeration)),
        }
    }
    match (input.content_hash, input.sealed_commitment) {
        (_, Some(commitment)) => {
            let text = PersonalTextView::Sealed {
                erased_on: input.erased_on,
                erasure_reason: input.erasure_reason.clone(),
                sealed_commitment: commitment,
            };
            (None, Some(PersonalShown::of(slice, &text)))
        }
        (Some(hash), None) => match input.erased_on {
            Some(on) => (
                Some(DocumentShown::erased(
                    hash,
                    date_words(&on.to_string()),
                    input.erasure_reason.clone().unwrap_or_default(),
                )),
                None,
            ),
            None => (Some(DocumentShown::of(slice, hash)), None),
        },
        (None, None) => (None, None),
    }
}

impl AssemblyModel {
    pub fn from_slice(slice: &VerifiedSlice, id: &AssemblyId) -> Result<AssemblyModel, PageError> {
        let views = views_of(slice, id)?;
        let overview = &views.overview.body;
        let first_session = views.deliberation.body.sessions.iter().min_by_key(|s| s.log_index);
        let timeline = overview
            .timeline
            .iter()
            .map(|m| Milestone {
                what: crate::i18n::tr(milestone_label(m.what)),
                when: day_words(m.recorded_at_unix_ms),
                happened: match (m.what, first_session) {
                    (MilestoneKind::FirstSessionHeld, Some(session)) => {
                        Some((date_words(&session.held_on.to_string()), session.held_on.to_string()))
                    }
                    _ => None,
                },
                log_index: m.log_index,
            })
            .collect();
        let selection = selection(slice, id, &views.panel.body);
        let deliberation = &views.deliberation.body;
        let mut evidence_titles: HashMap<Hash256, String> = HashMap::new();
        let mut sessions = Vec::new();
        for s in &deliberation.sessions {
            let mut evidence = Vec::new();
            for e in &s.evidence {
                let title = PersonalShown::of(slice, &e.title);
                evidence_titles.insert(e.event_hash, title.to_string());
                evidence.push(Evidence {
                    title,
                    speaker_role: e.speaker_role.clone(),
                    media_type: e.media_type.clone(),
                    log_index: e.log_index,
                    document: DocumentShown::of(slice, e.content_hash),
                });
            }
            sessions.push(Session {
                number: s.session_number,
                held_on: date_words(&s.held_on.to_string()),
                held_on_iso: s.held_on.to_string(),
                agenda: s.agenda.clone(),
                attendance: s.attendance_count,
                log_index: s.log_index,
                evidence,
            });
        }
        let numbers = submission_numbers(&views);
        let inputs = &views.input_trace.body.inputs;
        let input_log_index: HashMap<Hash256, u64> = inputs.iter().map(|i| (i.event_hash, i.log_index)).collect();
        let describe = |kind: Option<InputKind>, hash: &Hash256| -> String {
            match kind {
                Some(InputKind::Evidence) => match evidence_titles.get(hash) {
                    Some(title) => crate::i18n::tra("describe-evidence-titled", &[("title", title.as_str().into())]),
                    None => crate::i18n::tr("describe-evidence"),
                },
                _ => match numbers.get(hash) {
                    Some((number, _)) => {
                        crate::i18n::tra("describe-public-submission-n", &[("number", (*number).into())])
                    }
                    None => crate::i18n::tr("describe-public-submission"),
                },
            }
        };
        let citation = |kind: Option<InputKind>, hash: &Hash256, note: &str, log_index: u64| Citation {
            kind: match kind {
                Some(InputKind::Evidence) => "evidence",
                _ => "public_submission",
            },
            describes: describe(kind, hash),
            input_log_index: input_log_index.get(hash).copied(),
            note: note.to_string(),
            log_index,
        };
        let mut submissions_cited = Vec::new();
        for input in inputs.iter().filter(|i| i.kind == InputKind::PublicSubmission) {
            let ids = |ids: Vec<String>| {
                let mut ids = ids;
                ids.dedup();
                ids
            };
            let cited_by = ids(input.cited_by.iter().map(|c| c.recommendation_id.clone()).collect());
            let considered_in = ids(input.considered_in.iter().filter_map(|c| c.recommendation_id.clone()).collect());
            if cited_by.is_empty() && considered_in.is_empty() {
                continue;
            }
            let (document, sealed) = input_content(slice, input);
            submissions_cited.push(Submission {
                number: numbers.get(&input.event_hash).map_or(0, |(n, _)| *n),
                log_index: input.log_index,
                document,
                sealed,
                cited_by,
                considered_in,
            });
        }

        // Recommendations, with what the council did with each.
        let accountability: HashMap<&str, &AdoptedRecommendation> = views
            .accountability
            .body
            .adopted_recommendations
            .iter()
            .map(|a| (a.recommendation_id.as_str(), a))
            .collect();
        let traces: HashMap<&str, &ResponseTraceEntry> =
            views.response_trace.body.responses.iter().map(|r| (r.recommendation_id.as_str(), r)).collect();
        let mut cites_by_recommendation: HashMap<&str, Vec<Citation>> = HashMap::new();
        for input in inputs {
            for c in &input.cited_by {
                cites_by_recommendation.entry(c.recommendation_id.as_str()).or_default().push(citation(
                    Some(input.kind),
                    &input.event_hash,
                    &c.note,
                    c.log_index,
                ));
            }
        }
        for cites in cites_by_recommendation.values_mut() {
            cites.sort_by_key(|c| c.log_index);
        }
        let mut recommendations = Vec::new();
        for r in &views.recommendations.body.recommendations {
            let account = accountability.get(r.recommendation_id.as_str());
            let trace = traces.get(r.recommendation_id.as_str());
            let response = account.and_then(|a| a.response.as_ref());
            let text_hash = match &r.adoption {
                Some(adoption) => adoption.final_text_hash,
                None => r.current_text_hash,
            };
            recommendations.push(RecommendationShown {
                id: r.recommendation_id.clone(),
                title: r.title.clone(),
                status: match r.status {
                    RecommendationStatus::Drafted => "drafted",
                    RecommendationStatus::Withdrawn => "withdrawn",
                    RecommendationStatus::Adopted => "adopted",
                },
                drafted_log_index: r.drafted.log_index,
                text: DocumentShown::of(slice, text_hash),
                amendments: r.amendments.iter().map(|a| (a.reason.clone(), a.log_index)).collect(),
                withdrawn_reason: r.withdrawn_reason.clone(),
                adoption: r.adoption.as_ref().map(|a| Adoption {
                    in_favour: a.in_favour,
                    against: a.against,
                    abstaining: a.abstaining,
                    log_index: a.log_index,
                    recorded: day_words(a.recorded_at_unix_ms),
                }),
                cites: cites_by_recommendation.remove(r.recommendation_id.as_str()).unwrap_or_default(),
                state: account.map(|a| a.state),
                due_by: account.map_or_else(String::new, |a| day_words(a.response_due_by_unix_ms)),
                answer: response.map(|response| AnswerShown::of(slice, &response.current)),
                history: response.map_or(0, |response| response.history.len()),
                late: response.is_some_and(|response| response.late),
                attested: response
                    .and_then(|response| response.history.first())
                    .and_then(|first| slice.attested_by(first.log_index))
                    .zip(account)
                    .map(|(at, account)| Attested {
                        time: crate::format::time_words(at),
                        in_time: at <= account.response_due_by_unix_ms,
                        quorum: slice.witness_quorum_of.0,
                        witnesses: slice.witness_quorum_of.1,
                    }),
                considered: trace.map_or_else(Vec::new, |t| {
                    t.considered.iter().map(|c| citation(c.kind, &c.input_event_hash, &c.note, c.log_index)).collect()
                }),
                letters: trace.map_or_else(Vec::new, |t| {
                    t.letters
                        .iter()
                        .map(|l| Letter { log_index: l.log_index, document: DocumentShown::of(slice, l.letter_hash) })
                        .collect()
                }),
                updates: account
                    .map_or_else(Vec::new, |a| a.implementation.iter().map(|u| UpdateShown::of(slice, u)).collect()),
            });
        }
        let final_report = views
            .recommendations
            .body
            .final_report
            .as_ref()
            .map(|report| (DocumentShown::of(slice, report.content_hash), report.log_index));
        Ok(AssemblyModel {
            id: id.to_string(),
            council: overview.council.clone(),
            question: overview.remit_question.clone(),
            area: overview.area.clone(),
            starts_on: date_words(&overview.starts_on.to_string()),
            starts_on_iso: overview.starts_on.to_string(),
            ends_on: date_words(&overview.ends_on.to_string()),
            ends_on_iso: overview.ends_on.to_string(),
            panel_size: overview.panel_size,
            threshold: overview.adoption_threshold_percent,
            deadline_days: overview.response_deadline_days,
            convened_log_index: overview.convened_log_index,
            status: crate::i18n::tr(standing(overview.status, &views.accountability.body)),
            timeline,
            selection,
            sessions,
            calls: views.deliberation.body.calls.iter().map(|call| CallShown::of(slice, call)).collect(),
            submissions_total: deliberation.public_submissions.total,
            submissions_by_day: deliberation
                .public_submissions
                .by_day
                .iter()
                .map(|d| (date_words(&d.received_on.to_string()), d.count))
                .collect(),
            submissions_cited,
            recommendations,
            final_report,
            views: view_rows(slice, id),
            tree_size: views.overview.tree_size,
            erasures: ErasureNotice::of(slice, &assembly_event_hashes(slice, id)),
        })
    }
}

/// Each view's digest, as the fold of the slice renders it.
fn view_rows(slice: &VerifiedSlice, id: &AssemblyId) -> Vec<ViewRow> {
    ViewName::ALL
        .into_iter()
        .filter_map(|name| {
            slice
                .fold
                .views()
                .render(name, id)
                .map(|view| ViewRow { name: name.as_str(), digest: view.digest.to_hex() })
        })
        .collect()
}

/// The selection section: the panel view, the lottery and the seed, and where each step is.
fn selection(slice: &VerifiedSlice, id: &AssemblyId, panel: &Panel) -> Selection {
    let quotas: Vec<QuotaRow> = panel
        .quotas
        .iter()
        .map(|q| QuotaRow {
            feature: q.feature.clone(),
            value: q.value.clone(),
            min: q.min as u64,
            max: q.max as u64,
            planned: q.planned_min.zip(q.planned_max).map(|(min, max)| (min as u64, max as u64)),
            seated: q.seated,
            within: q.within_quota,
        })
        .collect();
    let state = slice.fold.state().assembly(id).map(|a| a.selection.clone()).unwrap_or_default();
    let chances = match (&state.instance, &state.lottery) {
        (Some(instance), Some(lottery)) if !instance.types.is_empty() => {
            let chances: Vec<f64> = (0..instance.types.len()).map(|t| lottery.type_probability(instance, t)).collect();
            let lowest = chances.iter().copied().fold(f64::MAX, f64::min);
            let highest = chances.iter().copied().fold(0.0, f64::max);
            Some((format::percent(lowest), format::percent(highest)))
        }
        _ => None,
    };
    let mut selection = Selection {
        pool_size: panel.pool_size,
        seated: panel.seated,
        withdrawals: panel.withdrawals,
        chart_svg: quota_chart(&quotas),
        quotas,
        relaxation_reason: panel.relaxation_reason.clone(),
        chances,
        lottery_panels: state.lottery.as_ref().map_or(0, |l| l.panels.len()),
        seed_commitment: state.plan.as_ref().map(|p| p.seed_commitment.to_hex()),
        randomness_source: state.plan.as_ref().map(|p| p.randomness_source.clone()).unwrap_or_default(),
        seed: state.seed.as_ref().map(|s| klero_ledger::hash::to_hex(s)),
        seed_matches: match (&state.plan, &state.seed) {
            (Some(plan), Some(seed)) => Hash256::of(seed) == plan.seed_commitment,
            _ => false,
        },
        ..Selection::default()
    };
    // Where each step of the selection is in the log: the slice holds the whole stream.
    let stream = StreamKind::Selection.stream_name(id);
    for (index, (envelope, _)) in &slice.events {
        if envelope.author().stream != stream {
            continue;
        }
        match LogFold::decode(envelope) {
            Ok(DomainEvent::SelectionPlanned(_)) => selection.plan_log_index = Some(*index),
            Ok(DomainEvent::PanelDrawn(_)) => selection.draw_log_index = Some(*index),
            Ok(DomainEvent::ReplacementDrawn(r)) => selection.replacements.push(Replacement {
                withdrawn: r.withdrawn_member_id,
                replacement: r.replacement_member_id,
                log_index: *index,
            }),
            _ => {}
        }
    }
    selection
}

#[derive(Template)]
#[template(path = "assembly.html")]
struct AssemblyPage {
    chrome: Chrome,
    a: AssemblyModel,
}

pub(crate) fn render_assembly(
    chrome: Chrome,
    slice: &VerifiedSlice,
    id: &AssemblyId,
) -> Result<RenderedPage, PageError> {
    let a = AssemblyModel::from_slice(slice, id)?;
    let title = a.question.clone();
    let feed = Some(format!("/assemblies/{id}/feed.atom"));
    Ok(RenderedPage { lang: crate::i18n::current(), title, body: AssemblyPage { chrome, a }.render()?, feed })
}

/// The open-data page: each view with its digest.
#[derive(Clone, Debug)]
pub struct DataModel {
    pub id: String,
    pub question: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub views: Vec<ViewRow>,
}

#[derive(Template)]
#[template(path = "data.html")]
struct DataPage {
    chrome: Chrome,
    d: DataModel,
}

pub(crate) fn render_data(chrome: Chrome, slice: &VerifiedSlice, id: &AssemblyId) -> Result<RenderedPage, PageError> {
    let views = views_of(slice, id)?;
    let d = DataModel {
        id: id.to_string(),
        question: views.overview.body.remit_question.clone(),
        tree_size: views.overview.tree_size,
        root_hash: slice.checkpoint.checkpoint().root_hash.to_hex(),
        views: view_rows(slice, id),
    };
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: crate::i18n::tra("title-data", &[("question", d.question.as_str().into())]),
        body: DataPage { chrome, d }.render()?,
        feed: None,
    })
}
