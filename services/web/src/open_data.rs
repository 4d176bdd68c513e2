//! Open data: each view with its digest, the recommendations and responses as CSV in the
//! shape of Decidim's accountability results, an Atom feed of the council's answers and
//! progress, and the documents events commit to.

use crate::format::{self, decision_label, status_label};
use crate::model::{Assembly, ViewDigest, Views};
use crate::pages::parse_assembly;
use crate::{CachedPage, Encoding, PageError, Web};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use klero_projections::ViewName;
use klero_store::EventStore;
use std::fmt::Write as _;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "data.html")]
struct DataPage {
    chrome: crate::pages::Chrome,
    id: String,
    question: String,
    tree_size: u64,
    views: Vec<ViewDigest>,
}

pub async fn data_page<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Path(id): Path<String>,
) -> Response<Body> {
    web.cached(format!("/assemblies/{id}/data"), encoding, || async {
        let id = parse_assembly(&id)?;
        let views = Views::load(&web.app, &id).await?;
        let question =
            views.body(ViewName::AssemblyOverview)["remit_question"].as_str().unwrap_or_default().to_string();
        let page = DataPage {
            chrome: crate::pages::chrome_for(&web.app).await?,
            id: id.to_string(),
            question,
            tree_size: views.tree_size,
            views: views.digests,
        };
        Ok(CachedPage::html(page.render()?))
    })
    .await
}

/// `GET /assemblies/{id}/views/{name}.json`: the view's canonical JSON bytes, with its digest,
/// tree size and root in headers.
pub async fn view_file<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Path((id, file)): Path<(String, String)>,
) -> Response<Body> {
    web.cached(format!("/assemblies/{id}/views/{file}"), encoding, || async {
        let id = parse_assembly(&id)?;
        let name = file.strip_suffix(".json").and_then(ViewName::parse).ok_or_else(|| {
            PageError::not_found(format!(
                "There is no view file {file:?}: the views are {}, each as <name>.json.",
                ViewName::ALL.map(ViewName::as_str).join(", ")
            ))
        })?;
        let served = web.app.view(name, &id).await?;
        Ok(CachedPage {
            gzipped: None,
            status: StatusCode::OK,
            content_type: "application/json",
            body: served.json.into(),
            headers: vec![
                ("klero-view-digest", served.digest.to_hex()),
                ("klero-tree-size", served.tree_size.to_string()),
                ("klero-root-hash", served.root_hash.to_hex()),
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

pub async fn csv<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Path(id): Path<String>,
) -> Response<Body> {
    web.cached(format!("/assemblies/{id}/recommendations.csv"), encoding, || async {
        let id = parse_assembly(&id)?;
        let assembly = Assembly::load(&web.app, &id).await?;
        let accountability: serde_json::Value =
            serde_json::from_str(&web.app.view(ViewName::Accountability, &id).await?.json).unwrap_or_default();
        let adopted = accountability["body"]["adopted_recommendations"].as_array().cloned().unwrap_or_default();
        let mut out = String::new();
        out.push_str(&CSV_COLUMNS.join(","));
        out.push_str("\r\n");
        for r in &assembly.recommendations {
            let account = adopted.iter().find(|a| a["recommendation_id"] == r.id.as_str());
            let latest = r.latest_update();
            let due_by =
                account.and_then(|a| a["response_due_by_unix_ms"].as_u64()).map(format::iso_date).unwrap_or_default();
            let start = account
                .and_then(|a| a["adoption"]["recorded_at_unix_ms"].as_u64())
                .map(format::iso_date)
                .unwrap_or_default();
            let status = match (latest, &r.answer) {
                (Some(update), _) => status_label(&update.status).to_string(),
                (None, Some(answer)) => decision_label(&answer.decision).to_string(),
                (None, None) => r.status.clone(),
            };
            let fields = [
                r.id.clone(),
                r.title.clone(),
                r.text.text.clone().unwrap_or_default(),
                start,
                r.answer.as_ref().map(|a| a.due_on_iso.clone()).unwrap_or_default(),
                status,
                latest.map(|u| u.progress.to_string()).unwrap_or_default(),
                r.answer.as_ref().map(|a| a.decision.clone()).unwrap_or_default(),
                r.answer.as_ref().map(|a| a.rationale.text.clone()).unwrap_or_default(),
                r.answer.as_ref().map(|a| a.responsible_body.clone()).unwrap_or_default(),
                due_by,
                r.state.clone().unwrap_or_default(),
                r.late.to_string(),
                r.adoption.as_ref().map(|a| a.event_hash.clone()).unwrap_or_default(),
                r.answer.as_ref().map(|a| a.log_index.to_string()).unwrap_or_default(),
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

fn xml(text: &str) -> String {
    crate::chart::xml_escape(text)
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

pub async fn atom<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(&headers);
    web.cached(format!("{base}/assemblies/{id}/feed.atom"), encoding, || async {
        let id = parse_assembly(&id)?;
        let accountability: serde_json::Value =
            serde_json::from_str(&web.app.view(ViewName::Accountability, &id).await?.json).unwrap_or_default();
        let overview: serde_json::Value =
            serde_json::from_str(&web.app.view(ViewName::AssemblyOverview, &id).await?.json).unwrap_or_default();
        let origin = web.app.verifier_key().name().to_string();
        let page = format!("{base}/assemblies/{id}");
        // Sealed text shows as the pages show it: opened, or when and why it was erased.
        let openings = crate::model::openings(&web.app, &id).await?;
        let shown = |value: &serde_json::Value, plain: &str| crate::model::personal(value, plain, "", &openings).text;
        // (recorded, event hash, title, text, anchor)
        let mut entries: Vec<(u64, String, String, String, String)> = Vec::new();
        for a in accountability["body"]["adopted_recommendations"].as_array().into_iter().flatten() {
            let rid = a["recommendation_id"].as_str().unwrap_or_default();
            let title = a["title"].as_str().unwrap_or_default();
            for answer in a["response"]["history"].as_array().into_iter().flatten() {
                let decision = decision_label(answer["decision"].as_str().unwrap_or_default());
                let verb = if answer["reason_for_amendment"].is_string() { "amended its answer" } else { "answered" };
                entries.push((
                    answer["recorded_at_unix_ms"].as_u64().unwrap_or(0),
                    answer["event_hash"].as_str().unwrap_or_default().into(),
                    format!("The council {verb} {rid} ({title}): {decision}"),
                    format!(
                        "{} Responsible: {}. Due by {}.",
                        shown(&answer["rationale"], "rationale"),
                        answer["responsible_body"].as_str().unwrap_or_default(),
                        format::date_words(answer["due_on"].as_str().unwrap_or_default())
                    ),
                    format!("recommendation-{rid}"),
                ));
            }
            for update in a["implementation"].as_array().into_iter().flatten() {
                entries.push((
                    update["recorded_at_unix_ms"].as_u64().unwrap_or(0),
                    update["event_hash"].as_str().unwrap_or_default().into(),
                    format!(
                        "Progress on {rid} ({title}): {}, {}%",
                        status_label(update["status"].as_str().unwrap_or_default()),
                        update["progress_percent"].as_u64().unwrap_or(0)
                    ),
                    shown(&update["note"], "note"),
                    format!("recommendation-{rid}"),
                ));
            }
        }
        // Newest first, as feed readers expect; entries recorded in the same millisecond keep
        // the views' order (a stable sort).
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        let updated = entries.first().map_or(overview["as_of_unix_ms"].as_u64().unwrap_or(0), |e| e.0);
        let mut feed = String::new();
        let _ = write!(
            feed,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <id>urn:klero:{}:assembly:{}</id>\n<title>{}: the council's answers and progress</title>\n\
             <updated>{}</updated>\n<author><name>{}</name></author>\n\
             <link rel=\"self\" href=\"{page}/feed.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n",
            xml(&origin),
            xml(id.as_str()),
            xml(overview["body"]["remit_question"].as_str().unwrap_or_default()),
            format::rfc3339(updated),
            xml(overview["body"]["council"].as_str().unwrap_or("Kleroterion")),
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

/// `GET /documents/{sha256}`: a document an event commits to, byte for byte, with the media
/// type it was uploaded with. Content-addressed, so cacheable for ever; sandboxed, so that a
/// document can never run as part of this site.
pub async fn document<S: EventStore>(State(web): State<Arc<Web<S>>>, Path(sha256): Path<String>) -> Response<Body> {
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
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
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
