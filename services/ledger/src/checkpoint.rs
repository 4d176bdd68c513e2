//! Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes with Ed25519.
//!
//! ```text
//! <origin>\n<tree size in decimal>\n<base64 root hash>\n      <- the note text that is signed
//! \n
//! — <key name> <base64(key hash[4] | signature[64])>\n       <- one line per signature
//! ```
//!
//! The key hash is `SHA-256(key name | 0x0A | 0x01 | public key)[0..4]`, as the signed-note spec
//! gives for Ed25519. A verifier key is written `<name>+<key hash hex>+<base64(0x01 | public key)>`.

use crate::hash::Hash256;
use crate::heads::StreamHeadsCommitment;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Signature algorithm byte for Ed25519 in C2SP signed notes.
const ED25519_ALGORITHM: u8 = 0x01;
/// Longest origin or key name we sign; the spec sets none, so we pick a generous one.
pub const KEY_NAME_BYTES_MAX: usize = 256;
/// Longest signed note we parse; ours are about 200 bytes. Bounds work on untrusted input.
pub const NOTE_BYTES_MAX: usize = 64 * 1024;

/// A tree head: which log, how many entries, and the root over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique name of the log, e.g. `klero.example.org/camden-assembly-2026`.
    pub origin: String,
    /// Number of entries the root covers.
    pub tree_size: u64,
    /// RFC 6962 root hash of the first `tree_size` entries.
    pub root_hash: Hash256,
    /// Every stream's head at `tree_size` (FORMAT.md §4.1), in the one extension line
    /// Kleroterion writes; `None` in checkpoints signed before it was introduced.
    pub stream_heads: Option<StreamHeadsCommitment>,
}

/// The extension line's first word (FORMAT.md §4.1).
pub const STREAM_HEADS_LINE: &str = "klero-stream-heads/v1";

impl Checkpoint {
    /// The note text: the exact bytes the log key signs.
    pub fn note_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.tree_size, BASE64.encode(self.root_hash.0));
        if let Some(heads) = &self.stream_heads {
            text.push_str(&format!("{STREAM_HEADS_LINE} {} {}\n", heads.count, BASE64.encode(heads.root.0)));
        }
        text
    }

    /// Parses a checkpoint's note text (the signed lines, each ending in a newline).
    pub fn parse_note_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed { reason: "note text must end with a newline" })?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        validate_key_name(origin)
            .map_err(|_| CheckpointError::Malformed { reason: "origin line is empty or has spaces or '+'" })?;
        let size_line = lines.next().ok_or(CheckpointError::Malformed { reason: "missing tree size line" })?;
        let tree_size = crate::text::decimal_u64(size_line).ok_or(CheckpointError::Malformed {
            reason: "tree size must be decimal without leading zeros, at most 2^64 - 1",
        })?;
        let root_line = lines.next().ok_or(CheckpointError::Malformed { reason: "missing root hash line" })?;
        let root =
            BASE64.decode(root_line).map_err(|_| CheckpointError::Malformed { reason: "root hash is not base64" })?;
        let root_hash =
            Hash256(root.try_into().map_err(|_| CheckpointError::Malformed { reason: "root hash is not 32 bytes" })?);
        // Extension lines are allowed by the spec; Kleroterion writes at most one, the stream
        // heads, and rejects any other so every accepted checkpoint has one text form.
        let stream_heads = match lines.next() {
            None => None,
            Some(line) => Some(parse_stream_heads_line(line)?),
        };
        if lines.next().is_some() {
            return Err(CheckpointError::Malformed { reason: "unexpected extension lines after the stream heads" });
        }
        Ok(Checkpoint { origin: origin.to_string(), tree_size, root_hash, stream_heads })
    }
}

/// `klero-stream-heads/v1 <count> <base64 root>`, exactly.
fn parse_stream_heads_line(line: &str) -> Result<StreamHeadsCommitment, CheckpointError> {
    let malformed = |reason| CheckpointError::Malformed { reason };
    let mut words = line.split(' ');
    if words.next() != Some(STREAM_HEADS_LINE) {
        return Err(malformed("the only extension line allowed is klero-stream-heads/v1"));
    }
    let count = words
        .next()
        .and_then(crate::text::decimal_u64)
        .ok_or(malformed("the stream heads' count must be decimal without leading zeros"))?;
    let root = words
        .next()
        .and_then(crate::text::canonical_base64)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(malformed("the stream heads' root must be 32 bytes of canonical base64"))?;
    if words.next().is_some() {
        return Err(malformed("the stream heads line has more than three words"));
    }
    Ok(StreamHeadsCommitment { count, root: Hash256(root) })
}

impl Checkpoint {}

pub(crate) fn validate_key_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || name.len() > KEY_NAME_BYTES_MAX || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(CheckpointError::InvalidKeyName);
    }
    Ok(())
}

fn key_hash(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    key_id(name, ED25519_ALGORITHM, public_key)
}

/// A signed-note key ID: `SHA-256(name | 0x0A | algorithm | public key)[0..4]`.
pub(crate) fn key_id(name: &str, algorithm: u8, public_key: &[u8; 32]) -> [u8; 4] {
    let digest = Hash256::of_parts(&[name.as_bytes(), b"\n", &[algorithm], public_key]);
    [digest.0[0], digest.0[1], digest.0[2], digest.0[3]]
}

/// Parses a verifier key `<name>+<hex key ID>+<base64(algorithm | 32-byte key)>` of one
/// algorithm, checking the key ID against the name and key.
pub(crate) fn parse_vkey_of(
    text: &str,
    algorithm: u8,
    wrong_algorithm: &'static str,
) -> Result<(String, [u8; 4], [u8; 32]), CheckpointError> {
    let malformed = || CheckpointError::Malformed { reason: "verifier key must be <name>+<hex key hash>+<base64 key>" };
    // The name cannot hold '+', but the base64 key can, so split from the left.
    let mut parts = text.trim().splitn(3, '+');
    let (name, hash, blob) =
        (parts.next().ok_or_else(malformed)?, parts.next().ok_or_else(malformed)?, parts.next().ok_or_else(malformed)?);
    validate_key_name(name)?;
    let blob = BASE64.decode(blob).map_err(|_| malformed())?;
    if blob.len() != 33 || blob[0] != algorithm {
        return Err(CheckpointError::Malformed { reason: wrong_algorithm });
    }
    let public_key: [u8; 32] = blob[1..].try_into().map_err(|_| malformed())?;
    let expected = key_id(name, algorithm, &public_key);
    if crate::hash::from_hex(hash).ok().as_deref() != Some(&expected[..]) {
        return Err(CheckpointError::Malformed { reason: "verifier key hash does not match its name and key" });
    }
    Ok((name.to_string(), expected, public_key))
}

/// A verifier key's text form for `algorithm`.
pub(crate) fn vkey_string(name: &str, key_id: &[u8; 4], algorithm: u8, public_key: &[u8; 32]) -> String {
    let mut blob = vec![algorithm];
    blob.extend_from_slice(public_key);
    format!("{name}+{}+{}", crate::hash::to_hex(key_id), BASE64.encode(blob))
}

/// One signature line of a signed note: the key name and the decoded blob (key ID, then the
/// signature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub key_name: String,
    pub blob: Vec<u8>,
}

impl NoteSignature {
    /// The line as written in a note, with its newline.
    pub fn to_line(&self) -> String {
        format!("\u{2014} {} {}\n", self.key_name, BASE64.encode(&self.blob))
    }
}

/// Splits a signed note into its text (through the newline before the blank line) and its
/// signature lines, each parsed. Bounded: at most [`NOTE_BYTES_MAX`] bytes.
pub fn split_note(note: &str) -> Result<(&str, Vec<NoteSignature>), CheckpointError> {
    if note.len() > NOTE_BYTES_MAX {
        return Err(CheckpointError::Malformed { reason: "note is longer than 64 KiB" });
    }
    let split =
        note.find("\n\n").ok_or(CheckpointError::Malformed { reason: "no blank line between text and signatures" })?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(CheckpointError::Malformed { reason: "signature lines must end with a newline" })?;
    let mut parsed = Vec::new();
    for line in signatures.split('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or(CheckpointError::Malformed { reason: "signature line must start with an em dash and a space" })?;
        let (name, blob) = rest
            .split_once(' ')
            .ok_or(CheckpointError::Malformed { reason: "signature line needs a key name and a signature" })?;
        let blob = BASE64.decode(blob).map_err(|_| CheckpointError::Malformed { reason: "signature is not base64" })?;
        parsed.push(NoteSignature { key_name: name.to_string(), blob });
    }
    Ok((text, parsed))
}

/// The log's signing key with its name. The server holds it; nobody else needs it.
#[derive(Clone, Debug)]
pub struct LogSigningKey {
    name: String,
    key: SigningKey,
}

impl LogSigningKey {
    pub fn new(name: &str, key: SigningKey) -> Result<LogSigningKey, CheckpointError> {
        validate_key_name(name)?;
        Ok(LogSigningKey { name: name.to_string(), key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, as a verifier key.
    pub fn verifier(&self) -> LogVerifierKey {
        let public_key = self.key.verifying_key().to_bytes();
        LogVerifierKey { name: self.name.clone(), key_hash: key_hash(&self.name, &public_key), public_key }
    }

    /// Signs a record of the server's own state (a snapshot of what it derived from the log),
    /// domain-separated by [`SERVER_STATE_DOMAIN`], so that a tampered or foreign record is
    /// refused on start.
    pub fn sign_server_state(&self, message: &[u8]) -> [u8; 64] {
        let mut input = Vec::with_capacity(SERVER_STATE_DOMAIN.len() + message.len());
        input.extend_from_slice(SERVER_STATE_DOMAIN);
        input.extend_from_slice(message);
        self.key.sign(&input).to_bytes()
    }

    /// Signs a checkpoint whose origin is this key's name.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<SignedCheckpoint, CheckpointError> {
        if checkpoint.origin != self.name {
            return Err(CheckpointError::OriginMismatch {
                origin: checkpoint.origin.clone(),
                key_name: self.name.clone(),
            });
        }
        let text = checkpoint.note_text();
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&key_hash(&self.name, &self.key.verifying_key().to_bytes()));
        blob.extend_from_slice(&signature);
        let note = format!("{text}\n\u{2014} {} {}\n", self.name, BASE64.encode(blob));
        Ok(SignedCheckpoint { checkpoint: checkpoint.clone(), note })
    }
}

/// Prefixes every server state record the log key signs. A note's text is UTF-8 without NUL
/// bytes, so no such signature can ever pass as a checkpoint's, nor the reverse.
pub const SERVER_STATE_DOMAIN: &[u8] = b"KLERO-SERVER-STATE-V1\0";

/// A log's public key and name, which auditors configure to trust its checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogVerifierKey {
    name: String,
    key_hash: [u8; 4],
    public_key: [u8; 32],
}

impl LogVerifierKey {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// `<name>+<key hash as 8 hex digits>+<base64(0x01 | public key)>`.
    pub fn to_vkey_string(&self) -> String {
        vkey_string(&self.name, &self.key_hash, ED25519_ALGORITHM, &self.public_key)
    }

    pub fn parse_vkey(text: &str) -> Result<LogVerifierKey, CheckpointError> {
        let (name, key_hash, public_key) =
            parse_vkey_of(text, ED25519_ALGORITHM, "verifier key is not an Ed25519 key (0x01 then 32 bytes)")?;
        Ok(LogVerifierKey { name, key_hash, public_key })
    }

    /// Whether this key signed `message` as a server state record
    /// ([`LogSigningKey::sign_server_state`]).
    pub fn verify_server_state(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(verifying_key) = VerifyingKey::from_bytes(&self.public_key) else { return false };
        let mut input = Vec::with_capacity(SERVER_STATE_DOMAIN.len() + message.len());
        input.extend_from_slice(SERVER_STATE_DOMAIN);
        input.extend_from_slice(message);
        verifying_key.verify_strict(&input, &Signature::from_bytes(signature)).is_ok()
    }

    /// Parses a signed checkpoint note and checks that this key signed it. Signatures by other
    /// keys (witnesses, say) are allowed and ignored.
    pub fn verify(&self, note: &str) -> Result<SignedCheckpoint, CheckpointError> {
        let (text, signatures) = split_note(note)?;
        let checkpoint = Checkpoint::parse_note_text(text)?;
        if checkpoint.origin != self.name {
            return Err(CheckpointError::OriginMismatch { origin: checkpoint.origin, key_name: self.name.clone() });
        }
        let verifying_key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| CheckpointError::BadSignature)?;
        let mut matched = false;
        for line in signatures {
            if line.key_name != self.name || line.blob.len() != 68 || line.blob[..4] != self.key_hash {
                continue;
            }
            let signature = Signature::from_slice(&line.blob[4..]).map_err(|_| CheckpointError::BadSignature)?;
            verifying_key.verify_strict(text.as_bytes(), &signature).map_err(|_| CheckpointError::BadSignature)?;
            matched = true;
        }
        if !matched {
            return Err(CheckpointError::NoSignatureByKey { key_name: self.name.clone() });
        }
        Ok(SignedCheckpoint { checkpoint, note: note.to_string() })
    }
}

/// A checkpoint with its signed note text, kept exactly as signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: String,
}

impl SignedCheckpoint {
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }
    /// The full signed note, byte for byte as published.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// The same checkpoint with more signature lines (cosignatures) after those it has. The
    /// caller checked them; a verifier ignores lines by keys it does not trust.
    pub fn with_signature_lines(&self, lines: &[NoteSignature]) -> SignedCheckpoint {
        let mut note = self.note.clone();
        for line in lines {
            note.push_str(&line.to_line());
        }
        SignedCheckpoint { checkpoint: self.checkpoint.clone(), note }
    }
}

/// Why a checkpoint or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint or key: {reason}")]
    Malformed { reason: &'static str },
    #[error("key name must be 1 to 256 bytes with no whitespace or '+'")]
    InvalidKeyName,
    #[error("checkpoint origin {origin:?} is not the key's name {key_name:?}")]
    OriginMismatch { origin: String, key_name: String },
    #[error("checkpoint signature does not verify")]
    BadSignature,
    #[error("checkpoint carries no signature by key {key_name:?}")]
    NoSignatureByKey { key_name: String },
}
