//! The pages: templates (`templates/`, compiled into the binary and checked at build time)
//! and their handlers. Every recorded string goes through the templates' HTML escaping; the
//! one value inserted unescaped is the quota chart, which `chart.rs` builds and escapes.

use crate::format::{self, decision_label, status_label};
use crate::model::{self, Answer, Assembly, DocumentShown, PersonalShown, Update};
use crate::{CachedPage, Encoding, PageError, Web};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Response, StatusCode};
use base64::Engine as _;
use klero_application::Application;
use klero_domain::{AssemblyId, StreamKind};
use klero_ledger::bundle::ProofBundle;
use klero_ledger::merkle::verify_consistency;
use klero_projections::ViewName;
use klero_store::EventStore;
use serde_json::Value;
use std::sync::Arc;

/// What every page carries: the keys a browser checks with, and the log size it shows.
pub struct Chrome {
    pub log_vkey: String,
    pub trust_root: String,
    pub tree_size: u64,
    pub as_of: String,
}

/// The chrome of a page over this core.
pub async fn chrome_for<S: EventStore>(app: &Application<S>) -> Result<Chrome, PageError> {
    chrome(app).await
}

async fn chrome<S: EventStore>(app: &Application<S>) -> Result<Chrome, PageError> {
    let (tree_size, trust_root, as_of) = app
        .with_fold(|fold| {
            (fold.next_log_index(), klero_ledger::hash::to_hex(fold.state().trust_root()), fold.views().as_of_unix_ms())
        })
        .await?;
    Ok(Chrome {
        log_vkey: app.verifier_key().to_vkey_string(),
        trust_root,
        tree_size,
        as_of: if as_of == 0 { "the start".into() } else { format::time_words(as_of) },
    })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    heading: &'a str,
    message: &'a str,
}

/// An error page; it names no log state, since it may be shown when the log cannot be read.
pub fn error_page(status: StatusCode, message: &str) -> String {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "That request cannot be answered",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "Please try again shortly",
        _ => "Something went wrong",
    };
    let chrome = Chrome { log_vkey: String::new(), trust_root: String::new(), tree_size: 0, as_of: "unknown".into() };
    ErrorPage { chrome, heading, message }.render().unwrap_or_else(|_| message.to_string())
}

struct AssemblyCard {
    id: String,
    question: String,
    council: String,
    area: String,
    status: String,
    convened_log_index: u64,
    recommendations: u64,
    responses: u64,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    chrome: Chrome,
    assemblies: Vec<AssemblyCard>,
}

async fn assembly_ids<S: EventStore>(app: &Application<S>) -> Result<Vec<AssemblyId>, PageError> {
    Ok(app.with_fold(|fold| fold.state().assembly_ids().to_vec()).await?)
}

pub async fn index<S: EventStore>(State(web): State<Arc<Web<S>>>, encoding: Encoding) -> Response<Body> {
    web.cached("/".into(), encoding, || async {
        let mut assemblies = Vec::new();
        for id in assembly_ids(&web.app).await? {
            let view = web.app.view(ViewName::AssemblyOverview, &id).await?;
            let json: Value = serde_json::from_str(&view.json).unwrap_or_default();
            let body = &json["body"];
            assemblies.push(AssemblyCard {
                id: id.to_string(),
                question: body["remit_question"].as_str().unwrap_or_default().into(),
                council: body["council"].as_str().unwrap_or_default().into(),
                area: body["area"].as_str().unwrap_or_default().into(),
                status: model::standing_label(body["status"].as_str().unwrap_or_default()),
                convened_log_index: body["convened_log_index"].as_u64().unwrap_or(0),
                recommendations: body["counts"]["recommendations"].as_u64().unwrap_or(0),
                responses: body["counts"]["responses"].as_u64().unwrap_or(0),
            });
        }
        Ok(CachedPage::html(IndexPage { chrome: chrome(&web.app).await?, assemblies }.render()?))
    })
    .await
}

#[derive(Default)]
struct DashboardRow {
    id: String,
    question: String,
    council: String,
    recommended: u64,
    adopted: u64,
    answered: u64,
    accepted: u64,
    implemented: u64,
    overdue: u64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    rows: Vec<DashboardRow>,
    total: DashboardRow,
}

pub async fn dashboard<S: EventStore>(State(web): State<Arc<Web<S>>>, encoding: Encoding) -> Response<Body> {
    web.cached("/dashboard".into(), encoding, || async {
        let mut rows = Vec::new();
        let mut total = DashboardRow::default();
        for id in assembly_ids(&web.app).await? {
            let overview: Value =
                serde_json::from_str(&web.app.view(ViewName::AssemblyOverview, &id).await?.json).unwrap_or_default();
            let accountability: Value =
                serde_json::from_str(&web.app.view(ViewName::Accountability, &id).await?.json).unwrap_or_default();
            let adopted = accountability["body"]["adopted_recommendations"].as_array().cloned().unwrap_or_default();
            let decision = |a: &Value| a["response"]["current"]["decision"].as_str().map(str::to_string);
            let row = DashboardRow {
                id: id.to_string(),
                question: overview["body"]["remit_question"].as_str().unwrap_or_default().into(),
                council: overview["body"]["council"].as_str().unwrap_or_default().into(),
                recommended: overview["body"]["counts"]["recommendations"].as_u64().unwrap_or(0),
                adopted: adopted.len() as u64,
                answered: adopted.iter().filter(|a| a["state"] == "responded").count() as u64,
                accepted: adopted
                    .iter()
                    .filter(|a| matches!(decision(a).as_deref(), Some("accepted" | "accepted_in_part")))
                    .count() as u64,
                implemented: adopted
                    .iter()
                    .filter(|a| {
                        a["implementation"]
                            .as_array()
                            .and_then(|u| u.last())
                            .is_some_and(|u| u["status"] == "completed")
                    })
                    .count() as u64,
                overdue: adopted.iter().filter(|a| a["state"] == "overdue").count() as u64,
            };
            total.recommended += row.recommended;
            total.adopted += row.adopted;
            total.answered += row.answered;
            total.accepted += row.accepted;
            total.implemented += row.implemented;
            total.overdue += row.overdue;
            rows.push(row);
        }
        Ok(CachedPage::html(DashboardPage { chrome: chrome(&web.app).await?, rows, total }.render()?))
    })
    .await
}

#[derive(Template)]
#[template(path = "assembly.html")]
struct AssemblyPage {
    chrome: Chrome,
    a: Assembly,
}

/// Parses an assembly id from a path, naming the rule it breaks.
pub fn parse_assembly(id: &str) -> Result<AssemblyId, PageError> {
    AssemblyId::parse(id).map_err(|e| PageError::bad_request(format!("assembly id {id:?} {e}")))
}

pub async fn assembly<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Path(id): Path<String>,
) -> Response<Body> {
    web.cached(format!("/assemblies/{id}"), encoding, || async {
        let id = parse_assembly(&id)?;
        let a = Assembly::load(&web.app, &id).await?;
        Ok(CachedPage::html(AssemblyPage { chrome: chrome(&web.app).await?, a }.render()?))
    })
    .await
}

struct EventModel {
    log_index: u64,
    type_name: String,
    event_type: String,
    event_version: u32,
    stream: String,
    stream_revision: u64,
    event_id: String,
    event_hash: String,
    author: String,
    author_is_trust_root: bool,
    /// Each grant of the author's key, in words, and the log index of the grant event.
    grants: Vec<(String, u64)>,
    authored: String,
    recorded: String,
    decoded: String,
    envelope_b64: String,
    envelope_len: usize,
    proof_tree_size: u64,
    proof_root: String,
    proof: Vec<String>,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    e: EventModel,
}

pub async fn event<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Path(log_index): Path<String>,
) -> Response<Body> {
    web.cached(format!("/events/{log_index}"), encoding, || async {
        let log_index: u64 = log_index.parse().map_err(|_| {
            PageError::bad_request(format!("an event is named by its log index, a whole number, not {log_index:?}"))
        })?;
        let size = web.app.log_size();
        if log_index >= size {
            return Err(PageError::not_found(format!("The log holds {size} events; there is no event {log_index}.")));
        }
        let (events, _) = web.app.read_log(log_index, 1).await?;
        let logged = events.into_iter().next().ok_or_else(|| PageError::not_found("no such event"))?;
        let author = logged.envelope.author();
        let checkpoint = web.app.checkpoint_covering(log_index + 1).await?;
        let tree = checkpoint.checkpoint();
        let proof = web.app.inclusion_proof(log_index, tree.tree_size)?;
        let key = author.author_public_key;
        let (trust_root, grants) = web
            .app
            .with_fold(|fold| {
                let grants = fold
                    .state()
                    .grants()
                    .iter()
                    .filter(|g| g.public_key == key)
                    .map(|g| {
                        let scope = match &g.scope {
                            klero_domain::Scope::AllAssemblies => "every assembly".to_string(),
                            klero_domain::Scope::Assembly(id) => format!("assembly {id}"),
                        };
                        let revoked =
                            g.revoked_at_log_index.map(|at| format!("; revoked at event {at}")).unwrap_or_default();
                        (
                            format!("{} ({}) for {scope}, granted by the trust root{revoked}", g.role, g.holder_title),
                            g.granted_at_log_index,
                        )
                    })
                    .collect::<Vec<_>>();
                (*fold.state().trust_root(), grants)
            })
            .await?;
        let decoded = match klero_catalogue::decode_event(&author.event_type, author.event_version, &author.payload) {
            Ok(event) => format!("{event:#?}"),
            Err(violations) => format!("The payload does not decode: {violations:?}"),
        };
        let e = EventModel {
            log_index,
            type_name: author.event_type.rsplit('.').next().unwrap_or_default().to_string(),
            event_type: author.event_type.clone(),
            event_version: author.event_version,
            stream: author.stream.clone(),
            stream_revision: logged.envelope.ledger().stream_revision,
            event_id: author.event_id.to_uuid_string(),
            event_hash: logged.event_hash.to_hex(),
            author: klero_ledger::hash::to_hex(&key),
            author_is_trust_root: key == trust_root,
            grants,
            authored: format::time_words(author.authored_at_unix_ms),
            recorded: format::time_words(logged.envelope.ledger().recorded_at_unix_ms),
            decoded,
            envelope_b64: base64::engine::general_purpose::STANDARD.encode(logged.envelope.bytes()),
            envelope_len: logged.envelope.bytes().len(),
            proof_tree_size: tree.tree_size,
            proof_root: tree.root_hash.to_hex(),
            proof: proof.iter().map(|h| h.to_hex()).collect(),
        };
        Ok(CachedPage::html(EventPage { chrome: chrome(&web.app).await?, e }.render()?))
    })
    .await
}

/// A citation of the traced input.
struct TraceCitation {
    recommendation_id: String,
    note: String,
    log_index: u64,
}

struct Outcome {
    recommendation_id: String,
    status_label: &'static str,
    answer: Option<Answer>,
    updates: Vec<Update>,
}

struct Trace {
    receipt_check: Option<String>,
    kind_label: &'static str,
    log_index: u64,
    event_hash: String,
    assembly_id: String,
    assembly_question: String,
    /// The input's document, or (a sealed submission) its text.
    document: Option<DocumentShown>,
    sealed: Option<PersonalShown>,
    cited_by: Vec<TraceCitation>,
    considered_in: Vec<TraceCitation>,
    outcomes: Vec<Outcome>,
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    chrome: Chrome,
    trace: Option<Trace>,
}

#[derive(serde::Deserialize)]
pub struct ReceiptQuery {
    log_index: Option<String>,
}

pub async fn receipt_form<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    Query(query): Query<ReceiptQuery>,
) -> Response<Body> {
    let key = format!("/receipt?{}", query.log_index.as_deref().unwrap_or(""));
    web.cached(key, encoding, || async {
        let trace = match &query.log_index {
            Some(text) => {
                let log_index = text.parse::<u64>().map_err(|_| {
                    PageError::bad_request(format!("log_index must be the whole number on your receipt, not {text:?}"))
                })?;
                Some(trace(&web.app, log_index, None).await?)
            }
            None => None,
        };
        Ok(CachedPage::html(ReceiptPage { chrome: chrome(&web.app).await?, trace }.render()?))
    })
    .await
}

#[derive(serde::Deserialize)]
pub struct ReceiptForm {
    receipt: String,
}

pub async fn receipt_posted<S: EventStore>(
    State(web): State<Arc<Web<S>>>,
    encoding: Encoding,
    axum::Form(form): axum::Form<ReceiptForm>,
) -> Response<Body> {
    let page = async {
        // Browsers send a textarea's line breaks as CRLF; the bundle's grammar is LF.
        let text = form.receipt.replace("\r\n", "\n");
        let mut text = text.trim_start().to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let bundle = ProofBundle::parse(&text)
            .map_err(|e| PageError::bad_request(format!("That is not a receipt Kleroterion gave: {e}")))?;
        let verifier = web.app.verifier_key();
        let verified = bundle.verify(&verifier).map_err(|e| {
            PageError::bad_request(format!("The receipt does not check out against this log's key: {e}"))
        })?;
        let old = verified.checkpoint.checkpoint();
        let current = web.app.fresh_checkpoint().await?;
        let new = current.checkpoint();
        let proof = web.app.consistency_proof(old.tree_size, new.tree_size)?;
        verify_consistency(old.tree_size, new.tree_size, &old.root_hash, &new.root_hash, &proof).map_err(|e| {
            PageError::bad_request(format!(
                "The log today does not extend the checkpoint on your receipt: {e}. Keep your receipt: it is evidence."
            ))
        })?;
        let check = format!(
            "Your receipt checks out: event {} was signed by its author, is in the log of {} events your receipt's \
             checkpoint covers, and the log today ({} events) extends that checkpoint.",
            bundle.leaf_index, old.tree_size, new.tree_size
        );
        let trace = trace(&web.app, bundle.leaf_index, Some(check)).await?;
        Ok::<_, PageError>(CachedPage::html(
            ReceiptPage { chrome: chrome(&web.app).await?, trace: Some(trace) }.render()?,
        ))
    };
    match page.await {
        Ok(page) => page.into_response(encoding),
        Err(error) => error.into_response(),
    }
}

/// The path from one input (a public submission or evidence) to the council's answers.
async fn trace<S: EventStore>(app: &Application<S>, log_index: u64, check: Option<String>) -> Result<Trace, PageError> {
    if log_index >= app.log_size() {
        return Err(PageError::not_found(format!("The log holds no event {log_index}.")));
    }
    let (events, _) = app.read_log(log_index, 1).await?;
    let logged = events.into_iter().next().ok_or_else(|| PageError::not_found("no such event"))?;
    let not_an_input = || {
        PageError::bad_request(format!(
            "Event {log_index} is not a public submission or evidence: only those can be followed to the council's answers."
        ))
    };
    let Some((StreamKind::Deliberation, Some(assembly))) = StreamKind::parse_stream(&logged.envelope.author().stream)
    else {
        return Err(not_an_input());
    };
    let event_hash = logged.event_hash.to_hex();
    let view: Value = serde_json::from_str(&app.view(ViewName::InputTrace, &assembly).await?.json).unwrap_or_default();
    let input = view["body"]["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["event_hash"] == event_hash.as_str())
        .cloned()
        .ok_or_else(not_an_input)?;
    let overview: Value =
        serde_json::from_str(&app.view(ViewName::AssemblyOverview, &assembly).await?.json).unwrap_or_default();
    let openings = model::openings(app, &assembly).await?;
    let citations = |key: &str| -> Vec<TraceCitation> {
        input[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| TraceCitation {
                recommendation_id: c["recommendation_id"].as_str().unwrap_or_default().into(),
                note: c["note"].as_str().unwrap_or_default().into(),
                log_index: c["log_index"].as_u64().unwrap_or(0),
            })
            .collect()
    };
    let outcomes = input["outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| Outcome {
            recommendation_id: o["recommendation_id"].as_str().unwrap_or_default().into(),
            status_label: match o["status"].as_str() {
                Some("adopted") => "adopted by the panel",
                Some("withdrawn") => "withdrawn by the panel",
                _ => "a draft of the panel",
            },
            answer: o["response"].as_object().map(|current| Answer {
                decision: current["decision"].as_str().unwrap_or_default().into(),
                decision_label: decision_label(current["decision"].as_str().unwrap_or_default()),
                rationale: model::personal(&current["rationale"], "rationale", "sealed_rationale", &openings),
                responsible_body: current["responsible_body"].as_str().unwrap_or_default().into(),
                due_on: format::date_words(current["due_on"].as_str().unwrap_or_default()),
                due_on_iso: current["due_on"].as_str().unwrap_or_default().into(),
                log_index: current["log_index"].as_u64().unwrap_or(0),
                recorded: format::day_words(current["recorded_at_unix_ms"].as_u64().unwrap_or(0)),
                amendment_reason: None,
            }),
            updates: o["implementation"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|u| Update {
                    status: u["status"].as_str().unwrap_or_default().into(),
                    status_label: status_label(u["status"].as_str().unwrap_or_default()),
                    progress: u["progress_percent"].as_u64().unwrap_or(0),
                    note: model::personal(&u["note"], "note", "sealed_note", &openings),
                    log_index: u["log_index"].as_u64().unwrap_or(0),
                    recorded: format::day_words(u["recorded_at_unix_ms"].as_u64().unwrap_or(0)),
                    evidence_hash: None,
                })
                .collect(),
        })
        .collect();
    let (document, sealed) = model::submission_content(app, &input, &openings).await;
    Ok(Trace {
        receipt_check: check,
        kind_label: if input["kind"] == "evidence" { "evidence" } else { "public submission" },
        log_index,
        assembly_id: assembly.to_string(),
        assembly_question: overview["body"]["remit_question"].as_str().unwrap_or_default().into(),
        document,
        sealed,
        cited_by: citations("cited_by"),
        considered_in: citations("considered_in"),
        outcomes,
        event_hash,
    })
}

/// The embedded assets: the style sheet, the verification script and the icon, each also
/// gzipped once. Nothing else is served from `/static/`, and nothing is fetched from anywhere
/// else.
pub async fn asset(encoding: Encoding, Path(file): Path<String>) -> Response<Body> {
    static ASSETS: std::sync::OnceLock<Vec<(&'static str, &'static str, CachedPage)>> = std::sync::OnceLock::new();
    let assets = ASSETS.get_or_init(|| {
        [
            ("klero.css", include_str!("../assets/klero.css"), "text/css; charset=utf-8"),
            ("verify.js", include_str!("../assets/verify.js"), "text/javascript; charset=utf-8"),
            ("favicon.svg", include_str!("../assets/favicon.svg"), "image/svg+xml"),
        ]
        .into_iter()
        .map(|(name, body, content_type)| {
            let mut page = CachedPage::with(StatusCode::OK, content_type, body);
            page.gzipped = Some(crate::gzip(body.as_bytes()).into());
            // The assets change only with the binary; a day is short enough for an upgrade to show.
            page.headers.push(("cache-control", "public, max-age=86400".into()));
            (name, body, page)
        })
        .collect()
    });
    match assets.iter().find(|(name, _, _)| *name == file) {
        Some((_, _, page)) => page.clone().into_response(encoding),
        None => PageError::not_found(format!("There is no asset named {file:?}.")).into_response(),
    }
}
