//! What a resident is told about their submission: the updates a receipt's Atom feed lists and
//! the notifier emails, in one wording. The feed derives them from a verified slice; the
//! notifier from each event as the log records it.

use crate::assembly::views_of;
use crate::i18n::{tr, tra, Lang};
use crate::PageError;
use klero_domain::{Decision, StreamKind};
use klero_ledger::Hash256;
use klero_verifier::slice::VerifiedSlice;

/// Something that happened to a resident's submission.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubmissionUpdate {
    /// A moderator published it.
    Published,
    /// A moderator withheld it, for a reason of the call's policy.
    Withheld { reason: String },
    /// A recommendation of the panel cites it.
    Cited { recommendation_id: String },
    /// The council answered a recommendation that cites it.
    Answered { recommendation_id: String, decision: Decision },
}

impl SubmissionUpdate {
    /// One line: an email's subject, a feed entry's title.
    pub fn title_in(&self, lang: Lang) -> String {
        crate::i18n::rendering_in(lang, || match self {
            SubmissionUpdate::Published => tr("update-published"),
            SubmissionUpdate::Withheld { reason } => tra("update-withheld", &[("reason", reason.as_str().into())]),
            SubmissionUpdate::Cited { recommendation_id } => {
                tra("update-cited", &[("id", recommendation_id.as_str().into())])
            }
            SubmissionUpdate::Answered { recommendation_id, decision } => tra(
                "update-answered",
                &[
                    ("id", recommendation_id.as_str().into()),
                    ("decision", crate::format::decision_label(*decision).into()),
                ],
            ),
        })
    }

    /// [`SubmissionUpdate::title_in`] English.
    pub fn title(&self) -> String {
        self.title_in(Lang::En)
    }

    /// What it means for the resident, and what they may do next.
    pub fn explanation_in(&self, lang: Lang) -> String {
        lang.t(match self {
            SubmissionUpdate::Published => "update-published-means",
            SubmissionUpdate::Withheld { .. } => "update-withheld-means",
            SubmissionUpdate::Cited { .. } => "update-cited-means",
            SubmissionUpdate::Answered { .. } => "update-answered-means",
        })
    }

    /// [`SubmissionUpdate::explanation_in`] English.
    pub fn explanation(&self) -> String {
        self.explanation_in(Lang::En)
    }

    /// A short stable name, for a Message-ID and logs.
    pub fn code(&self) -> &'static str {
        match self {
            SubmissionUpdate::Published => "published",
            SubmissionUpdate::Withheld { .. } => "withheld",
            SubmissionUpdate::Cited { .. } => "cited",
            SubmissionUpdate::Answered { .. } => "answered",
        }
    }
}

/// An update with the event that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedUpdate {
    pub update: SubmissionUpdate,
    pub event_hash: Hash256,
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
}

/// The updates of the submission at `log_index`, oldest first, from a verified slice of its
/// trace: its moderation decisions, the recommendations citing it, and the answers to them.
pub fn submission_updates(slice: &VerifiedSlice, log_index: u64) -> Result<Vec<RecordedUpdate>, PageError> {
    let not_a_submission =
        || PageError::BadRequest(format!("Event {log_index} is not a resident's submission: it has no updates."));
    let (envelope, hash) = slice.events.get(&log_index).ok_or_else(not_a_submission)?;
    let Some((StreamKind::Deliberation, Some(assembly))) = StreamKind::parse_stream(&envelope.author().stream) else {
        return Err(not_a_submission());
    };
    let views = views_of(slice, &assembly)?;
    let input = views
        .input_trace
        .body
        .inputs
        .iter()
        .find(|i| i.event_hash == *hash && i.path.is_some())
        .ok_or_else(not_a_submission)?;
    let recorded = |log_index: u64| -> Result<(Hash256, u64), PageError> {
        let (envelope, hash) = slice.events.get(&log_index).ok_or_else(|| {
            PageError::NotFound(format!("The record's slice lacks event {log_index}, which the trace names."))
        })?;
        Ok((*hash, envelope.ledger().recorded_at_unix_ms))
    };
    let mut updates = Vec::new();
    let mut push = |update: SubmissionUpdate, log_index: u64| -> Result<(), PageError> {
        let (event_hash, recorded_at_unix_ms) = recorded(log_index)?;
        updates.push(RecordedUpdate { update, event_hash, log_index, recorded_at_unix_ms });
        Ok(())
    };
    for decision in input.moderation.iter().flat_map(|m| &m.decisions) {
        let update = match decision.reason.as_ref().filter(|_| decision.decision == "withhold") {
            Some(reason) => SubmissionUpdate::Withheld { reason: reason.clone() },
            None => SubmissionUpdate::Published,
        };
        push(update, decision.log_index)?;
    }
    for cited in &input.cited_by {
        push(SubmissionUpdate::Cited { recommendation_id: cited.recommendation_id.clone() }, cited.log_index)?;
    }
    for outcome in &input.outcomes {
        if let Some(answer) = &outcome.response {
            let update = SubmissionUpdate::Answered {
                recommendation_id: outcome.recommendation_id.clone(),
                decision: answer.decision,
            };
            push(update, answer.log_index)?;
        }
    }
    updates.sort_by_key(|u| u.log_index);
    Ok(updates)
}
