//! Test-only builders. Nothing shipped depends on this crate: a tidy test checks it.
//!
//! [`ExportBuilder`] forges valid exports directly from keys, without a server, for tests,
//! benchmarks and demonstrations of what the verifier catches.

use klero_ledger::chain::StreamChainChecker;
use klero_ledger::checkpoint::{LogSigningKey, LogVerifierKey, SignedCheckpoint};
use klero_ledger::envelope::{AuthorPart, Envelope, LedgerPart};
use klero_ledger::merkle::MerkleTree;
use klero_ledger::{Hash256, SigningKey};
use klero_verifier::{Export, PublishedView};

pub mod fixture;
pub mod households;
pub mod slices;

/// A key derived from a label, so tests can name keys instead of storing them.
pub fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

/// Builds valid exports directly from keys, without a server: for tests, benchmarks and
/// demonstrations of what the verifier catches. It seals envelopes with correct ledger parts
/// and signs checkpoints, but applies no domain rules, so it can build logs that break them.
#[derive(Debug)]
pub struct ExportBuilder {
    log_key: LogSigningKey,
    trust_root: [u8; 32],
    chains: StreamChainChecker,
    tree: MerkleTree,
    events: Vec<Vec<u8>>,
    checkpoints: Vec<String>,
    views: Vec<PublishedView>,
}

impl ExportBuilder {
    pub fn new(log_key: LogSigningKey, trust_root: [u8; 32]) -> ExportBuilder {
        ExportBuilder {
            log_key,
            trust_root,
            chains: StreamChainChecker::new(),
            tree: MerkleTree::new(),
            events: Vec::new(),
            checkpoints: Vec::new(),
            views: Vec::new(),
        }
    }

    /// Starts from an existing export's events (which must be valid chains).
    pub fn extend_from(mut self, envelopes: &[Vec<u8>]) -> ExportBuilder {
        for bytes in envelopes {
            let envelope = Envelope::parse(bytes.clone()).expect("exported envelopes parse");
            let hash = envelope.event_hash();
            self.chains.check_next(&envelope, hash).expect("exported chains are valid");
            self.tree.push_entry(&hash);
            self.events.push(bytes.clone());
        }
        self
    }

    /// Signs `author` with `key`, seals it on its stream's chain and appends it.
    pub fn append(&mut self, author: AuthorPart, key: &SigningKey, recorded_at_unix_ms: u64) -> Hash256 {
        let signed = author.sign(key).expect("valid author part");
        self.append_signed(&signed, recorded_at_unix_ms)
    }

    /// Seals an already signed author part on its stream's chain and appends it.
    pub fn append_signed(
        &mut self,
        signed: &klero_ledger::envelope::SignedAuthorPart,
        recorded_at_unix_ms: u64,
    ) -> Hash256 {
        let (stream_revision, previous_event_hash) = self.chains.head(&signed.author().stream);
        let envelope = Envelope::seal(signed, LedgerPart { stream_revision, previous_event_hash, recorded_at_unix_ms });
        let hash = envelope.event_hash();
        self.chains.check_next(&envelope, hash).expect("sealed on the chain's head");
        self.tree.push_entry(&hash);
        self.events.push(envelope.into_bytes());
        hash
    }

    /// Signs a checkpoint of the events so far and includes it.
    pub fn checkpoint(&mut self) -> SignedCheckpoint {
        let checkpoint = klero_ledger::checkpoint::Checkpoint {
            origin: self.log_key.name().to_string(),
            tree_size: self.tree.size(),
            root_hash: self.tree.root(),
            stream_heads: Some(self.chains.heads_tree().commitment()),
        };
        let signed = self.log_key.sign(&checkpoint).expect("origin is the key name");
        self.checkpoints.push(signed.note().to_string());
        signed
    }

    pub fn publish_view(&mut self, view: PublishedView) {
        self.views.push(view);
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The event hashes so far, in log order.
    pub fn peek(&self) -> Vec<Hash256> {
        self.events.iter().map(|bytes| klero_ledger::envelope::event_hash_of_envelope_bytes(bytes)).collect()
    }

    /// The envelope bytes of the last event appended.
    pub fn last_envelope(&self) -> &[u8] {
        self.events.last().map_or(&[], Vec::as_slice)
    }

    pub fn finish(self) -> Export {
        Export {
            log_key: self.log_key.verifier().to_vkey_string(),
            trust_root: self.trust_root,
            checkpoints: self.checkpoints,
            views: self.views,
            events: self.events,
        }
    }

    /// The verifier key for this builder's log.
    pub fn verifier_key(&self) -> LogVerifierKey {
        self.log_key.verifier()
    }
}

/// A signed event of a made-up type with an id derived from `stream` and `n`, so a retry can
/// rebuild the same event: for tests of the store and the log, which do not decode payloads.
pub fn signed_event(author: &SigningKey, stream: &str, n: u32) -> klero_ledger::envelope::SignedAuthorPart {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[4..8].copy_from_slice(&Hash256::of(stream.as_bytes()).0[..4]);
    id[8] = 0x80;
    klero_ledger::envelope::AuthorPart {
        event_id: klero_ledger::envelope::EventId(id),
        stream: stream.to_string(),
        event_type: "klero.test.SomethingHappened".into(),
        event_version: 1,
        author_public_key: author.verifying_key().to_bytes(),
        authored_at_unix_ms: 1_800_000_000_000 + n as u64,
        payload: vec![n as u8; 300],
    }
    .sign(author)
    .expect("sign")
}
