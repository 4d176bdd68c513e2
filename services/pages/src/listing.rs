//! The list of assemblies and the council dashboard, a page of assemblies at a time.
//!
//! The index shows what each assembly's convening says and how many events each of its streams
//! holds: the stream heads prove those, and that no assembly between the page's neighbours was
//! left out. The dashboard folds each assembly of its page whole, so its counts are computed
//! from the record, not stated by the server.

use crate::format::date_words;
use crate::{Chrome, PageError, RenderedPage};
use askama::Template;
use klero_domain::ImplementationStatus;
use klero_domain::{DomainEvent, StreamKind};
use klero_fold::LogFold;
use klero_projections::views::ResponseState;
use klero_verifier::slice::VerifiedSlice;

#[derive(Clone, Debug)]
pub struct AssemblyCard {
    pub id: String,
    pub question: String,
    pub council: String,
    pub area: String,
    pub starts_on: String,
    pub ends_on: String,
    pub convened_log_index: u64,
    /// Each stream's events in words ("3 selection events"), in the order of the stages.
    pub streams: Vec<String>,
    pub events: String,
}

#[derive(Clone, Debug)]
pub struct IndexModel {
    pub cards: Vec<AssemblyCard>,
    /// The id after which the next page starts, if there is one.
    pub next_after: Option<String>,
}

/// A stage's stream, as the index counts it.
/// "12 selection events": a stream's count of events, in words.
fn stage_count(kind: StreamKind, n: u64) -> String {
    let id = match kind {
        StreamKind::Assembly => "count-assembly-events",
        StreamKind::Selection => "count-selection-events",
        StreamKind::Deliberation => "count-deliberation-events",
        StreamKind::Recommendation => "count-recommendation-events",
        StreamKind::Response => "count-response-events",
        StreamKind::Registry => "count-registry-events",
    };
    crate::i18n::tra(id, &[("count", n.into())])
}

impl IndexModel {
    pub fn from_slice(slice: &VerifiedSlice) -> Result<IndexModel, PageError> {
        let mut cards = Vec::new();
        for id in &slice.page {
            let stream = StreamKind::Assembly.stream_name(id);
            let convened = slice
                .events
                .iter()
                .find(|(_, (envelope, _))| envelope.author().stream == stream && envelope.ledger().stream_revision == 0)
                .and_then(|(index, (envelope, _))| match LogFold::decode(envelope) {
                    Ok(DomainEvent::AssemblyConvened(convened)) => Some((*index, convened)),
                    _ => None,
                })
                .ok_or_else(|| PageError::NotFound(format!("assembly {id} has no convening in the slice")))?;
            let (index, convened) = convened;
            let mut per_stage: Vec<(StreamKind, u64)> = slice
                .heads
                .values()
                .filter_map(|head| match StreamKind::parse_stream(&head.stream) {
                    Some((kind, Some(assembly))) if assembly == *id => Some((kind, head.revision + 1)),
                    _ => None,
                })
                .collect();
            per_stage.sort_by_key(|(kind, _)| *kind as u8);
            let total: u64 = per_stage.iter().map(|(_, n)| n).sum();
            cards.push(AssemblyCard {
                id: id.to_string(),
                question: convened.remit_question,
                council: convened.council,
                area: convened.area,
                starts_on: date_words(&convened.starts_on.to_string()),
                ends_on: date_words(&convened.ends_on.to_string()),
                convened_log_index: index,
                streams: per_stage.into_iter().map(|(kind, n)| stage_count(kind, n)).collect(),
                events: crate::i18n::tra("count-signed-events", &[("count", total.into())]),
            });
        }
        let next_after = slice.more_after_page.then(|| slice.page.last().map(ToString::to_string)).flatten();
        Ok(IndexModel { cards, next_after })
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    chrome: Chrome,
    i: IndexModel,
}

pub(crate) fn render_index(chrome: Chrome, slice: &VerifiedSlice) -> Result<RenderedPage, PageError> {
    let i = IndexModel::from_slice(slice)?;
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: crate::i18n::tr("title-index"),
        body: IndexPage { chrome, i }.render()?,
        feed: None,
    })
}

#[derive(Clone, Debug, Default)]
pub struct DashboardRow {
    pub id: String,
    pub question: String,
    pub council: String,
    pub recommended: u64,
    pub adopted: u64,
    pub answered: u64,
    pub accepted: u64,
    pub implemented: u64,
    pub overdue: u64,
}

#[derive(Clone, Debug)]
pub struct DashboardModel {
    pub rows: Vec<DashboardRow>,
    pub total: DashboardRow,
    pub next_after: Option<String>,
}

impl DashboardRow {
    /// The row of assembly `id`, from a slice that holds it whole.
    pub fn of(slice: &VerifiedSlice, id: &klero_domain::AssemblyId) -> Result<DashboardRow, PageError> {
        let views = crate::assembly::views_of(slice, id)?;
        let adopted = &views.accountability.body.adopted_recommendations;
        Ok(DashboardRow {
            id: id.to_string(),
            question: views.overview.body.remit_question.clone(),
            council: views.overview.body.council.clone(),
            recommended: views.overview.body.counts.recommendations,
            adopted: adopted.len() as u64,
            answered: adopted.iter().filter(|a| a.state == ResponseState::Responded).count() as u64,
            accepted: adopted
                .iter()
                .filter(|a| a.response.as_ref().is_some_and(|r| r.current.decision.accepts()))
                .count() as u64,
            implemented: adopted
                .iter()
                .filter(|a| a.implementation.last().is_some_and(|u| u.status == ImplementationStatus::Completed))
                .count() as u64,
            overdue: adopted.iter().filter(|a| a.state == ResponseState::Overdue).count() as u64,
        })
    }
}

impl DashboardModel {
    pub fn from_slice(slice: &VerifiedSlice) -> Result<DashboardModel, PageError> {
        let mut rows = Vec::new();
        let mut total = DashboardRow::default();
        for id in &slice.page {
            let row = DashboardRow::of(slice, id)?;
            total.recommended += row.recommended;
            total.adopted += row.adopted;
            total.answered += row.answered;
            total.accepted += row.accepted;
            total.implemented += row.implemented;
            total.overdue += row.overdue;
            rows.push(row);
        }
        let next_after = slice.more_after_page.then(|| slice.page.last().map(ToString::to_string)).flatten();
        Ok(DashboardModel { rows, total, next_after })
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    d: DashboardModel,
}

pub(crate) fn render_dashboard(chrome: Chrome, slice: &VerifiedSlice) -> Result<RenderedPage, PageError> {
    let d = DashboardModel::from_slice(slice)?;
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: crate::i18n::tr("title-dashboard"),
        body: DashboardPage { chrome, d }.render()?,
        feed: None,
    })
}
