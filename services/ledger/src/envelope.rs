//! The event envelope: the exact bytes that authors sign, the ledger stores and auditors verify.
//!
//! Layout (all integers big-endian; docs/FORMAT.md §2 is the normative text):
//!
//! ```text
//! author_encoding = event_id[16] | u16 len | stream | u16 len | event_type | u32 event_version
//!                 | author_public_key[32] | u64 authored_at_unix_ms | u32 len | payload
//! signing_input   = "KLERO-EVENT-AUTHOR-V1" 0x00 | author_encoding
//! envelope        = 0x01 (format version) | u32 len | author_encoding | signature[64]
//!                 | u64 stream_revision | previous_event_hash[32] | u64 recorded_at_unix_ms
//! event_hash      = SHA-256("KLERO-EVENT-HASH-V1" 0x00 | envelope)
//! ```
//!
//! Parsing keeps the bytes it was given. Signatures and hashes are always computed over those
//! stored bytes, never over a re-encoding, so a parser bug can never make a forged event verify.

use crate::hash::Hash256;
use crate::signature::{self, AuthorKey, SignatureCheck};
use ed25519_dalek::{Signer, SigningKey};
use std::fmt;

/// Domain-separation prefix of the bytes an author signs.
pub const AUTHOR_SIGNING_DOMAIN: &[u8] = b"KLERO-EVENT-AUTHOR-V1\0";
/// Domain-separation prefix of the bytes hashed into an event hash.
pub const EVENT_HASH_DOMAIN: &[u8] = b"KLERO-EVENT-HASH-V1\0";
/// The only envelope format this code writes or reads.
pub const ENVELOPE_FORMAT_VERSION: u8 = 1;

/// Stream names are short, printable identifiers such as `assembly/9f2c.../selection`.
pub const STREAM_NAME_BYTES_MAX: usize = 200;
/// Event types are dotted identifiers such as `klero.selection.PanelDrawn`.
pub const EVENT_TYPE_BYTES_MAX: usize = 128;
/// Payloads are protobuf messages; large documents are referenced by content hash instead.
pub const PAYLOAD_BYTES_MAX: usize = 1024 * 1024;
/// Fixed-size part of the author encoding (everything except stream, type and payload bytes).
const AUTHOR_FIXED_BYTES: usize = 16 + 2 + 2 + 4 + 32 + 8 + 4;
/// Size of the ledger part that follows the signature.
pub const LEDGER_PART_BYTES: usize = 8 + 32 + 8;
/// The largest author encoding the limits allow.
pub const AUTHOR_ENCODING_BYTES_MAX: usize =
    AUTHOR_FIXED_BYTES + STREAM_NAME_BYTES_MAX + EVENT_TYPE_BYTES_MAX + PAYLOAD_BYTES_MAX;
/// The largest envelope the limits allow; stores size their records from this.
pub const ENVELOPE_BYTES_MAX: usize = 1 + 4 + AUTHOR_ENCODING_BYTES_MAX + 64 + LEDGER_PART_BYTES;

/// A client-chosen UUID that names one event. Retrying an append with the same id is idempotent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// Canonical hyphenated lowercase form, e.g. `6f1c2a9e-0b1d-4c3e-8f00-0123456789ab`.
    pub fn to_uuid_string(&self) -> String {
        let hex = crate::hash::to_hex(&self.0);
        format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
    }

    /// Parses the hyphenated form (any case) or 32 bare hex digits.
    pub fn parse(text: &str) -> Result<EventId, EnvelopeError> {
        let digits: String = match text.len() {
            36 if [8, 13, 18, 23].iter().all(|&i| text.as_bytes()[i] == b'-') => text.replace('-', ""),
            32 => text.to_string(),
            _ => {
                return Err(EnvelopeError::InvalidEventId {
                    reason: "expected a UUID like 6f1c2a9e-0b1d-4c3e-8f00-0123456789ab",
                })
            }
        };
        let bytes = crate::hash::from_hex(&digits)
            .map_err(|_| EnvelopeError::InvalidEventId { reason: "a UUID holds only hex digits and hyphens" })?;
        let id = EventId(bytes.try_into().map_err(|_| EnvelopeError::InvalidEventId { reason: "a UUID is 16 bytes" })?);
        id.validate()?;
        Ok(id)
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        if self.0 == [0u8; 16] {
            return Err(EnvelopeError::InvalidEventId { reason: "the nil UUID is not a valid event id" });
        }
        Ok(())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uuid_string())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_uuid_string())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<EventId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        EventId::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.to_uuid_string())
    }
}

/// Everything an author commits to. The author signs its encoding; the ledger never changes it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthorPart {
    /// Client-chosen UUID; a retry with the same id and bytes returns the original result.
    pub event_id: EventId,
    /// The stream (one aggregate, e.g. one assembly's selection) the event belongs to.
    pub stream: String,
    /// Dotted, past-tense type name, e.g. `klero.selection.PanelDrawn`.
    pub event_type: String,
    /// Version of the payload schema for `event_type`; starts at 1.
    pub event_version: u32,
    /// The author's Ed25519 public key, which is also its key id in the registry.
    pub author_public_key: [u8; 32],
    /// When the author created the event, by the author's clock, in ms since the Unix epoch (UTC).
    pub authored_at_unix_ms: u64,
    /// The event body: protobuf bytes, signed exactly as given.
    pub payload: Vec<u8>,
}

impl AuthorPart {
    /// Checks every rule that the encoding depends on, naming the field that breaks one.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        self.event_id.validate()?;
        validate_stream_name(&self.stream)?;
        validate_event_type(&self.event_type)?;
        if self.event_version == 0 {
            return Err(EnvelopeError::InvalidField { field: "event_version", reason: "must be 1 or more".into() });
        }
        if self.payload.len() > PAYLOAD_BYTES_MAX {
            return Err(EnvelopeError::LimitExceeded {
                field: "payload",
                actual_bytes: self.payload.len(),
                max_bytes: PAYLOAD_BYTES_MAX,
            });
        }
        Ok(())
    }

    /// The author encoding (docs/FORMAT.md §2.1). Validates first, so every encoding parses back.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        self.validate()?;
        let mut out =
            Vec::with_capacity(AUTHOR_FIXED_BYTES + self.stream.len() + self.event_type.len() + self.payload.len());
        out.extend_from_slice(&self.event_id.0);
        put_bytes_u16(&mut out, self.stream.as_bytes());
        put_bytes_u16(&mut out, self.event_type.as_bytes());
        out.extend_from_slice(&self.event_version.to_be_bytes());
        out.extend_from_slice(&self.author_public_key);
        out.extend_from_slice(&self.authored_at_unix_ms.to_be_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// Encodes and signs with the author's key, which must match `author_public_key`.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedAuthorPart, EnvelopeError> {
        if key.verifying_key().to_bytes() != self.author_public_key {
            return Err(EnvelopeError::InvalidField {
                field: "author_public_key",
                reason: "does not match the signing key".into(),
            });
        }
        let encoding = self.encode()?;
        let signature = key.sign(&signing_input(&encoding)).to_bytes();
        Ok(SignedAuthorPart { author: self.clone(), encoding, signature })
    }

    /// Parses an author encoding; the inverse of [`AuthorPart::encode`].
    pub fn decode(encoding: &[u8]) -> Result<AuthorPart, EnvelopeError> {
        let mut reader = Reader::new(encoding);
        let event_id = EventId(reader.array::<16>("event_id")?);
        let stream = reader.utf8_u16("stream")?;
        let event_type = reader.utf8_u16("event_type")?;
        let event_version = u32::from_be_bytes(reader.array::<4>("event_version")?);
        let author_public_key = reader.array::<32>("author_public_key")?;
        let authored_at_unix_ms = u64::from_be_bytes(reader.array::<8>("authored_at_unix_ms")?);
        let payload_len = u32::from_be_bytes(reader.array::<4>("payload length")?) as usize;
        if payload_len > PAYLOAD_BYTES_MAX {
            return Err(EnvelopeError::LimitExceeded {
                field: "payload",
                actual_bytes: payload_len,
                max_bytes: PAYLOAD_BYTES_MAX,
            });
        }
        let payload = reader.take(payload_len, "payload")?.to_vec();
        reader.finish("author encoding")?;
        let author =
            AuthorPart { event_id, stream, event_type, event_version, author_public_key, authored_at_unix_ms, payload };
        author.validate()?;
        Ok(author)
    }
}

/// The bytes an author signs: the domain prefix then the author encoding.
pub fn signing_input(author_encoding: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(AUTHOR_SIGNING_DOMAIN.len() + author_encoding.len());
    input.extend_from_slice(AUTHOR_SIGNING_DOMAIN);
    input.extend_from_slice(author_encoding);
    input
}

/// An author part with its encoding and signature, as a client submits it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedAuthorPart {
    author: AuthorPart,
    encoding: Vec<u8>,
    signature: [u8; 64],
}

impl SignedAuthorPart {
    /// Accepts the bytes a client sent. Parses them, but does not check the signature yet.
    pub fn from_wire(encoding: Vec<u8>, signature: &[u8]) -> Result<SignedAuthorPart, EnvelopeError> {
        let signature: [u8; 64] = signature.try_into().map_err(|_| EnvelopeError::InvalidField {
            field: "signature",
            reason: format!("must be 64 bytes, got {}", signature.len()),
        })?;
        let author = AuthorPart::decode(&encoding)?;
        Ok(SignedAuthorPart { author, encoding, signature })
    }

    /// Checks the author's signature by the ledger's rule (FORMAT.md §2.2), the check a ledger
    /// runs before it accepts an event.
    pub fn verify_signature(&self) -> Result<(), EnvelopeError> {
        verify_author_signature(&self.author, &self.encoding, &self.signature)
    }

    /// [`SignedAuthorPart::verify_signature`] with the author's key already checked and
    /// decompressed, which saves a field square root per event when the caller caches keys.
    pub fn verify_signature_with(&self, key: &AuthorKey) -> Result<(), EnvelopeError> {
        self.check_key(key)?;
        signature::verify_parts(key, &[AUTHOR_SIGNING_DOMAIN, &self.encoding], &self.signature)
            .map_err(|_| EnvelopeError::BadSignature { event_id: self.author.event_id })
    }

    /// This event's signature as one item of a [`signature::verify_batch`].
    pub fn signature_check<'a>(&'a self, key: &'a AuthorKey) -> Result<SignatureCheck<'a>, EnvelopeError> {
        self.check_key(key)?;
        Ok(SignatureCheck { key, message: [AUTHOR_SIGNING_DOMAIN, &self.encoding], signature: &self.signature })
    }

    fn check_key(&self, key: &AuthorKey) -> Result<(), EnvelopeError> {
        if key.as_bytes() != &self.author.author_public_key {
            return Err(EnvelopeError::InvalidField {
                field: "author_public_key",
                reason: "does not match the key given".into(),
            });
        }
        Ok(())
    }

    pub fn author(&self) -> &AuthorPart {
        &self.author
    }
    pub fn encoding(&self) -> &[u8] {
        &self.encoding
    }
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

/// What the ledger adds when it records an event. Not signed by the author; covered by the hash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LedgerPart {
    /// 0 for a stream's first event, then +1 for each event in that stream.
    pub stream_revision: u64,
    /// Event hash of revision `stream_revision - 1` in the same stream; [`Hash256::ZERO`] at 0.
    pub previous_event_hash: Hash256,
    /// When the ledger recorded the event, by the ledger's clock, in ms since the Unix epoch (UTC).
    pub recorded_at_unix_ms: u64,
}

/// A recorded event: the exact stored bytes plus their parsed fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    bytes: Vec<u8>,
    author: AuthorPart,
    ledger: LedgerPart,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("event_id", &self.author.event_id)
            .field("stream", &self.author.stream)
            .field("event_type", &self.author.event_type)
            .field("stream_revision", &self.ledger.stream_revision)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Envelope {
    /// Joins a signed author part with the ledger part into the bytes that will be stored.
    pub fn seal(signed: &SignedAuthorPart, ledger: LedgerPart) -> Envelope {
        let mut bytes = Vec::with_capacity(1 + 4 + signed.encoding.len() + 64 + LEDGER_PART_BYTES);
        bytes.push(ENVELOPE_FORMAT_VERSION);
        bytes.extend_from_slice(&(signed.encoding.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&signed.encoding);
        bytes.extend_from_slice(&signed.signature);
        bytes.extend_from_slice(&ledger.stream_revision.to_be_bytes());
        bytes.extend_from_slice(&ledger.previous_event_hash.0);
        bytes.extend_from_slice(&ledger.recorded_at_unix_ms.to_be_bytes());
        Envelope { bytes, author: signed.author.clone(), ledger }
    }

    /// Parses stored envelope bytes and keeps them as they are.
    pub fn parse(bytes: Vec<u8>) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(EnvelopeError::LimitExceeded {
                field: "envelope",
                actual_bytes: bytes.len(),
                max_bytes: ENVELOPE_BYTES_MAX,
            });
        }
        let mut reader = Reader::new(&bytes);
        let [version] = reader.array::<1>("format_version")?;
        if version != ENVELOPE_FORMAT_VERSION {
            return Err(EnvelopeError::UnsupportedVersion { version });
        }
        let author_len = u32::from_be_bytes(reader.array::<4>("author encoding length")?) as usize;
        if author_len > AUTHOR_ENCODING_BYTES_MAX {
            return Err(EnvelopeError::LimitExceeded {
                field: "author encoding",
                actual_bytes: author_len,
                max_bytes: AUTHOR_ENCODING_BYTES_MAX,
            });
        }
        let author = AuthorPart::decode(reader.take(author_len, "author encoding")?)?;
        reader.take(64, "signature")?;
        let stream_revision = u64::from_be_bytes(reader.array::<8>("stream_revision")?);
        let previous_event_hash = Hash256(reader.array::<32>("previous_event_hash")?);
        let recorded_at_unix_ms = u64::from_be_bytes(reader.array::<8>("recorded_at_unix_ms")?);
        reader.finish("envelope")?;
        if stream_revision == 0 && previous_event_hash != Hash256::ZERO {
            return Err(EnvelopeError::InvalidField {
                field: "previous_event_hash",
                reason: "must be all zero at stream revision 0".into(),
            });
        }
        let ledger = LedgerPart { stream_revision, previous_event_hash, recorded_at_unix_ms };
        Ok(Envelope { bytes, author, ledger })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    pub fn author(&self) -> &AuthorPart {
        &self.author
    }
    pub fn ledger(&self) -> &LedgerPart {
        &self.ledger
    }

    /// The author encoding exactly as stored.
    pub fn author_encoding(&self) -> &[u8] {
        &self.bytes[5..5 + self.author_encoding_len()]
    }

    /// The 64 signature bytes exactly as stored.
    pub fn signature_bytes(&self) -> [u8; 64] {
        let start = 5 + self.author_encoding_len();
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&self.bytes[start..start + 64]);
        signature
    }

    fn author_encoding_len(&self) -> usize {
        u32::from_be_bytes([self.bytes[1], self.bytes[2], self.bytes[3], self.bytes[4]]) as usize
    }

    /// The author part and signature as the client sent them, for idempotency comparisons.
    pub fn signed_author_part(&self) -> SignedAuthorPart {
        SignedAuthorPart {
            author: self.author.clone(),
            encoding: self.author_encoding().to_vec(),
            signature: self.signature_bytes(),
        }
    }

    /// SHA-256 over the domain prefix and the stored bytes: the event's identity in the log.
    pub fn event_hash(&self) -> Hash256 {
        event_hash_of_envelope_bytes(&self.bytes)
    }

    /// Checks the author's signature over the stored bytes, by the ledger's rule.
    pub fn verify_signature(&self) -> Result<(), EnvelopeError> {
        verify_author_signature(&self.author, self.author_encoding(), &self.signature_bytes())
    }
}

/// The event hash of envelope bytes, without parsing them (used when only the hash is needed).
pub fn event_hash_of_envelope_bytes(envelope_bytes: &[u8]) -> Hash256 {
    Hash256::of_parts(&[EVENT_HASH_DOMAIN, envelope_bytes])
}

fn verify_author_signature(author: &AuthorPart, encoding: &[u8], signature: &[u8; 64]) -> Result<(), EnvelopeError> {
    let key = AuthorKey::from_bytes(&author.author_public_key)
        .map_err(|why| EnvelopeError::InvalidField { field: "author_public_key", reason: why.to_string() })?;
    signature::verify_parts(&key, &[AUTHOR_SIGNING_DOMAIN, encoding], signature)
        .map_err(|_| EnvelopeError::BadSignature { event_id: author.event_id })
}

/// Verifies many envelopes' signatures at once with [`signature::verify_batch`], which accepts
/// exactly what one-by-one checks accept. The error names the first bad envelope by its index.
pub fn verify_signatures_batch(envelopes: &[Envelope]) -> Result<(), BatchVerificationError> {
    // Authors are few and events many: check and decompress each public key once per batch.
    let mut keys: Vec<AuthorKey> = Vec::new();
    let mut key_of_envelope = Vec::with_capacity(envelopes.len());
    for (index, envelope) in envelopes.iter().enumerate() {
        let public_key = &envelope.author.author_public_key;
        let position = match keys.iter().position(|key| key.as_bytes() == public_key) {
            Some(position) => position,
            None => {
                let key = AuthorKey::from_bytes(public_key)
                    .map_err(|_| BatchVerificationError { index, event_id: envelope.author.event_id })?;
                keys.push(key);
                keys.len() - 1
            }
        };
        key_of_envelope.push(position);
    }
    let signatures: Vec<[u8; 64]> = envelopes.iter().map(Envelope::signature_bytes).collect();
    let checks: Vec<SignatureCheck<'_>> = envelopes
        .iter()
        .zip(&key_of_envelope)
        .zip(&signatures)
        .map(|((envelope, key), signature)| SignatureCheck {
            key: &keys[*key],
            message: [AUTHOR_SIGNING_DOMAIN, envelope.author_encoding()],
            signature,
        })
        .collect();
    signature::verify_batch(&checks)
        .map_err(|(index, _)| BatchVerificationError { index, event_id: envelopes[index].author.event_id })
}

/// The first envelope in a batch whose signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signature of event {event_id} (batch index {index}) does not verify")]
pub struct BatchVerificationError {
    /// Index of the failing envelope in the slice given.
    pub index: usize,
    /// Its event id.
    pub event_id: EventId,
}

/// Checks a stream name: 1 to 200 bytes of `A-Z a-z 0-9 - _ . : /`, starting with a letter or
/// digit. `$` is excluded because KurrentDB reserves it for system streams.
pub fn validate_stream_name(stream: &str) -> Result<(), EnvelopeError> {
    validate_identifier("stream", stream, STREAM_NAME_BYTES_MAX, b"-_.:/")
}

/// Checks an event type: 1 to 128 bytes of `A-Z a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_event_type(event_type: &str) -> Result<(), EnvelopeError> {
    validate_identifier("event_type", event_type, EVENT_TYPE_BYTES_MAX, b"-_.")
}

fn validate_identifier(
    field: &'static str,
    value: &str,
    max_bytes: usize,
    punctuation: &[u8],
) -> Result<(), EnvelopeError> {
    if value.is_empty() {
        return Err(EnvelopeError::InvalidField { field, reason: "must not be empty".into() });
    }
    if value.len() > max_bytes {
        return Err(EnvelopeError::LimitExceeded { field, actual_bytes: value.len(), max_bytes });
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(EnvelopeError::InvalidField { field, reason: "must start with an ASCII letter or digit".into() });
    }
    if let Some(position) = value.bytes().position(|b| !(b.is_ascii_alphanumeric() || punctuation.contains(&b))) {
        return Err(EnvelopeError::InvalidField {
            field,
            reason: format!(
                "byte {position} is not allowed; use ASCII letters, digits and {}",
                String::from_utf8_lossy(punctuation)
            ),
        });
    }
    Ok(())
}

/// Why envelope bytes or fields were refused. Every variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("invalid event id: {reason}")]
    InvalidEventId { reason: &'static str },
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("{field} is {actual_bytes} bytes; the limit is {max_bytes}")]
    LimitExceeded { field: &'static str, actual_bytes: usize, max_bytes: usize },
    #[error("truncated: {field} needs {needed} more bytes than remain")]
    Truncated { field: &'static str, needed: usize },
    #[error("{structure} has {extra} unexpected trailing bytes")]
    TrailingBytes { structure: &'static str, extra: usize },
    #[error("envelope format version {version} is not supported (this ledger reads version 1)")]
    UnsupportedVersion { version: u8 },
    #[error("signature of event {event_id} does not verify against its author key")]
    BadSignature { event_id: EventId },
}

fn put_bytes_u16(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A bounds-checked cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let remaining = self.bytes.len() - self.offset;
        if len > remaining {
            return Err(EnvelopeError::Truncated { field, needed: len - remaining });
        }
        let slice = &self.bytes[self.offset..self.offset + len];
        self.offset += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EnvelopeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    fn utf8_u16(&mut self, field: &'static str) -> Result<String, EnvelopeError> {
        let len = u16::from_be_bytes(self.array::<2>(field)?) as usize;
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| EnvelopeError::InvalidField { field, reason: "is not UTF-8".into() })
    }

    fn finish(&self, structure: &'static str) -> Result<(), EnvelopeError> {
        match self.bytes.len() - self.offset {
            0 => Ok(()),
            extra => Err(EnvelopeError::TrailingBytes { structure, extra }),
        }
    }
}
