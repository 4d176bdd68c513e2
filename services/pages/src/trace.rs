//! "What became of my submission": one input, followed to the council's answers, from the
//! slice of its assembly.

use crate::assembly::{input_content, submission_numbers, views_of, AnswerShown, UpdateShown};
use crate::{Chrome, DocumentShown, ErasureNotice, PageError, PersonalShown, ReceiptCheck, RenderedPage};
use askama::Template;
use klero_domain::{InputKind, StreamKind};
use klero_verifier::slice::VerifiedSlice;

/// A citation of the traced input.
#[derive(Clone, Debug)]
pub struct TraceCitation {
    pub recommendation_id: String,
    pub note: String,
    pub log_index: u64,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub recommendation_id: String,
    pub status_label: String,
    pub answer: Option<AnswerShown>,
    pub updates: Vec<UpdateShown>,
}

#[derive(Clone, Debug)]
pub struct TraceModel {
    /// What the reader's receipt proved, in words, when a receipt was checked.
    pub receipt_check: Option<String>,
    pub kind_label: String,
    pub log_index: u64,
    pub assembly_id: String,
    pub assembly_question: String,
    /// The input's document, or (a sealed submission) its text.
    pub document: Option<DocumentShown>,
    pub sealed: Option<PersonalShown>,
    pub cited_by: Vec<TraceCitation>,
    pub considered_in: Vec<TraceCitation>,
    pub outcomes: Vec<Outcome>,
    /// What the server says of its old copies of the input, once erased.
    pub erasure: Option<ErasureNotice>,
    /// A resident's own submission that a moderator withheld and no one appealed yet: the
    /// event hash its author's appeal names. The page offers the appeal (to the browser that
    /// sent it, which alone holds the key that may sign it).
    pub appealable: Option<String>,
    /// A resident's own submission: how it came ("browser" or "web_form").
    pub path: Option<String>,
}

impl TraceModel {
    pub fn from_slice(
        slice: &VerifiedSlice,
        log_index: u64,
        receipt: Option<ReceiptCheck>,
    ) -> Result<TraceModel, PageError> {
        let not_an_input =
            || PageError::BadRequest(crate::i18n::tra("error-not-an-input", &[("index", log_index.into())]));
        let (envelope, hash) = slice.events.get(&log_index).ok_or_else(not_an_input)?;
        let Some((StreamKind::Deliberation, Some(assembly))) = StreamKind::parse_stream(&envelope.author().stream)
        else {
            return Err(not_an_input());
        };
        let views = views_of(slice, &assembly)?;
        let input = views.input_trace.body.inputs.iter().find(|i| i.event_hash == *hash).ok_or_else(not_an_input)?;
        let numbers = submission_numbers(&views);
        let kind_label = match input.kind {
            InputKind::Evidence => crate::i18n::tr("kind-evidence"),
            InputKind::PublicSubmission => match numbers.get(hash) {
                Some((number, _)) => crate::i18n::tra("kind-public-submission-n", &[("number", (*number).into())]),
                None => crate::i18n::tr("kind-public-submission"),
            },
        };
        let outcomes = input
            .outcomes
            .iter()
            .map(|o| Outcome {
                recommendation_id: o.recommendation_id.clone(),
                status_label: crate::format::recommendation_status_words(o.status),
                answer: o.response.as_ref().map(|answer| AnswerShown::of(slice, answer)),
                updates: o.implementation.iter().map(|u| UpdateShown::of(slice, u)).collect(),
            })
            .collect();
        let (document, sealed) = input_content(slice, input);
        let size = slice.checkpoint.checkpoint().tree_size;
        let receipt_check = receipt.map(|receipt| {
            crate::i18n::tra(
                "receipt-checks-out",
                &[
                    ("index", receipt.leaf_index.into()),
                    ("receipt_size", receipt.receipt_tree_size.into()),
                    ("size", size.into()),
                ],
            )
        });
        Ok(TraceModel {
            receipt_check,
            kind_label,
            log_index,
            assembly_id: assembly.to_string(),
            assembly_question: views.overview.body.remit_question.clone(),
            document,
            sealed,
            cited_by: input
                .cited_by
                .iter()
                .map(|c| TraceCitation {
                    recommendation_id: c.recommendation_id.clone(),
                    note: c.note.clone(),
                    log_index: c.log_index,
                })
                .collect(),
            considered_in: input
                .considered_in
                .iter()
                .map(|c| TraceCitation {
                    recommendation_id: c.recommendation_id.clone().unwrap_or_default(),
                    note: c.note.clone(),
                    log_index: c.log_index,
                })
                .collect(),
            outcomes,
            erasure: ErasureNotice::of(slice, [hash]),
            appealable: input
                .moderation
                .as_ref()
                .filter(|m| m.state == "withheld" && m.appealed_log_index.is_none() && m.decisions.len() == 1)
                .map(|_| hash.to_hex()),
            path: input.path.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct TracePage {
    chrome: Chrome,
    t: TraceModel,
}

pub(crate) fn render_trace(
    chrome: Chrome,
    slice: &VerifiedSlice,
    log_index: u64,
    receipt: Option<ReceiptCheck>,
) -> Result<RenderedPage, PageError> {
    let t = TraceModel::from_slice(slice, log_index, receipt)?;
    // A resident's own submission has its updates as a feed too.
    let feed = t.path.is_some().then(|| format!("{}/receipt/{log_index}/feed.atom", crate::i18n::current().prefix()));
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: crate::i18n::tr("title-receipt"),
        body: TracePage { chrome, t }.render()?,
        feed,
    })
}
