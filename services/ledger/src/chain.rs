//! Per-stream hash chains: each event names the hash of the previous event in its stream.
//!
//! A council can hand an auditor one stream on its own; [`StreamChainChecker`] proves that the
//! stream's revisions are gap-free and that no event was changed, dropped or reordered.

use crate::envelope::Envelope;
use crate::hash::Hash256;
use std::collections::HashMap;

/// Tracks the head of every stream seen so far, so a whole log can be checked in one pass.
#[derive(Debug, Default)]
pub struct StreamChainChecker {
    /// Per stream: the next expected revision and the hash of the last event.
    heads: HashMap<String, (u64, Hash256)>,
}

impl StreamChainChecker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts the next event of the log; fails if it does not extend its stream's chain.
    pub fn check_next(&mut self, envelope: &Envelope, event_hash: Hash256) -> Result<(), ChainError> {
        let stream = &envelope.author().stream;
        let ledger = envelope.ledger();
        let (expected_revision, expected_previous) = self.heads.get(stream).copied().unwrap_or((0, Hash256::ZERO));
        if ledger.stream_revision != expected_revision {
            return Err(ChainError::RevisionGap {
                stream: stream.clone(),
                expected_revision,
                actual_revision: ledger.stream_revision,
            });
        }
        if ledger.previous_event_hash != expected_previous {
            return Err(ChainError::PreviousHashMismatch {
                stream: stream.clone(),
                stream_revision: ledger.stream_revision,
                expected: expected_previous,
                actual: ledger.previous_event_hash,
            });
        }
        self.heads.insert(stream.clone(), (expected_revision + 1, event_hash));
        Ok(())
    }

    /// Next revision and last event hash of `stream`, or `(0, ZERO)` for a stream not yet seen.
    pub fn head(&self, stream: &str) -> (u64, Hash256) {
        self.heads.get(stream).copied().unwrap_or((0, Hash256::ZERO))
    }

    /// Every stream's head: (stream, next revision, last event hash).
    pub fn heads(&self) -> Vec<(String, u64, Hash256)> {
        self.heads.iter().map(|(stream, (next, last))| (stream.clone(), *next, *last)).collect()
    }

    /// The heads tree of every stream so far (FORMAT.md §4.1): what a checkpoint of this
    /// prefix commits to.
    pub fn heads_tree(&self) -> crate::heads::HeadsTree {
        crate::heads::HeadsTree::build(self.heads.iter().map(|(stream, (next, last))| crate::heads::StreamHead {
            stream: stream.clone(),
            revision: next - 1,
            head_hash: *last,
        }))
    }

    /// A checker that takes up where another left off: each stream's next revision and the hash
    /// of its last event.
    pub fn from_heads(heads: impl IntoIterator<Item = (String, u64, Hash256)>) -> StreamChainChecker {
        StreamChainChecker { heads: heads.into_iter().map(|(stream, next, last)| (stream, (next, last))).collect() }
    }
}

/// How a stream's chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("stream {stream}: expected revision {expected_revision}, found {actual_revision}")]
    RevisionGap { stream: String, expected_revision: u64, actual_revision: u64 },
    #[error("stream {stream} revision {stream_revision}: previous_event_hash is {actual}, expected {expected}")]
    PreviousHashMismatch { stream: String, stream_revision: u64, expected: Hash256, actual: Hash256 },
}
