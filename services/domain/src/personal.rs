//! Personal text, sealed so that it can be erased (crypto-shredding; docs/FORMAT.md §14).
//!
//! Free text that may name a person (a public submission, an evidence title, a rationale, an
//! implementation note) can be written sealed instead of plain. The signed event then carries:
//! - the text encrypted with XChaCha20-Poly1305 under a data key of its own event, which the
//!   server keeps in a key store beside the log, never in the log;
//! - a salted commitment to the text, so that the author vouches for exactly that text and a
//!   short text cannot be found again by hashing guesses (the salt is inside the ciphertext).
//!
//! Erasure destroys the data key: the ciphertext, the commitment and every proof over them stay
//! as they are, and the text can no longer be read. Keys, nonces and salts are passed in; this
//! module draws no randomness and does no I/O.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use klero_ledger::Hash256;

/// Bytes of a data key: one per event that holds sealed text.
pub const DATA_KEY_BYTES: usize = 32;
/// Bytes of an XChaCha20-Poly1305 nonce: random, one per sealed field.
pub const NONCE_BYTES: usize = 24;
/// Bytes of the commitment's salt, which is sealed with the text.
pub const SALT_BYTES: usize = 32;
/// Bytes of the Poly1305 tag that ends every ciphertext.
pub const TAG_BYTES: usize = 16;
/// The prefix of the associated data of every sealed field.
pub const SEALED_TEXT_DOMAIN: &[u8] = b"klero/sealed-text/v1\0";
/// The prefix hashed before the salt and the text in a commitment.
pub const COMMITMENT_DOMAIN: &[u8] = b"klero/personal-text-commitment/v1\0";

/// A data key: it opens every sealed field of one event.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub [u8; DATA_KEY_BYTES]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A key never appears in a log line or an error message.
        f.write_str("DataKey(..)")
    }
}

/// A text sealed in a signed event: what the log keeps of personal text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedText {
    pub nonce: [u8; NONCE_BYTES],
    /// XChaCha20-Poly1305 of `salt || text`, tag last.
    pub ciphertext: Vec<u8>,
    /// [`commitment`] of the salt and the text.
    pub commitment: Hash256,
}

/// Free text that may hold personal data: plain (version 1 of its event, never erasable) or
/// sealed (version 2).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PersonalText {
    Plain(String),
    Sealed(SealedText),
}

impl PersonalText {
    pub fn sealed(&self) -> Option<&SealedText> {
        match self {
            PersonalText::Plain(_) => None,
            PersonalText::Sealed(sealed) => Some(sealed),
        }
    }
}

impl From<&str> for PersonalText {
    /// Plain text.
    fn from(text: &str) -> PersonalText {
        PersonalText::Plain(text.to_string())
    }
}

/// A sealed field opened: the text and the salt of its commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedText {
    pub salt: [u8; SALT_BYTES],
    pub text: String,
}

/// Why a sealed field does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the data key does not open the ciphertext (wrong key, event id or field, or altered bytes)")]
    Decryption,
    #[error("the opened bytes are shorter than the {SALT_BYTES}-byte salt")]
    NoSalt,
    #[error("the opened text is not UTF-8")]
    NotUtf8,
    #[error("the opened text and salt do not match the commitment")]
    CommitmentMismatch,
    #[error("the opened text breaks {0}")]
    Characters(crate::text::BadCharacter),
}

/// SHA-256(`COMMITMENT_DOMAIN` || salt || text): what the author signs for a sealed text.
pub fn commitment(salt: &[u8; SALT_BYTES], text: &str) -> Hash256 {
    let mut hasher = Hash256::hasher();
    hasher.update(COMMITMENT_DOMAIN);
    hasher.update(salt);
    hasher.update(text.as_bytes());
    hasher.finish()
}

/// `SEALED_TEXT_DOMAIN` || event id (16 bytes) || field name: binds a ciphertext to its event
/// and its field, so it cannot be moved to another.
pub fn associated_data(event_id: &[u8; 16], field: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(SEALED_TEXT_DOMAIN.len() + 16 + field.len());
    data.extend_from_slice(SEALED_TEXT_DOMAIN);
    data.extend_from_slice(event_id);
    data.extend_from_slice(field.as_bytes());
    data
}

/// Seals `text` for field `field` of the event `event_id`.
pub fn seal(
    key: &DataKey,
    nonce: [u8; NONCE_BYTES],
    salt: [u8; SALT_BYTES],
    event_id: &[u8; 16],
    field: &str,
    text: &str,
) -> SealedText {
    let mut plaintext = Vec::with_capacity(SALT_BYTES + text.len());
    plaintext.extend_from_slice(&salt);
    plaintext.extend_from_slice(text.as_bytes());
    let aad = associated_data(event_id, field);
    let ciphertext = XChaCha20Poly1305::new((&key.0).into())
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plaintext, aad: &aad })
        .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encrypts any message shorter than 256 GiB"));
    SealedText { nonce, ciphertext, commitment: commitment(&salt, text) }
}

/// Opens a sealed field and checks the text against its commitment.
pub fn open(key: &DataKey, event_id: &[u8; 16], field: &str, sealed: &SealedText) -> Result<OpenedText, OpenError> {
    let aad = associated_data(event_id, field);
    let plaintext = XChaCha20Poly1305::new((&key.0).into())
        .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &aad })
        .map_err(|_| OpenError::Decryption)?;
    let (salt, text) = plaintext.split_at_checked(SALT_BYTES).ok_or(OpenError::NoSalt)?;
    let salt: [u8; SALT_BYTES] = salt.try_into().unwrap_or_else(|_| unreachable!("split at SALT_BYTES"));
    let text = String::from_utf8(text.to_vec()).map_err(|_| OpenError::NotUtf8)?;
    check_opening(&salt, &text, &sealed.commitment)?;
    Ok(OpenedText { salt, text })
}

/// Checks an opening given by someone else (an auditor's export) against the commitment.
/// Sealed text is recorded text, so it holds the characters recorded text may hold.
pub fn check_opening(salt: &[u8; SALT_BYTES], text: &str, expected: &Hash256) -> Result<(), OpenError> {
    if commitment(salt, text) != *expected {
        return Err(OpenError::CommitmentMismatch);
    }
    crate::text::check_text_characters(text).map_err(OpenError::Characters)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT_ID: [u8; 16] = [7; 16];

    fn sealed_example() -> (DataKey, SealedText) {
        let key = DataKey([1; 32]);
        (key.clone(), seal(&key, [2; 24], [3; 32], &EVENT_ID, "sealed_text", "I live at 4 Mill Lane."))
    }

    #[test]
    fn sealed_text_opens_with_its_key_event_and_field_only() {
        let (key, sealed) = sealed_example();
        let opened = open(&key, &EVENT_ID, "sealed_text", &sealed).expect("opens");
        assert_eq!(opened.text, "I live at 4 Mill Lane.");
        assert_eq!(opened.salt, [3; 32]);
        assert_eq!(sealed.ciphertext.len(), SALT_BYTES + opened.text.len() + TAG_BYTES);
        assert_eq!(open(&DataKey([9; 32]), &EVENT_ID, "sealed_text", &sealed), Err(OpenError::Decryption));
        assert_eq!(open(&key, &[8; 16], "sealed_text", &sealed), Err(OpenError::Decryption));
        assert_eq!(open(&key, &EVENT_ID, "sealed_note", &sealed), Err(OpenError::Decryption));
    }

    #[test]
    fn a_commitment_that_differs_from_the_text_is_caught_after_decryption() {
        let (key, mut sealed) = sealed_example();
        sealed.commitment = commitment(&[3; 32], "something else");
        assert_eq!(open(&key, &EVENT_ID, "sealed_text", &sealed), Err(OpenError::CommitmentMismatch));
    }

    #[test]
    fn the_commitment_depends_on_the_salt() {
        assert_ne!(commitment(&[0; 32], "yes"), commitment(&[1; 32], "yes"));
        assert_ne!(commitment(&[0; 32], "yes"), Hash256::of(b"yes"));
    }
}
