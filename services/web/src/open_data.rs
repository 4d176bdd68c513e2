//! Open data: each view with its digest, the recommendations and responses as CSV in the
//! shape of Decidim's accountability results, an Atom feed of the council's answers and
//! progress, and the documents events commit to.

use crate::pages::parse_assembly;
use crate::{CachedPage, Encoding, PageError, Web};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use klero_domain::AssemblyId;
use klero_pages::format::{self, decision_label, status_label};
use klero_pages::{AssemblyModel, PersonalShown};
use klero_projections::views::{AssemblyViewSet, PersonalTextView};
use klero_projections::ViewName;
use klero_verifier::slice::{SliceTarget, VerifiedSlice};
use std::fmt::Write as _;
use std::sync::Arc;

impl Web {
    /// An assembly's verified slice at the pages' checkpoint, with its views.
    async fn assembly_slice(
        &self,
        id: &AssemblyId,
        size: u64,
    ) -> Result<(Arc<VerifiedSlice>, AssemblyViewSet), PageError> {
        let slice = self.verified(&SliceTarget::Assembly(id.clone()), size).await?;
        let views = slice
            .fold
            .views()
            .assembly_views(id)
            .ok_or_else(|| PageError::not_found(format!("The record holds no assembly {id}.")))?;
        Ok((slice, views))
    }
}

/// `GET /assemblies/{id}/views/{name}.json`: the view's canonical JSON bytes, with its digest,
/// tree size and root in headers: the view the pages show, at their checkpoint.
pub async fn view_file(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    Path((id, file)): Path<(String, String)>,
) -> Response<Body> {
    let size = match web.page_size().await {
        Ok(size) => size,
        Err(error) => return error.into_response(),
    };
    web.cached(format!("/assemblies/{id}/views/{file}"), size, encoding, || async {
        let id = parse_assembly(&id)?;
        let name = file.strip_suffix(".json").and_then(ViewName::parse).ok_or_else(|| {
            PageError::not_found(format!(
                "There is no view file {file:?}: the views are {}, each as <name>.json.",
                ViewName::ALL.map(ViewName::as_str).join(", ")
            ))
        })?;
        let (slice, _) = web.assembly_slice(&id, size).await?;
        let rendered = slice
            .fold
            .views()
            .render(name, &id)
            .ok_or_else(|| PageError::not_found(format!("The record holds no assembly {id}.")))?;
        Ok(CachedPage {
            gzipped: None,
            status: StatusCode::OK,
            content_type: "application/json",
            body: rendered.json.into(),
            headers: vec![
                ("klero-view-digest", rendered.digest.to_hex()),
                ("klero-tree-size", rendered.tree_size.to_string()),
                ("klero-root-hash", slice.checkpoint.checkpoint().root_hash.to_hex()),
            ],
        })
    })
    .await
}

/// One CSV field (RFC 4180), always quoted. A field a spreadsheet would run as a formula (it
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as OWASP
/// advises: the record holds text from the public.
fn csv_field(out: &mut String, value: &str) {
    out.push('"');
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
}

/// The CSV columns: Decidim's accountability results, then what the council decided.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "title",
    "description",
    "start_date",
    "end_date",
    "status",
    "progress",
    "decision",
    "rationale",
    "responsible_body",
    "response_due_by",
    "response_state",
    "late",
    "adoption_event_hash",
    "response_log_index",
];

pub async fn csv(State(web): State<Arc<Web>>, encoding: Encoding, Path(id): Path<String>) -> Response<Body> {
    let size = match web.page_size().await {
        Ok(size) => size,
        Err(error) => return error.into_response(),
    };
    web.cached(format!("/assemblies/{id}/recommendations.csv"), size, encoding, || async {
        let id = parse_assembly(&id)?;
        let (slice, views) = web.assembly_slice(&id, size).await?;
        let assembly = AssemblyModel::from_slice(&slice, &id)?;
        let adopted = &views.accountability.body.adopted_recommendations;
        let mut out = String::new();
        out.push_str(&CSV_COLUMNS.join(","));
        out.push_str("\r\n");
        for r in &assembly.recommendations {
            let account = adopted.iter().find(|a| a.recommendation_id == r.id);
            let latest = account.and_then(|a| a.implementation.last());
            let answer = account.and_then(|a| a.response.as_ref()).map(|response| &response.current);
            let status = match (latest, answer) {
                (Some(update), _) => status_label(update.status).to_string(),
                (None, Some(answer)) => decision_label(answer.decision).to_string(),
                (None, None) => r.status.to_string(),
            };
            let fields = [
                r.id.clone(),
                r.title.clone(),
                r.text.text().unwrap_or_default().to_string(),
                account.map(|a| format::iso_date(a.adoption.recorded_at_unix_ms)).unwrap_or_default(),
                answer.map(|a| a.due_on.to_string()).unwrap_or_default(),
                status,
                latest.map(|u| u.progress_percent.to_string()).unwrap_or_default(),
                answer.map(|a| a.decision.as_str().to_string()).unwrap_or_default(),
                r.answer.as_ref().map(|a| a.rationale.to_string()).unwrap_or_default(),
                answer.map(|a| a.responsible_body.clone()).unwrap_or_default(),
                account.map(|a| format::iso_date(a.response_due_by_unix_ms)).unwrap_or_default(),
                account.map(|a| response_state(a.state).to_string()).unwrap_or_default(),
                r.late.to_string(),
                account.map(|a| a.adoption.event_hash.to_hex()).unwrap_or_default(),
                answer.map(|a| a.log_index.to_string()).unwrap_or_default(),
            ];
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                csv_field(&mut out, field);
            }
            out.push_str("\r\n");
        }
        Ok(CachedPage {
            gzipped: None,
            status: StatusCode::OK,
            content_type: "text/csv; charset=utf-8; header=present",
            body: out.into(),
            headers: vec![("content-disposition", format!("attachment; filename=\"{id}-recommendations.csv\""))],
        })
    })
    .await
}

/// `GET /programme.csv`: every council's figures as the programme's pages show them, one row a
/// council, each computed from that council's slice, verified as a page's is.
pub async fn programme_csv(State(web): State<Arc<Web>>, encoding: Encoding) -> Response<Body> {
    let size = match web.page_size().await {
        Ok(size) => size,
        Err(error) => return error.into_response(),
    };
    web.cached("/programme.csv".to_string(), size, encoding, || async {
        let mut rows = Vec::new();
        let mut after = None;
        // Page by page, as the programme's pages list councils; each page's councils whole.
        loop {
            let slice = web.verified(&SliceTarget::Programme { after: after.clone() }, size).await?;
            for council in &slice.councils {
                rows.push(klero_pages::programme::CouncilRow::of(&slice, council)?);
            }
            if !slice.more_after_page || rows.len() >= PROGRAMME_CSV_COUNCILS_MAX {
                break;
            }
            after = slice.councils.last().cloned();
        }
        Ok(CachedPage {
            gzipped: None,
            status: StatusCode::OK,
            content_type: "text/csv; charset=utf-8; header=present",
            body: klero_pages::programme::programme_csv(&rows).into(),
            headers: vec![("content-disposition", "attachment; filename=\"programme.csv\"".to_string())],
        })
    })
    .await
}

/// Most councils `/programme.csv` lists: far above any programme's, a bound on one request.
const PROGRAMME_CSV_COUNCILS_MAX: usize = 10_000;

fn response_state(state: klero_projections::views::ResponseState) -> &'static str {
    match state {
        klero_projections::views::ResponseState::Responded => "responded",
        klero_projections::views::ResponseState::NoResponseYet => "no_response_yet",
        klero_projections::views::ResponseState::Overdue => "overdue",
    }
}

fn xml(text: &str) -> String {
    klero_pages::chart::xml_escape(text)
}

/// The feed's links are absolute, from the Host the visitor used (feed readers need them).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or("localhost");
    format!("http://{host}")
}

pub async fn atom(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(&headers);
    let size = match web.page_size().await {
        Ok(size) => size,
        Err(error) => return error.into_response(),
    };
    web.cached(format!("{base}/assemblies/{id}/feed.atom"), size, encoding, || async {
        let id = parse_assembly(&id)?;
        let (slice, views) = web.assembly_slice(&id, size).await?;
        let origin = web.app.verifier_key().name().to_string();
        let page = format!("{base}/assemblies/{id}");
        // Sealed text shows as the pages show it: opened, or when and why it was erased.
        let shown = |text: &PersonalTextView| match text {
            PersonalTextView::Plain(text) => text.clone(),
            PersonalTextView::Sealed { erased_on: Some(on), erasure_reason, .. } => {
                PersonalShown::Erased { on: format::date_words(&on.to_string()), reason: erasure_reason.clone().unwrap_or_default() }
                    .to_string()
            }
            PersonalTextView::Sealed { sealed_commitment, .. } => match slice.openings.get(sealed_commitment) {
                Some(opened) => opened.text.clone(),
                None => PersonalShown::Unopened.to_string(),
            },
        };
        // An entry changes when its text is erased: its `updated` is then the erasure's time,
        // so that feed readers fetch it again.
        let erased_at = slice.erasure_times();
        let updated_at = |recorded: u64, event_hash: &klero_ledger::Hash256| {
            erased_at.get(event_hash).map_or(recorded, |erased| recorded.max(*erased))
        };
        // (updated, event hash, title, text, anchor)
        let mut entries: Vec<(u64, String, String, String, String)> = Vec::new();
        for a in &views.accountability.body.adopted_recommendations {
            let rid = &a.recommendation_id;
            for answer in a.response.iter().flat_map(|response| &response.history) {
                let verb = if answer.reason_for_amendment.is_some() { "amended its answer" } else { "answered" };
                entries.push((
                    updated_at(answer.recorded_at_unix_ms, &answer.event_hash),
                    answer.event_hash.to_hex(),
                    format!("The council {verb} {rid} ({}): {}", a.title, decision_label(answer.decision)),
                    format!(
                        "{} Responsible: {}. Due by {}.",
                        shown(&answer.rationale),
                        answer.responsible_body,
                        format::date_words(&answer.due_on.to_string())
                    ),
                    format!("recommendation-{rid}"),
                ));
            }
            for update in &a.implementation {
                entries.push((
                    updated_at(update.recorded_at_unix_ms, &update.event_hash),
                    update.event_hash.to_hex(),
                    format!("Progress on {rid} ({}): {}, {}%", a.title, status_label(update.status), update.progress_percent),
                    shown(&update.note),
                    format!("recommendation-{rid}"),
                ));
            }
        }
        // Newest first, as feed readers expect; entries recorded in the same millisecond keep
        // the views' order (a stable sort).
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        let updated = entries.first().map_or(views.overview.as_of_unix_ms, |e| e.0);
        let mut feed = String::new();
        let _ = write!(
            feed,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <id>urn:klero:{}:assembly:{}</id>\n<title>{}: the council's answers and progress</title>\n\
             <updated>{}</updated>\n<author><name>{}</name></author>\n\
             <link rel=\"self\" href=\"{page}/feed.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n",
            xml(&origin),
            xml(id.as_str()),
            xml(&views.overview.body.remit_question),
            format::rfc3339(updated),
            xml(&views.overview.body.council),
        );
        for (recorded, event_hash, title, text, anchor) in &entries {
            let _ = write!(
                feed,
                "<entry>\n<id>urn:klero:{}:event:{}</id>\n<title>{}</title>\n<updated>{}</updated>\n\
                 <link rel=\"alternate\" type=\"text/html\" href=\"{page}#{}\"/>\n<content type=\"text\">{}</content>\n</entry>\n",
                xml(&origin),
                event_hash,
                xml(title),
                format::rfc3339(*recorded),
                xml(anchor),
                xml(text),
            );
        }
        feed.push_str("</feed>\n");
        Ok(CachedPage::with(StatusCode::OK, "application/atom+xml; charset=utf-8", feed))
    })
    .await
}

/// `GET /receipt/{log_index}/feed.atom` (Welsh: `/cy/receipt/…`): what became of one
/// resident's submission, as its notifications say it (published or withheld, cited, answered),
/// for a resident who left no email. Derived from the verified slice of its trace, as the
/// receipt page is.
pub async fn receipt_feed(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    crate::PageLang(lang): crate::PageLang,
    Path(log_index): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(&headers);
    let (log_index, size) = match (crate::pages::parse_number("log_index", &log_index), web.page_size().await) {
        (Ok(log_index), Ok(size)) => (log_index, size),
        (Err(error), _) | (_, Err(error)) => return error.in_lang(lang).into_response(),
    };
    let pre = lang.prefix();
    web.cached(format!("{base}{pre}/receipt/{log_index}/feed.atom"), size, encoding, || async {
        let page = klero_pages::Page::Trace { log_index, receipt: None };
        let slice = web.verified(&page.slice_target(), size).await.map_err(|e| e.in_lang(lang))?;
        let updates = klero_pages::submission_updates(&slice, log_index).map_err(|e| PageError::from(e).in_lang(lang))?;
        let origin = web.app.verifier_key().name().to_string();
        // Each language's feed is a feed of its own, with ids of its own.
        let id = format!("urn:klero:{}:receipt:{log_index}{}", xml(&origin), if pre.is_empty() { "" } else { ":cy" });
        let link = format!("{base}{pre}/receipt?log_index={log_index}");
        let submitted_at = slice.events.get(&log_index).map_or(0, |(envelope, _)| envelope.ledger().recorded_at_unix_ms);
        let updated = updates.last().map_or(submitted_at, |u| u.recorded_at_unix_ms);
        let mut feed = String::new();
        let _ = write!(
            feed,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\">\n\
             <id>{id}</id>\n<title>{}</title>\n\
             <updated>{}</updated>\n<author><name>{}</name></author>\n\
             <link rel=\"self\" href=\"{base}{pre}/receipt/{log_index}/feed.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            lang.tag(),
            xml(&lang.ta("feed-receipt-title", &[("index", klero_pages::Arg::Number(log_index))])),
            format::rfc3339(updated),
            xml(&origin),
            xml(&link),
        );
        // Newest first, as feed readers expect.
        for update in updates.iter().rev() {
            let _ = write!(
                feed,
                "<entry>\n<id>{id}:event:{}</id>\n<title>{}</title>\n<updated>{}</updated>\n\
                 <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<content type=\"text\">{}{}</content>\n</entry>\n",
                update.event_hash,
                xml(&update.update.title_in(lang)),
                format::rfc3339(update.recorded_at_unix_ms),
                xml(&link),
                xml(&update.update.explanation_in(lang)),
                xml(&lang.ta("feed-entry-event", &[("index", klero_pages::Arg::Number(update.log_index))])),
            );
        }
        feed.push_str("</feed>\n");
        Ok(CachedPage::with(StatusCode::OK, "application/atom+xml; charset=utf-8", feed))
    })
    .await
}

/// How responses that hold personal data (documents marked so, pages and slices with opened
/// sealed text) may be cached: nowhere, since an erasure must take them out of circulation.
pub(crate) const PERSONAL_DATA_CACHE: &str = "private, no-store";
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";

/// `GET /documents/{sha256}`: a document an event commits to, byte for byte, with the media
/// type it was uploaded with. Content-addressed, so cacheable for ever unless it is personal
/// data; sandboxed, so that a document can never run as part of this site.
pub async fn document(State(web): State<Arc<Web>>, Path(sha256): Path<String>) -> Response<Body> {
    let hash = match klero_ledger::Hash256::from_hex(&sha256) {
        Ok(hash) if sha256.len() == 64 && sha256.bytes().all(|b| !b.is_ascii_uppercase()) => hash,
        _ => {
            return PageError::bad_request("A document is named by its SHA-256: 64 lowercase hex digits.")
                .into_response()
        }
    };
    match web.app.download_document(hash.0).await {
        Ok((document, _)) => {
            let textual = document.info.media_type.starts_with("text/");
            let mut response = Response::new(Body::from(document.bytes));
            let headers = response.headers_mut();
            let media_type = HeaderValue::from_str(&document.info.media_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            headers.insert(header::CONTENT_TYPE, media_type);
            // Personal data may be erased: no cache may keep it. Anything else is
            // content-addressed, and the same for ever.
            let cache = if document.info.personal_data { PERSONAL_DATA_CACHE } else { IMMUTABLE_CACHE };
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            if !textual {
                if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{sha256}\"")) {
                    headers.insert(header::CONTENT_DISPOSITION, value);
                }
            }
            response
        }
        Err(error) => PageError::from(error).into_response(),
    }
}
