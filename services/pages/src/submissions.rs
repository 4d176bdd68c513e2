//! A page of an assembly's public submissions: each one numbered in the order received, with
//! its text (or its erasure) and what became of it, cited or not. The slice carries the
//! openings and text documents of this page's submissions only (FORMAT.md §15.2), so a page's
//! size does not grow with the assembly's input.

use crate::assembly::{input_content, views_of};
use crate::format::{date_words, decision_label};
use crate::{Chrome, DocumentShown, ErasureNotice, PageError, PersonalShown, RenderedPage};
use askama::Template;
use klero_domain::{AssemblyId, DomainEvent, InputKind};
use klero_fold::LogFold;
use klero_projections::views::{InputEntry, RecommendationStatus};
use klero_verifier::slice::{VerifiedSlice, SUBMISSIONS_PAGE};

/// One submission as the page shows it.
#[derive(Clone, Debug)]
pub struct SubmissionRow {
    /// Its number in the assembly (1 for the first received).
    pub number: u64,
    pub log_index: u64,
    /// The day its author gave as received, or (a resident's own) the day it was recorded.
    pub received_on: String,
    /// A resident's own submission: how it came, and to which call.
    pub came: Option<String>,
    pub document: Option<DocumentShown>,
    pub sealed: Option<PersonalShown>,
    /// What became of it, one sentence per recommendation or answer that cites it; empty when
    /// nothing cites it.
    pub fate: Vec<Fate>,
}

/// A recommendation a submission went into, and where that recommendation stands.
#[derive(Clone, Debug)]
pub struct Fate {
    pub recommendation_id: String,
    /// The message saying how: `fate-cited-by` or `fate-considered-in`.
    pub how: &'static str,
    pub stands: String,
}

#[derive(Clone, Debug)]
pub struct SubmissionsModel {
    pub assembly_id: String,
    pub question: String,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
    pub first_number: u64,
    pub submissions: Vec<SubmissionRow>,
    pub erasures: Option<ErasureNotice>,
}

impl SubmissionsModel {
    pub fn from_slice(slice: &VerifiedSlice, id: &AssemblyId, page: u64) -> Result<SubmissionsModel, PageError> {
        let views = views_of(slice, id)?;
        let submissions: Vec<&InputEntry> =
            views.input_trace.body.inputs.iter().filter(|i| i.kind == InputKind::PublicSubmission).collect();
        let total = submissions.len() as u64;
        let pages = total.div_ceil(SUBMISSIONS_PAGE).max(1);
        if page == 0 || page > pages {
            return Err(PageError::NotFound(crate::i18n::tra(
                "error-no-such-submissions-page",
                &[("id", id.as_str().into()), ("total", total.into()), ("pages", pages.into())],
            )));
        }
        let first = (page - 1) * SUBMISSIONS_PAGE;
        let rows: Vec<SubmissionRow> = submissions
            .iter()
            .enumerate()
            .skip(first as usize)
            .take(SUBMISSIONS_PAGE as usize)
            .map(|(at, input)| row(slice, at as u64 + 1, input))
            .collect();
        let erased = submissions
            .iter()
            .skip(first as usize)
            .take(SUBMISSIONS_PAGE as usize)
            .filter(|input| input.erased_on.is_some())
            .map(|input| &input.event_hash);
        Ok(SubmissionsModel {
            assembly_id: id.to_string(),
            question: views.overview.body.remit_question.clone(),
            total,
            page,
            pages,
            first_number: first + 1,
            erasures: ErasureNotice::of(slice, erased),
            submissions: rows,
        })
    }

    /// The number of the page's last submission.
    pub fn last_number(&self) -> u64 {
        self.first_number + self.submissions.len() as u64 - 1
    }
}

fn row(slice: &VerifiedSlice, number: u64, input: &InputEntry) -> SubmissionRow {
    let event = slice.events.get(&input.log_index);
    let received_on = match event.map(|(envelope, _)| (envelope, LogFold::decode(envelope))) {
        Some((_, Ok(DomainEvent::PublicSubmissionReceived(received)))) => date_words(&received.received_on.to_string()),
        Some((envelope, Ok(DomainEvent::ResidentSubmitted(_)))) => {
            crate::format::day_words(envelope.ledger().recorded_at_unix_ms)
        }
        _ => String::new(),
    };
    let came = match (input.path.as_deref(), input.call_id.as_deref()) {
        (Some("browser"), Some(call)) => Some(crate::i18n::tra("came-browser", &[("call", call.into())])),
        (Some(_), Some(call)) => Some(crate::i18n::tra("came-web-form", &[("call", call.into())])),
        _ => None,
    };
    let (document, sealed) = input_content(slice, input);
    let stands = |id: &str| -> String {
        let Some(outcome) = input.outcomes.iter().find(|o| o.recommendation_id == id) else {
            return String::new();
        };
        let status = crate::format::recommendation_status_words(outcome.status);
        match &outcome.response {
            Some(answer) => crate::i18n::tra(
                "stands-answered",
                &[("status", status.into()), ("decision", decision_label(answer.decision).into())],
            ),
            None if outcome.status == RecommendationStatus::Adopted => {
                crate::i18n::tra("stands-not-answered", &[("status", status.into())])
            }
            None => status,
        }
    };
    let mut fate: Vec<Fate> = Vec::new();
    for cited in &input.cited_by {
        if !fate.iter().any(|f| f.recommendation_id == cited.recommendation_id && f.how == "fate-cited-by") {
            fate.push(Fate {
                recommendation_id: cited.recommendation_id.clone(),
                how: "fate-cited-by",
                stands: stands(&cited.recommendation_id),
            });
        }
    }
    for considered in &input.considered_in {
        let Some(id) = &considered.recommendation_id else { continue };
        if !fate.iter().any(|f| f.recommendation_id == *id && f.how != "fate-cited-by") {
            fate.push(Fate { recommendation_id: id.clone(), how: "fate-considered-in", stands: stands(id) });
        }
    }
    SubmissionRow { number, log_index: input.log_index, received_on, came, document, sealed, fate }
}

#[derive(Template)]
#[template(path = "submissions.html")]
struct SubmissionsPage {
    chrome: Chrome,
    s: SubmissionsModel,
}

pub(crate) fn render_submissions(
    chrome: Chrome,
    slice: &VerifiedSlice,
    id: &AssemblyId,
    page: u64,
) -> Result<RenderedPage, PageError> {
    let s = SubmissionsModel::from_slice(slice, id, page)?;
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: crate::i18n::tra("title-submissions", &[("question", s.question.as_str().into())]),
        body: SubmissionsPage { chrome, s }.render()?,
        feed: None,
    })
}
