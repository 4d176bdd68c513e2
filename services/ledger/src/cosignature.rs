//! Witness cosignatures (C2SP tlog-cosignature, Ed25519 `cosignature/v1`) and the witness
//! policy a verifier applies to a checkpoint.
//!
//! A cosignature is one more signature line on a checkpoint note:
//!
//! ```text
//! — <witness name> base64(key ID[4] | u64 big-endian timestamp | Ed25519 signature[64])
//! key ID         = SHA-256(<witness name> | 0x0A | 0x04 | public key)[0..4]
//! signed message = "cosignature/v1\n" "time " decimal(timestamp) "\n" <checkpoint note text>
//! ```
//!
//! A witness signs only after checking that the checkpoint is consistent with every earlier
//! one it saw for that log, so a quorum of cosignatures means the log showed no one else a
//! different history (a split view) without a witness in the quorum noticing.

use crate::checkpoint::{
    key_id, parse_vkey_of, split_note, validate_key_name, vkey_string, Checkpoint, CheckpointError, NoteSignature,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Signature type byte for Ed25519 `cosignature/v1` in signed-note key IDs and vkeys.
pub const COSIGNATURE_V1_ALGORITHM: u8 = 0x04;
/// Bytes of a cosignature blob: key ID, timestamp, signature.
const COSIGNATURE_BLOB_BYTES: usize = 4 + 8 + 64;
/// Most witnesses a policy may name: a bound on the work one checkpoint can cause.
pub const POLICY_WITNESSES_MAX: usize = 64;

/// The exact bytes a witness signs for `checkpoint` at `timestamp` (seconds since the epoch).
pub fn cosigned_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{note_text}").into_bytes()
}

/// A witness's signing key with its name. Only the witness holds it.
#[derive(Clone, Debug)]
pub struct CosignerKey {
    name: String,
    key: SigningKey,
}

impl CosignerKey {
    pub fn new(name: &str, key: SigningKey) -> Result<CosignerKey, CheckpointError> {
        validate_key_name(name)?;
        Ok(CosignerKey { name: name.to_string(), key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> CosignerVerifierKey {
        let public_key = self.key.verifying_key().to_bytes();
        CosignerVerifierKey {
            key_id: key_id(&self.name, COSIGNATURE_V1_ALGORITHM, &public_key),
            name: self.name.clone(),
            public_key,
        }
    }

    /// The cosignature line for `checkpoint` at `timestamp` (seconds since the epoch).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> NoteSignature {
        let message = cosigned_message(&checkpoint.note_text(), timestamp);
        let mut blob = Vec::with_capacity(COSIGNATURE_BLOB_BYTES);
        blob.extend_from_slice(&self.verifier().key_id);
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&self.key.sign(&message).to_bytes());
        NoteSignature { key_name: self.name.clone(), blob }
    }
}

/// A witness's public key and name: `<name>+<hex key ID>+<base64(0x04 | public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignerVerifierKey {
    name: String,
    key_id: [u8; 4],
    public_key: [u8; 32],
}

impl CosignerVerifierKey {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn parse_vkey(text: &str) -> Result<CosignerVerifierKey, CheckpointError> {
        let (name, key_id, public_key) = parse_vkey_of(
            text,
            COSIGNATURE_V1_ALGORITHM,
            "witness key is not an Ed25519 cosignature/v1 key (0x04 then 32 bytes)",
        )?;
        Ok(CosignerVerifierKey { name, key_id, public_key })
    }

    pub fn to_vkey_string(&self) -> String {
        vkey_string(&self.name, &self.key_id, COSIGNATURE_V1_ALGORITHM, &self.public_key)
    }

    /// Whether `line` is this witness's cosignature on the note text `note_text`; returns its
    /// timestamp. Lines by other keys give `None`, as does a line whose signature fails.
    pub fn verify_line(&self, note_text: &str, line: &NoteSignature) -> Option<u64> {
        if line.key_name != self.name || line.blob.len() != COSIGNATURE_BLOB_BYTES || line.blob[..4] != self.key_id {
            return None;
        }
        let timestamp = u64::from_be_bytes(line.blob[4..12].try_into().ok()?);
        if timestamp > i64::MAX as u64 {
            return None;
        }
        let signature = Signature::from_slice(&line.blob[12..]).ok()?;
        // Checked as the log's checkpoint signatures are: strict, cofactorless.
        let key = VerifyingKey::from_bytes(&self.public_key).ok()?;
        key.verify_strict(&cosigned_message(note_text, timestamp), &signature).ok()?;
        Some(timestamp)
    }
}

/// Which witnesses a verifier trusts, and how many of them must have cosigned a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<CosignerVerifierKey>,
    quorum: usize,
}

/// Why a checkpoint failed a witness policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessPolicyError {
    #[error("a witness quorum of {quorum} cannot be met by {witnesses} witnesses")]
    Unsatisfiable { quorum: usize, witnesses: usize },
    #[error("a witness policy names at most {POLICY_WITNESSES_MAX} witnesses")]
    TooManyWitnesses,
    #[error("two witnesses of the policy share the name {0:?}")]
    DuplicateWitness(String),
    #[error("the checkpoint has {valid} valid cosignatures of the {quorum} the witness policy needs{cosigned}")]
    QuorumNotMet { valid: usize, quorum: usize, cosigned: String },
    #[error(transparent)]
    Note(#[from] CheckpointError),
}

impl WitnessPolicy {
    /// A policy: at least `quorum` of `witnesses` must have cosigned. A quorum of 0 accepts
    /// any checkpoint (no policy).
    pub fn new(witnesses: Vec<CosignerVerifierKey>, quorum: usize) -> Result<WitnessPolicy, WitnessPolicyError> {
        if witnesses.len() > POLICY_WITNESSES_MAX {
            return Err(WitnessPolicyError::TooManyWitnesses);
        }
        if quorum > witnesses.len() {
            return Err(WitnessPolicyError::Unsatisfiable { quorum, witnesses: witnesses.len() });
        }
        for (i, witness) in witnesses.iter().enumerate() {
            if witnesses[..i].iter().any(|other| other.name == witness.name) {
                return Err(WitnessPolicyError::DuplicateWitness(witness.name.clone()));
            }
        }
        Ok(WitnessPolicy { witnesses, quorum })
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    pub fn witnesses(&self) -> &[CosignerVerifierKey] {
        &self.witnesses
    }

    /// When a quorum of the policy's witnesses had cosigned `note` (FORMAT.md §13.6): the
    /// `quorum`-th earliest of their timestamps (seconds), each witness counted once at its
    /// earliest valid line; `None` below the quorum, or with a quorum of 0.
    pub fn attested_at(&self, note: &str) -> Option<u64> {
        if self.quorum == 0 {
            return None;
        }
        let (text, lines) = split_note(note).ok()?;
        let mut times: Vec<u64> = self
            .witnesses
            .iter()
            .filter_map(|witness| lines.iter().filter_map(|line| witness.verify_line(text, line)).min())
            .collect();
        times.sort_unstable();
        times.get(self.quorum - 1).copied()
    }

    /// The names of the policy's witnesses that validly cosigned the signed note `note` (each
    /// counted once), if they are at least the quorum. The log's own signature is checked
    /// separately ([`crate::checkpoint::LogVerifierKey::verify`]).
    pub fn check(&self, note: &str) -> Result<Vec<String>, WitnessPolicyError> {
        let (text, lines) = split_note(note)?;
        let cosigned: Vec<String> = self
            .witnesses
            .iter()
            .filter(|witness| lines.iter().any(|line| witness.verify_line(text, line).is_some()))
            .map(|witness| witness.name.clone())
            .collect();
        if cosigned.len() < self.quorum {
            let named = if cosigned.is_empty() { String::new() } else { format!(" (by {})", cosigned.join(", ")) };
            return Err(WitnessPolicyError::QuorumNotMet {
                valid: cosigned.len(),
                quorum: self.quorum,
                cosigned: named,
            });
        }
        Ok(cosigned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hash256;

    fn witness(seed: u8, name: &str) -> CosignerKey {
        CosignerKey::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn signed_checkpoint() -> crate::checkpoint::SignedCheckpoint {
        let log = crate::checkpoint::LogSigningKey::new("example.org/log", SigningKey::from_bytes(&[9; 32])).unwrap();
        log.sign(&Checkpoint {
            origin: "example.org/log".into(),
            tree_size: 5,
            root_hash: Hash256([7; 32]),
            stream_heads: None,
        })
        .unwrap()
    }

    #[test]
    fn a_cosignature_verifies_under_its_key_and_no_other() {
        let checkpoint = signed_checkpoint();
        let (w1, w2) = (witness(1, "w1.example"), witness(2, "w2.example"));
        let line = w1.cosign(checkpoint.checkpoint(), 1_700_000_000);
        let text = checkpoint.checkpoint().note_text();
        assert_eq!(w1.verifier().verify_line(&text, &line), Some(1_700_000_000));
        assert_eq!(w2.verifier().verify_line(&text, &line), None);
        let other_text = text.replace('5', "6");
        assert_eq!(w1.verifier().verify_line(&other_text, &line), None, "a cosignature covers one checkpoint");
        let vkey = w1.verifier().to_vkey_string();
        assert_eq!(CosignerVerifierKey::parse_vkey(&vkey).unwrap(), w1.verifier());
        assert!(crate::checkpoint::LogVerifierKey::parse_vkey(&vkey).is_err(), "a witness key is not a log key");
    }

    #[test]
    fn a_policy_counts_each_trusted_witness_once() {
        let checkpoint = signed_checkpoint();
        let (w1, w2, w3) = (witness(1, "w1.example"), witness(2, "w2.example"), witness(3, "w3.example"));
        let policy = WitnessPolicy::new(vec![w1.verifier(), w2.verifier(), w3.verifier()], 2).unwrap();
        let one = checkpoint.with_signature_lines(&[w1.cosign(checkpoint.checkpoint(), 1)]);
        assert!(matches!(policy.check(one.note()), Err(WitnessPolicyError::QuorumNotMet { valid: 1, quorum: 2, .. })));
        let twice = checkpoint
            .with_signature_lines(&[w1.cosign(checkpoint.checkpoint(), 1), w1.cosign(checkpoint.checkpoint(), 2)]);
        assert!(policy.check(twice.note()).is_err(), "one witness twice is one cosignature");
        let two = checkpoint
            .with_signature_lines(&[w1.cosign(checkpoint.checkpoint(), 1), w3.cosign(checkpoint.checkpoint(), 1)]);
        assert_eq!(policy.check(two.note()).unwrap(), vec!["w1.example".to_string(), "w3.example".to_string()]);
        assert!(WitnessPolicy::new(vec![w1.verifier()], 2).is_err());
        assert!(WitnessPolicy::new(vec![w1.verifier(), w1.verifier()], 1).is_err());
    }
}
