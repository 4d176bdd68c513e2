//! Councils on one service (docs/RULES.md, "Councils"): a council's own page, and the
//! programme's dashboard, which compares councils on what an evaluator asks. Every figure is
//! computed from the views a slice's fold gives (each council's record whole, FORMAT.md §15.2),
//! never stated by the server.

use crate::chart::xml_escape;
use crate::i18n::{tr, tra};
use crate::listing::DashboardRow;
use crate::{Chrome, PageError, RenderedPage};
use askama::Template;
use klero_domain::{AssemblyId, CouncilId, Decision, ImplementationStatus, DAY_MS};
use klero_projections::views::ResponseState;
use klero_verifier::slice::VerifiedSlice;
use std::fmt::Write as _;

/// One council, compared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CouncilRow {
    pub id: String,
    pub name: String,
    pub assemblies: u64,
    /// Quotas met by the panels drawn, of all their quotas: how representative the panels are.
    pub quotas_met: u64,
    pub quotas: u64,
    pub submissions_received: u64,
    pub submissions_published: u64,
    pub recommendations: u64,
    pub adopted: u64,
    pub accepted: u64,
    pub accepted_in_part: u64,
    pub not_accepted: u64,
    pub referred: u64,
    pub implemented: u64,
    /// Whole days from adoption to the first answer (rounded up): the median (the lower of the
    /// two middle ones) and the worst, over answered adoptions.
    pub median_days_to_answer: Option<u64>,
    pub worst_days_to_answer: Option<u64>,
    pub overdue: u64,
    /// Answers whose recording a quorum of witnesses attests (FORMAT.md §13.6), and those of
    /// them attested only after their deadline, whatever the log's clock says.
    pub answers_attested: u64,
    pub attested_late: u64,
}

impl CouncilRow {
    /// The row of `council`, from a slice that holds the council's record whole.
    pub fn of(slice: &VerifiedSlice, council: &CouncilId) -> Result<CouncilRow, PageError> {
        let state = slice.fold.state();
        let registered = state
            .councils()
            .get(council)
            .ok_or_else(|| PageError::NotFound(format!("council {council} is not in the slice")))?;
        let mut row = CouncilRow { id: council.to_string(), name: registered.name.clone(), ..Default::default() };
        let mut days = Vec::new();
        for id in council_assemblies(slice, council) {
            let views = crate::assembly::views_of(slice, &id)?;
            row.assemblies += 1;
            if views.panel.body.seated > 0 {
                row.quotas += views.panel.body.quotas.len() as u64;
                row.quotas_met += views.panel.body.quotas.iter().filter(|q| q.within_quota).count() as u64;
            }
            let deliberation = &views.deliberation.body;
            row.submissions_received += deliberation.public_submissions.total;
            row.submissions_published += deliberation.public_submissions.total;
            for call in &deliberation.calls {
                row.submissions_received += call.submissions.received;
                row.submissions_published += call.submissions.published;
            }
            row.recommendations += views.overview.body.counts.recommendations;
            for adopted in &views.accountability.body.adopted_recommendations {
                row.adopted += 1;
                if adopted.state == ResponseState::Overdue {
                    row.overdue += 1;
                }
                if adopted.implementation.last().is_some_and(|u| u.status == ImplementationStatus::Completed) {
                    row.implemented += 1;
                }
                let Some(response) = &adopted.response else { continue };
                match response.current.decision {
                    Decision::Accepted => row.accepted += 1,
                    Decision::AcceptedInPart => row.accepted_in_part += 1,
                    Decision::NotAccepted => row.not_accepted += 1,
                    Decision::ReferredForFurtherStudy => row.referred += 1,
                }
                if let Some(first) = response.history.first() {
                    let took = first.recorded_at_unix_ms.saturating_sub(adopted.adoption.recorded_at_unix_ms);
                    days.push(took.div_ceil(DAY_MS));
                    if let Some(attested) = slice.attested_by(first.log_index) {
                        row.answers_attested += 1;
                        if attested > adopted.response_due_by_unix_ms {
                            row.attested_late += 1;
                        }
                    }
                }
            }
        }
        days.sort_unstable();
        row.median_days_to_answer = days.get(days.len().saturating_sub(1) / 2).copied().filter(|_| !days.is_empty());
        row.worst_days_to_answer = days.last().copied();
        Ok(row)
    }

    /// Adoptions not answered yet.
    pub fn awaiting(&self) -> u64 {
        self.adopted - (self.accepted + self.accepted_in_part + self.not_accepted + self.referred)
    }

    /// "12 of 12", or a dash when no panel was drawn.
    pub fn quotas_words(&self) -> String {
        if self.quotas == 0 {
            return "—".into();
        }
        tra("programme-quotas-met", &[("met", self.quotas_met.into()), ("count", self.quotas.into())])
    }

    /// Answers the witnesses saw only after their deadline, or a dash when they attest none.
    pub fn attested_late_words(&self) -> String {
        if self.answers_attested == 0 {
            return "—".into();
        }
        tra(
            "programme-attested-late-of",
            &[("late", self.attested_late.into()), ("count", self.answers_attested.into())],
        )
    }

    pub fn median_words(&self) -> String {
        days_words(self.median_days_to_answer)
    }

    pub fn worst_words(&self) -> String {
        days_words(self.worst_days_to_answer)
    }
}

fn days_words(days: Option<u64>) -> String {
    match days {
        Some(days) => tra("programme-days", &[("count", days.into())]),
        None => "—".into(),
    }
}

/// The council's assemblies in the slice, in the order they were convened.
fn council_assemblies(slice: &VerifiedSlice, council: &CouncilId) -> Vec<AssemblyId> {
    slice.fold.state().assembly_ids().iter().filter(|id| id.council() == Some(council.as_str())).cloned().collect()
}

/// The CSV of rows (RFC 4180, a header line, CRLF), in the column order of the dashboard.
pub fn programme_csv(rows: &[CouncilRow]) -> String {
    let mut csv = String::from(
        "council_id,council,assemblies,quotas_met,quotas,submissions_received,submissions_published,\
         recommendations,adopted,accepted,accepted_in_part,not_accepted,referred_for_further_study,implemented,\
         median_days_to_answer,worst_days_to_answer,overdue,answers_attested,answers_attested_late\r\n",
    );
    let field = |text: &str| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    for r in rows {
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            field(&r.id),
            field(&r.name),
            r.assemblies,
            r.quotas_met,
            r.quotas,
            r.submissions_received,
            r.submissions_published,
            r.recommendations,
            r.adopted,
            r.accepted,
            r.accepted_in_part,
            r.not_accepted,
            r.referred,
            r.implemented,
            number(r.median_days_to_answer),
            number(r.worst_days_to_answer),
            r.overdue,
            r.answers_attested,
            r.attested_late
        );
    }
    csv
}

const BAR_ROW: u64 = 34;
const BAR_LABEL: u64 = 230;
const BAR_PLOT: u64 = 320;

/// The councils' adopted recommendations by their answer, a stacked bar each, drawn on the
/// server as SVG; every number is also in the table, and each segment says itself in words.
pub fn answers_chart(rows: &[CouncilRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let most = rows.iter().map(|r| r.adopted).max().unwrap_or(0).max(1);
    let height = BAR_ROW * rows.len() as u64 + 10;
    let width = BAR_LABEL + BAR_PLOT + 170;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"answers-chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"answers-chart-title\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"answers-chart-title\">{}</title>",
        xml_escape(&tr("programme-chart-title"))
    );
    for (n, row) in rows.iter().enumerate() {
        let y = n as u64 * BAR_ROW + 6;
        let _ = write!(svg, "<text x=\"0\" y=\"{}\" class=\"label\">{}</text>", y + 16, xml_escape(&row.name));
        let mut x = BAR_LABEL;
        for (count, class, id) in [
            (row.accepted, "accepted", "programme-accepted"),
            (row.accepted_in_part, "in-part", "programme-accepted-in-part"),
            (row.not_accepted, "not-accepted", "programme-not-accepted"),
            (row.referred, "referred", "programme-referred"),
            (row.awaiting(), "awaiting", "programme-awaiting"),
        ] {
            if count == 0 {
                continue;
            }
            let w = (count * BAR_PLOT / most).max(2);
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"22\" class=\"{class}\"><title>{}</title></rect>",
                y,
                xml_escape(&format!("{}: {count}", tr(id)))
            );
            x += w;
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"count\">{}</text>",
            BAR_LABEL + BAR_PLOT + 8,
            y + 16,
            xml_escape(&tra(
                "programme-chart-line",
                &[("adopted", row.adopted.into()), ("answered", (row.adopted - row.awaiting()).into())]
            ))
        );
    }
    svg.push_str("</svg>");
    svg
}

#[derive(Clone, Debug)]
pub struct ProgrammeModel {
    pub rows: Vec<CouncilRow>,
    pub chart: String,
    pub next_after: Option<String>,
}

impl ProgrammeModel {
    pub fn from_slice(slice: &VerifiedSlice) -> Result<ProgrammeModel, PageError> {
        let rows =
            slice.councils.iter().map(|council| CouncilRow::of(slice, council)).collect::<Result<Vec<_>, _>>()?;
        let next_after = slice.more_after_page.then(|| slice.councils.last().map(ToString::to_string)).flatten();
        Ok(ProgrammeModel { chart: answers_chart(&rows), rows, next_after })
    }
}

#[derive(Clone, Debug)]
pub struct CouncilModel {
    pub row: CouncilRow,
    pub root_key: String,
    pub assemblies: Vec<DashboardRow>,
    pub chart: String,
}

impl CouncilModel {
    pub fn from_slice(slice: &VerifiedSlice, council: &CouncilId) -> Result<CouncilModel, PageError> {
        let row = CouncilRow::of(slice, council)?;
        let root = slice.fold.state().councils().get(council).map(|c| c.root_public_key).unwrap_or_default();
        let assemblies = council_assemblies(slice, council)
            .iter()
            .map(|id| DashboardRow::of(slice, id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CouncilModel {
            chart: answers_chart(std::slice::from_ref(&row)),
            row,
            root_key: klero_ledger::hash::to_hex(&root),
            assemblies,
        })
    }
}

#[derive(Template)]
#[template(path = "programme.html")]
struct ProgrammePage {
    chrome: Chrome,
    p: ProgrammeModel,
}

#[derive(Template)]
#[template(path = "council.html")]
struct CouncilPage {
    chrome: Chrome,
    c: CouncilModel,
}

pub(crate) fn render_programme(chrome: Chrome, slice: &VerifiedSlice) -> Result<RenderedPage, PageError> {
    let p = ProgrammeModel::from_slice(slice)?;
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: tr("title-programme"),
        body: ProgrammePage { chrome, p }.render()?,
        feed: None,
    })
}

pub(crate) fn render_council(
    chrome: Chrome,
    slice: &VerifiedSlice,
    council: &CouncilId,
) -> Result<RenderedPage, PageError> {
    let c = CouncilModel::from_slice(slice, council)?;
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: tra("title-council", &[("name", c.row.name.clone().into())]),
        body: CouncilPage { chrome, c }.render()?,
        feed: None,
    })
}
