//! What a page shows, gathered from the core: the read views (docs/FORMAT.md §7), the
//! selection state, the documents events commit to, and the log indexes of the signed events
//! behind each value, which the page names so that a browser can check each one.

use crate::format::{self, date_words, decision_label, short, status_label};
use klero_application::{Application, ApplicationError};
use klero_domain::{AssemblyId, DomainEvent};
use klero_ledger::Hash256;
use klero_projections::ViewName;
use klero_store::{EventStore, ReadDirection, StreamStart};
use serde_json::Value;
use std::collections::HashMap;

/// A document shown inline is at most this large; a larger one, or one that is not text, is
/// a link to its bytes.
pub const INLINE_DOCUMENT_BYTES_MAX: usize = 64 * 1024;

/// A document an event commits to, as a page shows it.
#[derive(Clone, Debug)]
pub struct DocumentShown {
    pub sha256: String,
    /// The text, when the document is short UTF-8 text the store holds.
    pub text: Option<String>,
    /// Why there is no text: not uploaded, erased, too large, not text.
    pub absent: Option<&'static str>,
    /// When and why it was erased, if it was.
    pub erasure: Option<String>,
}

impl DocumentShown {
    pub fn short(&self) -> &str {
        short(&self.sha256)
    }
}

/// A public submission of the input trace as a page shows it: its document (version 1), or its
/// sealed text (version 2); an erased document says so.
pub async fn submission_content<S: EventStore>(
    app: &Application<S>,
    input: &Value,
    openings: &Openings,
) -> (Option<DocumentShown>, Option<PersonalShown>) {
    if input["sealed_commitment"].is_string() {
        return (None, Some(personal(input, "content_hash", "sealed_text", openings)));
    }
    let mut shown = document(app, input["content_hash"].as_str().unwrap_or_default()).await;
    if let Some(erased_on) = input["erased_on"].as_str() {
        shown.text = None;
        shown.absent = Some("erased");
        shown.erasure = Some(format!("Erased on {} ({})", date_words(erased_on), text(&input["erasure_reason"])));
    }
    (Some(shown), None)
}

/// Fetches a document for display.
pub async fn document<S: EventStore>(app: &Application<S>, sha256_hex: &str) -> DocumentShown {
    let absent = |why| DocumentShown { sha256: sha256_hex.to_string(), text: None, absent: Some(why), erasure: None };
    let Ok(hash) = Hash256::from_hex(sha256_hex) else {
        return absent("not a hash");
    };
    match app.download_document(hash.0).await {
        Ok((document, _)) => {
            let textual = document.info.media_type.starts_with("text/");
            if !textual {
                return absent("not text: download it to read it");
            }
            if document.bytes.len() > INLINE_DOCUMENT_BYTES_MAX {
                return absent("too long to show here: download it to read it");
            }
            match String::from_utf8(document.bytes) {
                Ok(text) => {
                    DocumentShown { sha256: sha256_hex.to_string(), text: Some(text), absent: None, erasure: None }
                }
                Err(_) => absent("not valid UTF-8 text: download it to read it"),
            }
        }
        Err(ApplicationError::NotFound { .. }) => {
            absent("the text is not held by this server (never uploaded, or erased)")
        }
        Err(_) => absent("the text could not be read just now"),
    }
}

/// The views of one assembly, parsed, with their digests.
pub struct Views {
    pub tree_size: u64,
    pub bodies: HashMap<ViewName, Value>,
    pub digests: Vec<ViewDigest>,
    /// The assembly's sealed fields the server can still open, by commitment (hex).
    pub openings: Openings,
}

/// Opened sealed fields, by commitment (hex): the field's name, its text and its salt (hex).
pub type Openings = HashMap<String, (String, String, String)>;

/// The assembly's sealed fields the server can still open.
pub async fn openings<S: EventStore>(
    app: &Application<S>,
    assembly: &AssemblyId,
) -> Result<Openings, ApplicationError> {
    Ok(app
        .opened_personal_texts(assembly)
        .await?
        .into_iter()
        .filter_map(|(commitment, field)| {
            let opened = field.opened?;
            let salt = klero_ledger::hash::to_hex(&opened.salt);
            Some((commitment.to_hex(), (field.field.to_string(), opened.text, salt)))
        })
        .collect())
}

/// Free text that may hold personal data (FORMAT.md §14), as a page shows it.
#[derive(Clone, Debug, Default)]
pub struct PersonalShown {
    /// What the page shows: the text, or when and why it was erased.
    pub text: String,
    /// The event's field the text comes from: the plain field, or the sealed one.
    pub field: String,
    /// Sealed in its event: the browser checks `text` and `salt` against the signed
    /// commitment, not against a plain field.
    pub sealed: bool,
    /// The salt (hex) of an opened sealed field; `None` when plain or erased.
    pub salt: Option<String>,
}

impl std::fmt::Display for PersonalShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a view holds for a free-text field (a string, or `{"sealed_commitment": …}` with
/// `erased_on` and `erasure_reason` once erased), as a page shows it.
pub fn personal(value: &Value, plain_field: &str, sealed_field: &str, openings: &Openings) -> PersonalShown {
    let Some(commitment) = value["sealed_commitment"].as_str() else {
        return PersonalShown { text: text(value), field: plain_field.to_string(), sealed: false, salt: None };
    };
    let sealed = |text: String, salt| PersonalShown { text, field: sealed_field.to_string(), sealed: true, salt };
    if let Some(erased_on) = value["erased_on"].as_str() {
        return sealed(format!("Erased on {} ({})", date_words(erased_on), text(&value["erasure_reason"])), None);
    }
    match openings.get(commitment) {
        Some((_, opened, salt)) => sealed(opened.clone(), Some(salt.clone())),
        None => sealed("Sealed text this server cannot open".into(), None),
    }
}

#[derive(Clone, Debug)]
pub struct ViewDigest {
    pub name: &'static str,
    pub digest: String,
    pub tree_size: u64,
    pub root_hash: String,
}

impl Views {
    pub async fn load<S: EventStore>(app: &Application<S>, assembly: &AssemblyId) -> Result<Views, ApplicationError> {
        let mut bodies = HashMap::new();
        let mut digests = Vec::new();
        let mut tree_size = 0;
        for name in ViewName::ALL {
            let served = app.view(name, assembly).await?;
            let mut json: Value = serde_json::from_str(&served.json).map_err(|e| ApplicationError::Internal {
                reason: format!("view {} is not JSON: {e}", name.as_str()),
            })?;
            tree_size = served.tree_size;
            bodies.insert(name, json["body"].take());
            digests.push(ViewDigest {
                name: name.as_str(),
                digest: served.digest.to_hex(),
                tree_size: served.tree_size,
                root_hash: served.root_hash.to_hex(),
            });
        }
        Ok(Views { tree_size, bodies, digests, openings: openings(app, assembly).await? })
    }

    pub fn body(&self, name: ViewName) -> &Value {
        &self.bodies[&name]
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}
fn int(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

/// A milestone of the timeline.
#[derive(Clone, Debug)]
pub struct Milestone {
    pub what: String,
    pub when: String,
    pub log_index: u64,
}

/// Where an assembly stands, from its last milestone, in plain words.
pub fn standing_label(last_milestone: &str) -> String {
    match last_milestone {
        "convened" => "Convened".into(),
        "selection_planned" | "pool_registered" | "lottery_published" => "Selecting the panel".into(),
        "panel_drawn" => "Panel drawn, deliberation to start".into(),
        "first_session_held" => "Deliberating".into(),
        "first_recommendation_drafted" => "Writing recommendations".into(),
        "final_report_published" => "Recommendations made; waiting for the council's answers".into(),
        "first_response_issued" => "The council is answering".into(),
        other => other.replace('_', " "),
    }
}

/// A plain-English name for a milestone.
pub fn milestone_label(what: &str) -> String {
    match what {
        "convened" => "Assembly convened".into(),
        "selection_planned" => "Selection planned and the seed committed".into(),
        "pool_registered" => "Pool of volunteers registered".into(),
        "lottery_published" => "Lottery published".into(),
        "panel_drawn" => "Panel drawn by lot".into(),
        "first_session_held" => "First session held".into(),
        "first_recommendation_drafted" => "First recommendation drafted".into(),
        "final_report_published" => "Final report published".into(),
        "first_response_issued" => "The council's first response".into(),
        other => other.replace('_', " "),
    }
}

#[derive(Clone, Debug)]
pub struct QuotaRow {
    pub feature: String,
    pub value: String,
    pub min: u64,
    pub max: u64,
    pub seated: u64,
    pub within: bool,
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
    /// The evidence's document, linked rather than shown: an assembly hears a lot of it.
    pub content_hash: String,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub number: u64,
    pub held_on: String,
    pub held_on_iso: String,
    pub agenda: String,
    pub attendance: u64,
    pub log_index: u64,
    pub evidence: Vec<Evidence>,
}

/// An input cited by a recommendation or considered by a response.
#[derive(Clone, Debug)]
pub struct Citation {
    pub kind: &'static str,
    /// What the input is: the evidence's title, or "public submission" and its log index.
    pub describes: String,
    pub input_event_hash: String,
    pub input_log_index: Option<u64>,
    pub note: String,
    /// The citing event.
    pub log_index: u64,
}

#[derive(Clone, Debug)]
pub struct Answer {
    pub decision: String,
    pub decision_label: &'static str,
    pub rationale: PersonalShown,
    pub responsible_body: String,
    pub due_on: String,
    pub due_on_iso: String,
    pub log_index: u64,
    pub recorded: String,
    pub amendment_reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Update {
    pub status: String,
    pub status_label: &'static str,
    pub progress: u64,
    pub note: PersonalShown,
    pub log_index: u64,
    pub recorded: String,
    pub evidence_hash: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Letter {
    pub log_index: u64,
    pub document: DocumentShown,
}

#[derive(Clone, Debug)]
pub struct Adoption {
    pub in_favour: u64,
    pub against: u64,
    pub abstaining: u64,
    pub log_index: u64,
    pub recorded: String,
    pub event_hash: String,
}

#[derive(Clone, Debug)]
pub struct Recommendation {
    pub id: String,
    pub title: String,
    pub status: String,
    pub drafted_log_index: u64,
    /// The current (or final) text, and the event that commits to it with the field naming it.
    pub text: DocumentShown,
    pub text_log_index: u64,
    pub text_field: &'static str,
    pub amendments: Vec<(String, String, u64)>,
    pub withdrawn_reason: Option<String>,
    pub adoption: Option<Adoption>,
    pub cites: Vec<Citation>,
    /// `responded`, `no_response_yet` or `overdue`; `None` unless adopted.
    pub state: Option<String>,
    pub due_by: String,
    pub answer: Option<Answer>,
    pub history: usize,
    pub late: bool,
    pub considered: Vec<Citation>,
    pub letters: Vec<Letter>,
    pub updates: Vec<Update>,
}

impl Recommendation {
    /// The latest implementation status, for the at-a-glance badge.
    pub fn latest_update(&self) -> Option<&Update> {
        self.updates.last()
    }
    pub fn overdue(&self) -> bool {
        self.state.as_deref() == Some("overdue")
    }
}

#[derive(Clone, Debug)]
pub struct Submission {
    pub log_index: u64,
    /// A version 1 submission's document; `None` for a sealed one.
    pub document: Option<DocumentShown>,
    /// A sealed submission's text; `None` for a version 1 one.
    pub sealed: Option<PersonalShown>,
    /// Recommendations that cite it, and responses that considered it.
    pub cited_by: Vec<String>,
    pub considered_in: Vec<String>,
}

/// Everything the assembly page shows.
pub struct Assembly {
    pub id: String,
    pub council: String,
    pub question: String,
    pub area: String,
    pub starts_on: String,
    pub starts_on_iso: String,
    pub ends_on: String,
    pub ends_on_iso: String,
    pub panel_size: u64,
    pub threshold: u64,
    pub deadline_days: u64,
    pub convened_log_index: u64,
    pub status: String,
    pub timeline: Vec<Milestone>,
    pub selection: Selection,
    pub sessions: Vec<Session>,
    pub submissions_total: u64,
    pub submissions_by_day: Vec<(String, u64)>,
    pub submissions_cited: Vec<Submission>,
    pub recommendations: Vec<Recommendation>,
    pub final_report: Option<(DocumentShown, u64)>,
    pub views: Vec<ViewDigest>,
    pub tree_size: u64,
}

impl Assembly {
    /// Gathers the assembly page's content.
    pub async fn load<S: EventStore>(app: &Application<S>, id: &AssemblyId) -> Result<Assembly, ApplicationError> {
        let views = Views::load(app, id).await?;
        let overview = views.body(ViewName::AssemblyOverview);
        let timeline = overview["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| Milestone {
                what: milestone_label(m["what"].as_str().unwrap_or_default()),
                when: format::day_words(int(&m["recorded_at_unix_ms"])),
                log_index: int(&m["log_index"]),
            })
            .collect();
        let selection = Self::selection(app, id, views.body(ViewName::Panel)).await?;
        let deliberation = views.body(ViewName::DeliberationRecord);
        let mut evidence_titles: HashMap<String, (String, u64)> = HashMap::new();
        let mut sessions = Vec::new();
        for s in deliberation["sessions"].as_array().into_iter().flatten() {
            let mut evidence = Vec::new();
            for e in s["evidence"].as_array().into_iter().flatten() {
                let title = personal(&e["title"], "title", "sealed_title", &views.openings);
                evidence_titles.insert(text(&e["event_hash"]), (title.text.clone(), int(&e["log_index"])));
                evidence.push(Evidence {
                    title,
                    speaker_role: text(&e["speaker_role"]),
                    media_type: text(&e["media_type"]),
                    log_index: int(&e["log_index"]),
                    content_hash: text(&e["content_hash"]),
                });
            }
            sessions.push(Session {
                number: int(&s["session_number"]),
                held_on: date_words(s["held_on"].as_str().unwrap_or_default()),
                held_on_iso: text(&s["held_on"]),
                agenda: text(&s["agenda"]),
                attendance: int(&s["attendance_count"]),
                log_index: int(&s["log_index"]),
                evidence,
            });
        }
        let submissions = &deliberation["public_submissions"];
        let inputs = views.body(ViewName::InputTrace)["inputs"].as_array().cloned().unwrap_or_default();
        let input_log_index: HashMap<String, u64> =
            inputs.iter().map(|i| (text(&i["event_hash"]), int(&i["log_index"]))).collect();
        let describe = |kind: &str, hash: &str| -> String {
            match (kind, evidence_titles.get(hash)) {
                ("evidence", Some((title, _))) => format!("Evidence: {title}"),
                ("evidence", None) => "Evidence".to_string(),
                _ => match input_log_index.get(hash) {
                    Some(at) => format!("Public submission no. {at}"),
                    None => "Public submission".to_string(),
                },
            }
        };
        let citation = |c: &Value| {
            let kind = if c["kind"].as_str() == Some("evidence") { "evidence" } else { "public_submission" };
            let hash = text(&c["input_event_hash"]);
            Citation {
                kind,
                describes: describe(kind, &hash),
                input_log_index: input_log_index.get(&hash).copied(),
                input_event_hash: hash,
                note: text(&c["note"]),
                log_index: int(&c["log_index"]),
            }
        };
        let mut submissions_cited = Vec::new();
        for input in inputs.iter().filter(|i| i["kind"] == "public_submission") {
            let ids = |key: &str| -> Vec<String> {
                let mut ids: Vec<String> =
                    input[key].as_array().into_iter().flatten().map(|c| text(&c["recommendation_id"])).collect();
                ids.dedup();
                ids
            };
            let (cited_by, considered_in) = (ids("cited_by"), ids("considered_in"));
            if cited_by.is_empty() && considered_in.is_empty() {
                continue;
            }
            let (document, sealed) = submission_content(app, input, &views.openings).await;
            submissions_cited.push(Submission {
                log_index: int(&input["log_index"]),
                document,
                sealed,
                cited_by,
                considered_in,
            });
        }

        // Recommendations, with what the council did with each.
        let accountability: HashMap<String, Value> = views.body(ViewName::Accountability)["adopted_recommendations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| (text(&a["recommendation_id"]), a.clone()))
            .collect();
        let traces: HashMap<String, Value> = views.body(ViewName::ResponseTrace)["responses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (text(&r["recommendation_id"]), r.clone()))
            .collect();
        let cites_by_recommendation = Self::recommendation_citations(&inputs);
        let mut recommendations = Vec::new();
        for r in views.body(ViewName::Recommendations)["recommendations"].as_array().into_iter().flatten() {
            let id = text(&r["recommendation_id"]);
            let adoption = r["adoption"].as_object().map(|a| Adoption {
                in_favour: int(&a["in_favour"]),
                against: int(&a["against"]),
                abstaining: int(&a["abstaining"]),
                log_index: int(&a["log_index"]),
                recorded: format::day_words(int(&a["recorded_at_unix_ms"])),
                event_hash: text(&a["event_hash"]),
            });
            let amendments: Vec<(String, String, u64)> = r["amendments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| (text(&a["text_hash"]), text(&a["reason"]), int(&a["log_index"])))
                .collect();
            // The text shown, and the signed event that commits to it.
            let (text_hash, text_log_index, text_field) = match (&adoption, r["adoption"]["final_text_hash"].as_str()) {
                (Some(a), Some(hash)) => (hash.to_string(), a.log_index, "final_text_hash"),
                _ => match amendments.last() {
                    Some((hash, _, at)) => (hash.clone(), *at, "text_hash"),
                    None => (text(&r["drafted"]["text_hash"]), int(&r["drafted"]["log_index"]), "text_hash"),
                },
            };
            let account = accountability.get(&id);
            let trace = traces.get(&id);
            let response = account.map(|a| &a["response"]).filter(|v| v.is_object());
            let answer = response.map(|resp| {
                let current = &resp["current"];
                Answer {
                    decision: text(&current["decision"]),
                    decision_label: decision_label(current["decision"].as_str().unwrap_or_default()),
                    rationale: personal(&current["rationale"], "rationale", "sealed_rationale", &views.openings),
                    responsible_body: text(&current["responsible_body"]),
                    due_on: date_words(current["due_on"].as_str().unwrap_or_default()),
                    due_on_iso: text(&current["due_on"]),
                    log_index: int(&current["log_index"]),
                    recorded: format::day_words(int(&current["recorded_at_unix_ms"])),
                    amendment_reason: current["reason_for_amendment"].as_str().map(str::to_string),
                }
            });
            let updates = account
                .and_then(|a| a["implementation"].as_array())
                .into_iter()
                .flatten()
                .map(|u| Update {
                    status: text(&u["status"]),
                    status_label: status_label(u["status"].as_str().unwrap_or_default()),
                    progress: int(&u["progress_percent"]),
                    note: personal(&u["note"], "note", "sealed_note", &views.openings),
                    log_index: int(&u["log_index"]),
                    recorded: format::day_words(int(&u["recorded_at_unix_ms"])),
                    evidence_hash: u["evidence_hash"].as_str().map(str::to_string),
                })
                .collect();
            let mut letters = Vec::new();
            for l in trace.and_then(|t| t["letters"].as_array()).into_iter().flatten() {
                letters.push(Letter {
                    log_index: int(&l["log_index"]),
                    document: document(app, l["letter_hash"].as_str().unwrap_or_default()).await,
                });
            }
            recommendations.push(Recommendation {
                title: text(&r["title"]),
                status: text(&r["status"]),
                drafted_log_index: int(&r["drafted"]["log_index"]),
                text: document(app, &text_hash).await,
                text_log_index,
                text_field,
                amendments,
                withdrawn_reason: r["withdrawn_reason"].as_str().map(str::to_string),
                adoption,
                cites: cites_by_recommendation.get(&id).map_or_else(Vec::new, |cs| {
                    cs.iter().map(|(kind, hash, note, at)| {
                        citation(&serde_json::json!({"kind": kind, "input_event_hash": hash, "note": note, "log_index": at}))
                    }).collect()
                }),
                state: account.map(|a| text(&a["state"])),
                due_by: account.map_or_else(String::new, |a| format::day_words(int(&a["response_due_by_unix_ms"]))),
                history: response.and_then(|r| r["history"].as_array()).map_or(0, Vec::len),
                late: response.is_some_and(|r| r["late"] == true),
                considered: trace
                    .and_then(|t| t["considered"].as_array())
                    .into_iter()
                    .flatten()
                    .map(citation)
                    .collect(),
                letters,
                answer,
                updates,
                id,
            });
        }
        let report = &views.body(ViewName::Recommendations)["final_report"];
        let final_report = match report["content_hash"].as_str() {
            Some(hash) => Some((document(app, hash).await, int(&report["log_index"]))),
            None => None,
        };
        Ok(Assembly {
            id: id.to_string(),
            council: text(&overview["council"]),
            question: text(&overview["remit_question"]),
            area: text(&overview["area"]),
            starts_on: date_words(overview["starts_on"].as_str().unwrap_or_default()),
            ends_on: date_words(overview["ends_on"].as_str().unwrap_or_default()),
            starts_on_iso: text(&overview["starts_on"]),
            ends_on_iso: text(&overview["ends_on"]),
            panel_size: int(&overview["panel_size"]),
            threshold: int(&overview["adoption_threshold_percent"]),
            deadline_days: int(&overview["response_deadline_days"]),
            convened_log_index: int(&overview["convened_log_index"]),
            status: standing_label(overview["status"].as_str().unwrap_or_default()),
            timeline,
            selection,
            sessions,
            submissions_total: int(&submissions["total"]),
            submissions_by_day: submissions["by_day"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| (date_words(d["received_on"].as_str().unwrap_or_default()), int(&d["count"])))
                .collect(),
            submissions_cited,
            recommendations,
            final_report,
            tree_size: views.tree_size,
            views: views.digests,
        })
    }

    /// Each recommendation's citations, from the input trace: (kind, input event hash, note,
    /// citing log index), in log order of the citing events.
    fn recommendation_citations(inputs: &[Value]) -> HashMap<String, Vec<(String, String, String, u64)>> {
        let mut by_recommendation: HashMap<String, Vec<(String, String, String, u64)>> = HashMap::new();
        for input in inputs {
            for c in input["cited_by"].as_array().into_iter().flatten() {
                by_recommendation.entry(text(&c["recommendation_id"])).or_default().push((
                    text(&input["kind"]),
                    text(&input["event_hash"]),
                    text(&c["note"]),
                    int(&c["log_index"]),
                ));
            }
        }
        for cites in by_recommendation.values_mut() {
            cites.sort_by_key(|c| c.3);
        }
        by_recommendation
    }

    /// The selection section: the panel view, plus the lottery and the seed from the record.
    async fn selection<S: EventStore>(
        app: &Application<S>,
        id: &AssemblyId,
        panel: &Value,
    ) -> Result<Selection, ApplicationError> {
        let quotas: Vec<QuotaRow> = panel["quotas"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| QuotaRow {
                feature: text(&q["feature"]),
                value: text(&q["value"]),
                min: int(&q["min"]),
                max: int(&q["max"]),
                seated: int(&q["seated"]),
                within: q["within_quota"] == true,
            })
            .collect();
        let state =
            app.with_fold(|fold| fold.state().assembly(id).map(|a| a.selection.clone())).await?.unwrap_or_default();
        let chances = match (&state.instance, &state.lottery) {
            (Some(instance), Some(lottery)) if !instance.types.is_empty() => {
                let chances: Vec<f64> =
                    (0..instance.types.len()).map(|t| lottery.type_probability(instance, t)).collect();
                let lowest = chances.iter().copied().fold(f64::MAX, f64::min);
                let highest = chances.iter().copied().fold(0.0, f64::max);
                Some((format::percent(lowest), format::percent(highest)))
            }
            _ => None,
        };
        let mut selection = Selection {
            pool_size: int(&panel["pool_size"]),
            seated: int(&panel["seated"]),
            withdrawals: int(&panel["withdrawals"]),
            chart_svg: crate::chart::quota_chart(&quotas),
            quotas,
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
        // The log indexes of the selection events, for the page to name what it shows.
        let stream = format!("assembly/{id}/selection");
        let mut from = StreamStart::Beginning;
        loop {
            let events = match app.read_stream(&stream, from, ReadDirection::Forwards, 1_000).await {
                Ok(events) => events,
                Err(ApplicationError::NotFound { .. }) => break,
                Err(error) => return Err(error),
            };
            let Some(last) = events.last() else { break };
            from = StreamStart::Revision(last.envelope.ledger().stream_revision + 1);
            for logged in &events {
                let author = logged.envelope.author();
                match klero_catalogue::decode_event(&author.event_type, author.event_version, &author.payload) {
                    Ok(DomainEvent::SelectionPlanned(_)) => selection.plan_log_index = Some(logged.leaf_index),
                    Ok(DomainEvent::PanelDrawn(_)) => selection.draw_log_index = Some(logged.leaf_index),
                    Ok(DomainEvent::ReplacementDrawn(r)) => selection.replacements.push(Replacement {
                        withdrawn: r.withdrawn_member_id,
                        replacement: r.replacement_member_id,
                        log_index: logged.leaf_index,
                    }),
                    _ => {}
                }
            }
            if events.len() < 1_000 {
                break;
            }
        }
        Ok(selection)
    }
}
