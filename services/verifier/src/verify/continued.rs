//! A verification that goes on as the log grows: a monitor's. Each call replays only the events
//! after those the last call verified, from the state that call left, so a round after 1% new
//! events costs about 1% of a replay from the start.
//!
//! What the kept state cannot answer sends the call back to the start, where
//! [`verify_envelopes`](super::verify_envelopes) would begin: a checkpoint of a smaller size
//! than the state's that no earlier call verified with that root and those stream heads (a
//! witness's older checkpoint, say: the state keeps only the tree's right edge and today's
//! heads), a published view of a smaller size, another log key or trust root, or a call
//! after one that failed.

use super::{replay_events, ReplayState, Report, VerifyOptions};
use crate::export::ExportHeader;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::heads::StreamHeadsCommitment;
use klero_ledger::Hash256;
use std::collections::BTreeMap;

/// See the module's documentation.
#[derive(Default)]
pub struct ContinuedVerification {
    kept: Option<Kept>,
}

struct Kept {
    state: ReplayState,
    log_key: String,
    trust_root: [u8; 32],
    /// Every checkpoint verified so far, by size: its root and stream heads.
    checkpoints: BTreeMap<u64, (Hash256, Option<StreamHeadsCommitment>)>,
}

impl std::fmt::Debug for ContinuedVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContinuedVerification").field("verified_size", &self.verified_size()).finish()
    }
}

impl ContinuedVerification {
    /// How many events the kept state covers (0 with none).
    pub fn verified_size(&self) -> u64 {
        self.kept.as_ref().map_or(0, |kept| kept.state.frontier.size())
    }

    /// The log index of the first envelope that [`ContinuedVerification::verify`] needs for
    /// `header`: the size verified so far, or 0 when the kept state cannot check `header`'s
    /// anchors (see the module's documentation).
    pub fn resumes_at(&self, header: &ExportHeader) -> u64 {
        let Some(kept) = &self.kept else { return 0 };
        let size = kept.state.frontier.size();
        if header.log_key != kept.log_key || header.trust_root != kept.trust_root {
            return 0;
        }
        if header.views.iter().any(|view| view.tree_size < size) {
            return 0;
        }
        let Ok(log_key) = LogVerifierKey::parse_vkey(&header.log_key) else { return 0 };
        for note in &header.checkpoints {
            // One that does not verify is reported by a replay from the start, as ever.
            let Ok(signed) = log_key.verify(note) else { return 0 };
            let checkpoint = signed.checkpoint();
            let known = kept.checkpoints.get(&checkpoint.tree_size);
            if checkpoint.tree_size < size && known != Some(&(checkpoint.root_hash, checkpoint.stream_heads)) {
                return 0;
            }
        }
        size
    }

    /// Verifies the log as [`verify_envelopes`](super::verify_envelopes) would verify `header`
    /// with every envelope, given the envelopes from [`ContinuedVerification::resumes_at`]
    /// (for the same `header`) on. `options` must be the same at every call. After a failure
    /// the next call starts again from the first envelope.
    pub fn verify(
        &mut self,
        header: &ExportHeader,
        envelopes: impl Iterator<Item = Vec<u8>>,
        options: &VerifyOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Report {
        let from = self.resumes_at(header);
        let kept = self.kept.take();
        let (resumed, mut checkpoints) = match kept {
            Some(kept) if from > 0 => (Some(kept.state), kept.checkpoints),
            _ => (None, BTreeMap::new()),
        };
        let (report, state) = replay_events(header, envelopes.map(Ok), 0, options, progress, resumed);
        let (Some(state), None) = (state, &report.first_failure) else { return report };
        // Nothing failed, so every checkpoint of the header verified: none is larger than the
        // log, and each of a size the replay passed had its root and heads checked there, or
        // (below where it resumed) was one verified before.
        let log_key = LogVerifierKey::parse_vkey(&header.log_key).expect("the replay parsed it");
        for note in &header.checkpoints {
            let checkpoint = log_key.verify(note).expect("the replay verified it").checkpoint().clone();
            checkpoints.insert(checkpoint.tree_size, (checkpoint.root_hash, checkpoint.stream_heads));
        }
        self.kept = Some(Kept { state, log_key: header.log_key.clone(), trust_root: header.trust_root, checkpoints });
        report
    }
}
