//! The pages' plain form for residents (issue 28): a submission to an open call, typed into an
//! HTML form that needs no script, sealed here and signed by the server's intake key. The event
//! says so (`ResidentSubmitted`, path `WEB_FORM`: "received from the web form"), and the rules
//! decide it as any client's event: the call, its dates and limits, and that the key holds the
//! intake role, which only the trust root grants. The text and the contact are sealed under a
//! fresh data key, so both can be erased; the contact is never shown.

use crate::{PageError, Web};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::Form;
use klero_application::{AppendRequest, ApplicationError};
use klero_domain::{personal, DataKey, StreamKind};
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_proto as pb;
use prost::Message;
use std::sync::Arc;

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
    PageError { status: StatusCode::BAD_REQUEST, message: message.into() }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    bytes
}

/// The contact a resident gave, as sealed: one line per field given, none if none was.
fn contact(form: &SubmissionForm) -> Result<Option<String>, PageError> {
    let email = form.email.trim();
    if !email.is_empty() && (email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace)) {
        return Err(bad("email: write an email address like name@example.org, or leave it empty"));
    }
    let lines: Vec<String> = [("name", form.name.trim()), ("postcode", form.postcode.trim()), ("email", email)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(field, value)| format!("{field}: {}", value.replace(['\r', '\n'], " ")))
        .collect();
    Ok((!lines.is_empty()).then(|| lines.join("\n")))
}

/// `POST /assemblies/{id}/calls/{call}/submissions`.
pub async fn submitted(
    State(web): State<Arc<Web>>,
    Path((id, call)): Path<(String, String)>,
    Form(form): Form<SubmissionForm>,
) -> Response<Body> {
    match submit(&web, &id, &call, form).await {
        Ok(log_index) => {
            let page = klero_pages::render_submitted(&id, &call, log_index);
            (StatusCode::CREATED, axum::response::Html(klero_pages::document(&page))).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn submit(web: &Web, id: &str, call: &str, form: SubmissionForm) -> Result<u64, PageError> {
    let intake = web.intake.as_ref().ok_or_else(|| PageError {
        status: StatusCode::NOT_FOUND,
        message: "This server takes no submissions from its web form: it has no intake key (klero serve --intake-key)."
            .into(),
    })?;
    let assembly = crate::pages::parse_assembly(id)?;
    if !form.website.is_empty() {
        return Err(bad("website: this field is for programs, and must stay empty"));
    }
    if form.consent != "yes" {
        return Err(bad("consent: tick the box to agree to how your submission is used, or do not send it"));
    }
    // Browsers send a text area's line ends as CRLF; the record holds LF alone.
    let text = form.text.replace("\r\n", "\n").replace('\r', "\n");
    if text.trim().is_empty() {
        return Err(bad("text: write your submission"));
    }
    let contact = contact(&form)?;
    let event_id = EventId(random());
    let key = DataKey(random());
    let seal = |field: &str, text: &str| {
        klero_catalogue::sealed_text_message(&personal::seal(&key, random(), random(), &event_id.0, field, text))
    };
    let payload = pb::deliberation::ResidentSubmitted {
        call_id: call.to_string(),
        path: pb::deliberation::SubmissionPath::WebForm as i32,
        sealed_text: Some(seal("sealed_text", &text)),
        sealed_contact: contact.as_deref().map(|contact| seal("sealed_contact", contact)),
    };
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
    let signed = author.sign(&intake.0).map_err(|e| PageError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the submission could not be signed: {e}"),
    })?;
    let request = AppendRequest {
        stream,
        expected: klero_store::ExpectedRevision::Any,
        events: vec![signed],
        data_keys: vec![Some(key)],
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

/// The form's name for a field of the event: what the resident typed it into.
fn form_field(field: &str) -> &str {
    match field {
        "sealed_text" | "sealed_text.ciphertext" => "text",
        "sealed_contact" | "sealed_contact.ciphertext" => "contact",
        other => other,
    }
}
