//! The pages' plain form for residents (issue 28): a submission to an open call, typed into an
//! HTML form that needs no script, sealed here and signed by the server's intake key. The event
//! says so (`ResidentSubmitted`, path `WEB_FORM`: "received from the web form"), and the rules
//! decide it as any client's event: the call, its dates and limits, and that the key holds the
//! intake role, which only the trust root grants. The text and the contact are sealed under a
//! fresh data key, so both can be erased; the contact is never shown.
//!
//! `POST /api/v1/submissions` takes the same event signed in the resident's own browser (path
//! `BROWSER`): the module composed and sealed it, WebCrypto signed it with a key that never
//! leaves the browser, and the rules let any key submit inside an open call.

use crate::{PageError, Web};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::Form;
use klero_application::{AppendRequest, ApplicationError};
use klero_domain::{DataKey, StreamKind};
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_proto as pb;
use prost::Message;
use std::sync::Arc;

/// Residents' submissions counted in fixed windows per network and per key, bounded in number:
/// a program that floods a call from one network, or under one key, is slowed. Nothing but a
/// prefix or a public key and a count is kept, and only for the window.
#[derive(Debug, Default)]
pub struct SubmissionCounters {
    counts: std::collections::HashMap<Vec<u8>, (std::time::Instant, u32)>,
}

impl SubmissionCounters {
    /// Counts one submission under `key`; `false` once `most` were counted in its window.
    fn admit(&mut self, key: Vec<u8>, most: u32, window: std::time::Duration, tracked_max: usize) -> bool {
        let now = std::time::Instant::now();
        if self.counts.len() >= tracked_max && !self.counts.contains_key(&key) {
            self.counts.retain(|_, (since, _)| now.duration_since(*since) < window);
            if self.counts.len() >= tracked_max {
                // Still full of live windows: forget the oldest half rather than grow.
                let mut starts: Vec<std::time::Instant> = self.counts.values().map(|(since, _)| *since).collect();
                starts.sort();
                let cut = starts[starts.len() / 2];
                self.counts.retain(|_, (since, _)| *since > cut);
            }
        }
        let (since, count) = self.counts.entry(key).or_insert((now, 0));
        if now.duration_since(*since) >= window {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        *count <= most
    }
}

/// The network a peer is in, as submissions are counted: an IPv4 /24, an IPv6 /48.
fn network_of(address: std::net::IpAddr) -> Vec<u8> {
    match address.to_canonical() {
        std::net::IpAddr::V4(v4) => [&[4u8][..], &v4.octets()[..3]].concat(),
        std::net::IpAddr::V6(v6) => [&[6u8][..], &v6.octets()[..6]].concat(),
    }
}

/// Refuses a submission past the limits of its network or of the resident's key (`429`,
/// naming the limit).
fn admit(web: &Web, peer: Option<std::net::SocketAddr>, resident_key: Option<[u8; 32]>) -> Result<(), PageError> {
    let limits = &web.limits;
    let mut counters = crate::lock(&web.submissions);
    let too_many = |limit: &str, most: u32| {
        PageError::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{limit}: at most {most} submissions in {} minutes; try again later",
                limits.submission_window.as_secs() / 60
            ),
        )
    };
    if let Some(peer) = peer {
        let key = network_of(peer.ip());
        if !counters.admit(
            key,
            limits.submissions_per_network,
            limits.submission_window,
            limits.submission_counters_max,
        ) {
            return Err(too_many("submissions_per_network", limits.submissions_per_network));
        }
    }
    if let Some(resident) = resident_key {
        let key = [&[0u8][..], &resident[..]].concat();
        if !counters.admit(key, limits.submissions_per_key, limits.submission_window, limits.submission_counters_max) {
            return Err(too_many("submissions_per_key", limits.submissions_per_key));
        }
    }
    Ok(())
}

/// The largest form body the intake reads: a 20,000-byte text, escaped, with room to spare.
pub const FORM_BYTES_MAX: usize = 128 * 1024;

/// The server's key for the web form: it signs what residents type there.
#[derive(Clone)]
pub struct IntakeKey(pub ed25519_dalek::SigningKey);

impl std::fmt::Debug for IntakeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IntakeKey({})", klero_ledger::hash::to_hex(&self.0.verifying_key().to_bytes()))
    }
}

/// What the form posts. Fields a resident leaves empty are sent empty.
#[derive(Debug, serde::Deserialize)]
pub struct SubmissionForm {
    text: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    email: String,
    /// "yes" when the resident ticked the consent box.
    #[serde(default)]
    consent: String,
    /// A field hidden from people: a form that fills it was filled by a program.
    #[serde(default)]
    website: String,
}

fn bad(message: impl Into<String>) -> PageError {
    PageError::bad_request(message)
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    bytes
}

/// `POST /assemblies/{id}/calls/{call}/submissions`.
pub async fn submitted(
    State(web): State<Arc<Web>>,
    crate::PageLang(lang): crate::PageLang,
    extensions: axum::http::Extensions,
    Path((id, call)): Path<(String, String)>,
    Form(form): Form<SubmissionForm>,
) -> Response<Body> {
    let peer = crate::connection_of(&extensions).map(|info| info.remote_addr);
    if let Err(error) = admit(&web, peer, None) {
        return error.in_lang(lang).into_response();
    }
    match submit(&web, &id, &call, form).await {
        Ok(log_index) => {
            let page = klero_pages::render_submitted(lang, &id, &call, log_index);
            (StatusCode::CREATED, axum::response::Html(klero_pages::document(&page))).into_response()
        }
        Err(error) => in_residents_words(error, lang).into_response(),
    }
}

/// What the plain form's refusal says to the resident, in the page's language: the catalogue's
/// plain words for what went wrong, then the field or rule the refusal named (what programs and
/// tests read); the technical reason for anything else.
fn in_residents_words(error: PageError, lang: klero_pages::Lang) -> PageError {
    const NAMED: [(&str, &str); 9] = [
        ("website", "form-error-website"),
        ("consent", "form-error-consent"),
        ("text", "form-error-text"),
        ("email", "form-error-email"),
        ("call.open", "form-error-call-open"),
        ("call.within_limits", "form-error-too-long"),
        ("call.exists", "form-error-no-call"),
        ("submissions_per_network", "form-error-too-many"),
        ("submissions_per_key", "form-error-too-many"),
    ];
    let named = NAMED.iter().find(|(name, _)| {
        error.message.starts_with(&format!("{name}:")) || error.message.contains(&format!("{name}:"))
    });
    match named {
        Some((name, id)) => PageError { message: format!("{} ({name})", lang.t(id)), ..error }.in_lang(lang),
        None => error.in_lang(lang),
    }
}

async fn submit(web: &Web, id: &str, call: &str, form: SubmissionForm) -> Result<u64, PageError> {
    let intake = web.intake.as_ref().ok_or_else(|| {
        PageError::with_status(
            StatusCode::NOT_FOUND,
            "This server takes no submissions from its web form: it has no intake key (klero serve --intake-key).",
        )
    })?;
    let assembly = crate::pages::parse_assembly(id)?;
    if !form.website.is_empty() {
        return Err(bad("website: this field is for programs, and must stay empty"));
    }
    if form.consent != "yes" {
        return Err(bad("consent: tick the box to agree to how your submission is used, or do not send it"));
    }
    let resident = klero_catalogue::ResidentForm {
        call_id: call,
        text: &form.text,
        name: &form.name,
        postcode: &form.postcode,
        email: &form.email,
    };
    let event_id = EventId(random());
    let key = DataKey(random());
    let payload = resident
        .seal(pb::deliberation::SubmissionPath::WebForm, &key, &event_id.0, &random())
        .map_err(|violation| bad(format!("{}: {}", violation.field, violation.description)))?;
    let stream = StreamKind::Deliberation.stream_name(&assembly);
    let author = AuthorPart {
        event_id,
        stream: stream.clone(),
        event_type: <pb::deliberation::ResidentSubmitted as klero_catalogue::EventMessage>::EVENT_TYPE.into(),
        event_version: 2,
        author_public_key: intake.0.verifying_key().to_bytes(),
        authored_at_unix_ms: web.app.now_unix_ms(),
        payload: payload.encode_to_vec(),
    };
    let signed = author.sign(&intake.0).map_err(|e| {
        PageError::with_status(StatusCode::INTERNAL_SERVER_ERROR, format!("the submission could not be signed: {e}"))
    })?;
    append_resident(web, signed, Some(key)).await
}

/// Appends a resident's signed event with its data key, as any client's append: the rules
/// decide it. Field violations name what the resident typed the text into.
async fn append_resident(
    web: &Web,
    signed: klero_ledger::envelope::SignedAuthorPart,
    key: Option<DataKey>,
) -> Result<u64, PageError> {
    let request = AppendRequest {
        stream: signed.author().stream.clone(),
        expected: klero_store::ExpectedRevision::Any,
        events: vec![signed],
        data_keys: vec![key],
    };
    let appended = web.app.append(request).await.map_err(|error| match error {
        ApplicationError::InvalidArgument { violations } => bad(violations
            .iter()
            .map(|v| format!("{}: {}", form_field(&v.field), v.description))
            .collect::<Vec<_>>()
            .join("; ")),
        other => PageError::from(other),
    })?;
    Ok(appended[0].event.leaf_index)
}

/// What a resident's browser posts to `POST /api/v1/submissions`: the author part it composed
/// (the module did) and signed with its own key (WebCrypto did), and the data key that seals it.
#[derive(Debug, serde::Deserialize)]
pub struct SignedSubmission {
    /// Base64 of the author encoding (FORMAT.md §2.1).
    author: String,
    /// Base64 of its 64-byte Ed25519 signature.
    signature: String,
    /// Base64 of the 32-byte data key of a submission; absent for an appeal, which seals
    /// nothing.
    #[serde(default)]
    data_key: Option<String>,
}

/// The residents' own events a browser may post here; every other goes through gRPC.
const RESIDENT_EVENT_TYPES: [&str; 2] =
    ["klero.deliberation.v1.ResidentSubmitted", "klero.deliberation.v1.ModerationAppealed"];

/// `POST /api/v1/submissions`: a resident's event signed in their own browser.
pub async fn signed_submission(
    State(web): State<Arc<Web>>,
    extensions: axum::http::Extensions,
    body: axum::body::Bytes,
) -> Response<Body> {
    use base64::Engine as _;
    let peer = crate::connection_of(&extensions).map(|info| info.remote_addr);
    let answer = async {
        admit(&web, peer, None)?;
        let posted: SignedSubmission = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the body must be JSON {{author, signature, data_key}}: {e}")))?;
        let bytes = |field: &str, text: &str| {
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| bad(format!("{field}: must be base64")))
        };
        let signed = klero_ledger::envelope::SignedAuthorPart::from_wire(
            bytes("author", &posted.author)?,
            &bytes("signature", &posted.signature)?,
        )
        .map_err(|e| bad(format!("author: {e}")))?;
        // Counted per key only once its holder is known to have signed it: anyone may claim
        // any key, and a forgery must not use up a resident's allowance.
        signed.verify_signature().map_err(|e| bad(format!("signature: {e}")))?;
        if !RESIDENT_EVENT_TYPES.contains(&signed.author().event_type.as_str()) {
            return Err(bad(format!(
                "event_type: this address takes a resident's own events ({}); append others over gRPC",
                RESIDENT_EVENT_TYPES.join(", ")
            )));
        }
        admit(&web, None, Some(signed.author().author_public_key))?;
        let key = match &posted.data_key {
            Some(key) => {
                Some(DataKey(bytes("data_key", key)?.try_into().map_err(|_| bad("data_key: must be 32 bytes"))?))
            }
            None => None,
        };
        append_resident(&web, signed, key).await
    };
    match answer.await {
        Ok(log_index) => (
            StatusCode::CREATED,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"log_index": log_index, "receipt": format!("/receipt?log_index={log_index}")})
                .to_string(),
        )
            .into_response(),
        Err(error) => error.into_plain_response(),
    }
}

/// The form's name for a field of the event: what the resident typed it into.
fn form_field(field: &str) -> &str {
    match field {
        "sealed_text" | "sealed_text.ciphertext" => "text",
        "sealed_contact" | "sealed_contact.ciphertext" => "contact",
        other => other,
    }
}
