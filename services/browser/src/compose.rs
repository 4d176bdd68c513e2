//! A resident's submission composed in their own browser (issue 28). The module seals the text,
//! and the contact if any, under a data key made of the browser's random bytes, and encodes the
//! event's author part for the browser's own Ed25519 public key; the script signs the bytes
//! this returns with WebCrypto, whose private key never leaves the browser (not even into this
//! module), and posts them. So the script knows nothing of the event's schema, and the council
//! cannot forge or change what the resident signed.

use crate::page_of;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_catalogue::{EventMessage, ResidentForm, ToDomain, RESIDENT_SEALING_RANDOM_BYTES};
use klero_ledger::envelope::{signing_input, AuthorPart, EventId};
use klero_pages::Page;
use serde::{Deserialize, Serialize};

/// The random bytes a submission needs, from the browser: an event id (16), a data key (32),
/// and a nonce and a salt for each sealed field.
pub const COMPOSE_RANDOM_BYTES: usize = 16 + 32 + RESIDENT_SEALING_RANDOM_BYTES;

/// What the script asks of [`compose`]: the page the form is on, what the resident typed, the
/// browser's public key, its random bytes and its clock.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ComposeRequest {
    pub page: String,
    pub call: String,
    pub text: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub email: String,
    /// Base64 of the browser key's 32-byte Ed25519 public key.
    pub public_key: String,
    /// Base64 of [`COMPOSE_RANDOM_BYTES`] random bytes.
    pub random: String,
    pub now_unix_ms: u64,
    /// The proof of work the call asks for, in bits, as its form states it (`data-work`); 0
    /// for none. A page that understates it only gets the submission refused.
    #[serde(default)]
    pub work_bits: u32,
}

/// What [`compose`] hands back: the author encoding, the bytes to sign, and the data key to
/// post beside the signature; or why not, naming the field.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Composed {
    pub ok: bool,
    pub reason: Option<String>,
    pub author: Option<String>,
    pub signing_input: Option<String>,
    pub data_key: Option<String>,
}

/// Composes the resident's `ResidentSubmitted` for the call on the page at `request.page`.
pub fn compose(request: &ComposeRequest) -> Composed {
    match composed(request) {
        Ok(composed) => composed,
        Err(reason) => Composed { ok: false, reason: Some(reason), ..Composed::default() },
    }
}

fn composed(request: &ComposeRequest) -> Result<Composed, String> {
    let Some(Page::Assembly(assembly)) = page_of(&request.page)? else {
        return Err("page: a call's form is on its assembly's page".into());
    };
    let decode = |field: &str, text: &str| BASE64.decode(text).map_err(|_| format!("{field}: must be base64"));
    let public_key: [u8; 32] = decode("public_key", &request.public_key)?
        .try_into()
        .map_err(|_| "public_key: must be 32 bytes".to_string())?;
    let random = decode("random", &request.random)?;
    if random.len() != COMPOSE_RANDOM_BYTES {
        return Err(format!("random: must be {COMPOSE_RANDOM_BYTES} bytes"));
    }
    let event_id: [u8; 16] = random[..16].try_into().expect("16 bytes");
    let key = klero_domain::DataKey(random[16..48].try_into().expect("32 bytes"));
    let sealing: &[u8; RESIDENT_SEALING_RANDOM_BYTES] = random[48..].try_into().expect("the sealing bytes");
    let form = ResidentForm {
        call_id: &request.call,
        text: &request.text,
        name: &request.name,
        postcode: &request.postcode,
        email: &request.email,
    };
    let mut payload = form
        .seal(klero_proto::deliberation::SubmissionPath::Browser, &key, &event_id, sealing)
        .map_err(|violation| format!("{}: {}", violation.field, violation.description))?;
    if request.work_bits > klero_domain::work::WORK_BITS_MAX {
        return Err(format!("work_bits: at most {}", klero_domain::work::WORK_BITS_MAX));
    }
    if let Some(sealed) = payload.sealed_text.as_ref().filter(|_| request.work_bits > 0) {
        let commitment = klero_ledger::Hash256(sealed.commitment.as_slice().try_into().expect("a commitment"));
        payload.work_nonce = klero_domain::work::find_work(&request.call, &public_key, &commitment, request.work_bits);
    }
    let mut composed = author_for(&assembly, event_id, public_key, request.now_unix_ms, &payload)?;
    composed.data_key = Some(BASE64.encode(key.0));
    Ok(composed)
}

/// The author part of a resident's event on the assembly's deliberation stream, encoded, with
/// the bytes to sign.
fn author_for<M: EventMessage + ToDomain>(
    assembly: &klero_domain::AssemblyId,
    event_id: [u8; 16],
    public_key: [u8; 32],
    now_unix_ms: u64,
    payload: &M,
) -> Result<Composed, String> {
    let author = AuthorPart {
        event_id: EventId(event_id),
        stream: klero_domain::StreamKind::Deliberation.stream_name(assembly),
        event_type: M::EVENT_TYPE.into(),
        event_version: payload.payload_version(),
        author_public_key: public_key,
        authored_at_unix_ms: now_unix_ms,
        payload: payload.encode_to_vec(),
    };
    let encoding = author.encode().map_err(|e| e.to_string())?;
    Ok(Composed {
        ok: true,
        reason: None,
        signing_input: Some(BASE64.encode(signing_input(&encoding))),
        author: Some(BASE64.encode(&encoding)),
        data_key: None,
    })
}

/// What the script asks of [`compose_appeal`]: the receipt page the appeal is on, the
/// submission's event hash (hex, as the page names it), the browser's key, 16 random bytes (the
/// event id) and its clock.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AppealRequest {
    pub assembly: String,
    pub submission: String,
    pub public_key: String,
    pub random: String,
    pub now_unix_ms: u64,
}

/// Composes the resident's `ModerationAppealed` of their own withheld submission; the key that
/// signs it must be the one that signed the submission (`authority.submitter_only`).
pub fn compose_appeal(request: &AppealRequest) -> Composed {
    let appeal = || -> Result<Composed, String> {
        let assembly = klero_domain::AssemblyId::parse(&request.assembly).map_err(|e| format!("assembly: {e}"))?;
        let submission = klero_ledger::hash::from_hex(&request.submission)
            .ok()
            .filter(|bytes| bytes.len() == 32)
            .ok_or("submission: must be 64 hex digits")?;
        let public_key: [u8; 32] = BASE64
            .decode(&request.public_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("public_key: must be 32 bytes of base64")?;
        let event_id: [u8; 16] = BASE64
            .decode(&request.random)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("random: must be 16 bytes of base64")?;
        let payload = klero_proto::deliberation::ModerationAppealed { submission_event_hash: submission };
        author_for(&assembly, event_id, public_key, request.now_unix_ms, &payload)
    };
    appeal().unwrap_or_else(|reason| Composed { ok: false, reason: Some(reason), ..Composed::default() })
}
