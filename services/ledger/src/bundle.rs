//! The offline proof bundle: one event, its inclusion proof and a signed checkpoint, in a
//! line-based text file that anyone can check without the server (docs/FORMAT.md §5).
//!
//! ```text
//! klero-proof-bundle/v1
//! leaf-index <decimal>
//! envelope <base64 of the stored envelope bytes>
//! inclusion <base64 hash>            (one line per proof hash, RFC 9162 order; none for size 1)
//! checkpoint
//! <the signed checkpoint note, verbatim>
//! ```

use crate::checkpoint::{CheckpointError, LogVerifierKey, SignedCheckpoint};
use crate::envelope::{Envelope, EnvelopeError, ENVELOPE_BYTES_MAX};
use crate::hash::Hash256;
use crate::merkle::{leaf_hash, verify_inclusion, ProofError};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

const HEADER: &str = "klero-proof-bundle/v1";
/// A proof for a tree of 2^64 leaves has at most 64 hashes.
const INCLUSION_HASHES_MAX: usize = 64;
/// Bounds parsing: the largest envelope in base64 plus room for the proof and checkpoint.
pub const BUNDLE_BYTES_MAX: usize = ENVELOPE_BYTES_MAX * 4 / 3 + 64 * 1024;

/// Everything needed to prove one event is in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofBundle {
    /// 0-based index of the event in the global log, which is its Merkle leaf index.
    pub leaf_index: u64,
    /// The stored envelope bytes.
    pub envelope: Vec<u8>,
    /// Inclusion proof of the leaf in the checkpoint's tree.
    pub inclusion_proof: Vec<Hash256>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint_note: String,
}

/// What a verified bundle established.
#[derive(Debug)]
pub struct VerifiedBundle {
    pub envelope: Envelope,
    pub event_hash: Hash256,
    pub checkpoint: SignedCheckpoint,
}

impl ProofBundle {
    pub fn encode(&self) -> String {
        let mut text =
            format!("{HEADER}\nleaf-index {}\nenvelope {}\n", self.leaf_index, BASE64.encode(&self.envelope));
        for hash in &self.inclusion_proof {
            text.push_str("inclusion ");
            text.push_str(&BASE64.encode(hash.0));
            text.push('\n');
        }
        text.push_str("checkpoint\n");
        text.push_str(&self.checkpoint_note);
        text
    }

    pub fn parse(text: &str) -> Result<ProofBundle, BundleError> {
        if text.len() > BUNDLE_BYTES_MAX {
            return Err(BundleError::Malformed {
                reason: "bundle is larger than the largest possible envelope allows",
            });
        }
        let (head, checkpoint_note) =
            text.split_once("\ncheckpoint\n").ok_or(BundleError::Malformed { reason: "missing checkpoint line" })?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(BundleError::Malformed { reason: "first line must be klero-proof-bundle/v1" });
        }
        let leaf_index =
            lines.next().and_then(|line| line.strip_prefix("leaf-index ")).and_then(crate::text::decimal_u64).ok_or(
                BundleError::Malformed { reason: "second line must be leaf-index <decimal without leading zeros>" },
            )?;
        let envelope = lines
            .next()
            .and_then(|line| line.strip_prefix("envelope "))
            .and_then(|value| BASE64.decode(value).ok())
            .ok_or(BundleError::Malformed { reason: "third line must be envelope <base64>" })?;
        let mut inclusion_proof = Vec::new();
        for line in lines {
            let hash = line
                .strip_prefix("inclusion ")
                .and_then(|value| BASE64.decode(value).ok())
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or(BundleError::Malformed { reason: "proof lines must be inclusion <base64 of 32 bytes>" })?;
            if inclusion_proof.len() == INCLUSION_HASHES_MAX {
                return Err(BundleError::Malformed { reason: "more than 64 inclusion hashes" });
            }
            inclusion_proof.push(Hash256(hash));
        }
        Ok(ProofBundle { leaf_index, envelope, inclusion_proof, checkpoint_note: checkpoint_note.to_string() })
    }

    /// Checks the checkpoint signature, the author's signature, and the inclusion proof.
    pub fn verify(&self, log_key: &LogVerifierKey) -> Result<VerifiedBundle, BundleError> {
        let checkpoint = log_key.verify(&self.checkpoint_note)?;
        let envelope = Envelope::parse(self.envelope.clone())?;
        envelope.verify_signature()?;
        let event_hash = envelope.event_hash();
        let tree = checkpoint.checkpoint();
        verify_inclusion(
            self.leaf_index,
            tree.tree_size,
            &leaf_hash(&event_hash.0),
            &self.inclusion_proof,
            &tree.root_hash,
        )?;
        Ok(VerifiedBundle { envelope, event_hash, checkpoint })
    }
}

/// Why a bundle did not verify; the variant says which layer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("malformed proof bundle: {reason}")]
    Malformed { reason: &'static str },
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target `proof_bundle`: `leaf-index 01` (and `+1`) parsed as 1, so two
    /// texts gave one bundle. A bundle has one text form.
    #[test]
    fn a_leaf_index_has_one_spelling() {
        let bundle = ProofBundle {
            leaf_index: 1,
            envelope: vec![1, 2, 3],
            inclusion_proof: vec![Hash256([4; 32])],
            checkpoint_note: "note\n".into(),
        };
        let text = bundle.encode();
        assert_eq!(ProofBundle::parse(&text), Ok(bundle));
        for spelling in ["leaf-index 01", "leaf-index +1", "leaf-index  1"] {
            let changed = text.replace("leaf-index 1", spelling);
            assert!(ProofBundle::parse(&changed).is_err(), "{spelling:?} is refused");
        }
    }
}
