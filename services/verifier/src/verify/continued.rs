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

use super::{replay_events, spill_files, ReplayState, Report, VerifyOptions};
use crate::export::ExportHeader;
use klero_domain::spill::DistinctKeys;
use klero_domain::TableName;
use klero_fold::LogFold;
use klero_ledger::chain::StreamChainChecker;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::heads::StreamHeadsCommitment;
use klero_ledger::merkle::Frontier;
use klero_ledger::Hash256;
use std::collections::{BTreeMap, HashSet};

/// Checkpoints kept, the largest sizes: a smaller one comes back only as a witness's old
/// checkpoint, which then costs a replay from the start.
const CHECKPOINTS_KEPT: usize = 256;

/// The first line of [`ContinuedVerification::save`]'s bytes.
const SAVED_MAGIC: &[u8] = b"klero continued verification v1\n";

/// See the module's documentation.
#[derive(Default)]
pub struct ContinuedVerification {
    kept: Option<Kept>,
}

struct Kept {
    state: ReplayState,
    log_key: String,
    trust_root: [u8; 32],
    /// The checkpoints verified so far (the [`CHECKPOINTS_KEPT`] largest), by size: each
    /// one's root and stream heads, and its note.
    checkpoints: BTreeMap<u64, VerifiedCheckpoint>,
}

struct VerifiedCheckpoint {
    root: Hash256,
    stream_heads: Option<StreamHeadsCommitment>,
    note: String,
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
            let known = kept.checkpoints.get(&checkpoint.tree_size).map(|known| (known.root, known.stream_heads));
            if checkpoint.tree_size < size && known != Some((checkpoint.root_hash, checkpoint.stream_heads)) {
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
            let verified = VerifiedCheckpoint {
                root: checkpoint.root_hash,
                stream_heads: checkpoint.stream_heads,
                note: note.clone(),
            };
            checkpoints.insert(checkpoint.tree_size, verified);
        }
        while checkpoints.len() > CHECKPOINTS_KEPT {
            checkpoints.pop_first();
        }
        self.kept = Some(Kept { state, log_key: header.log_key.clone(), trust_root: header.trust_root, checkpoints });
        report
    }

    /// The kept state as bytes, for the same follower to take up after a restart
    /// ([`ContinuedVerification::load`]); `None` with none kept. Not a published format: only
    /// a follower reads what it wrote itself, and the bytes end with their own SHA-256.
    pub fn save(&mut self) -> Option<Vec<u8>> {
        let kept = self.kept.as_mut()?;
        let state = &mut kept.state;
        let mut out = SAVED_MAGIC.to_vec();
        put_bytes(&mut out, kept.log_key.as_bytes());
        out.extend_from_slice(&kept.trust_root);
        put_u64(&mut out, kept.checkpoints.len() as u64);
        for verified in kept.checkpoints.values() {
            put_bytes(&mut out, verified.note.as_bytes());
        }
        put_u64(&mut out, state.frontier.size());
        for subtree in state.frontier.subtrees() {
            out.extend_from_slice(&subtree.0);
        }
        put_u64(&mut out, state.anchored_size);
        let heads = state.chains.heads();
        put_u64(&mut out, heads.len() as u64);
        for (stream, next, last) in heads {
            put_bytes(&mut out, stream.as_bytes());
            put_u64(&mut out, next);
            out.extend_from_slice(&last.0);
        }
        put_bytes(&mut out, &state.event_ids.keys());
        put_bytes(&mut out, &state.fold.to_snapshot());
        let tables = state.fold.table_heads();
        for table in TableName::ALL {
            put_bytes(&mut out, &state.fold.kept_rows(table, 0, tables.rows(table)));
        }
        let digest = Hash256::of(&out);
        out.extend_from_slice(&digest.0);
        Some(out)
    }

    /// Takes up [`ContinuedVerification::save`]'s bytes for a log with this key and trust
    /// root. The tree's edge and the stream heads must be those of a checkpoint the log key
    /// signed, of the size the state covers; the rest (the fold, the ids) is the follower's
    /// own, checked against its digest only. `options` as every later call's.
    pub fn load(
        bytes: &[u8],
        log_key: &LogVerifierKey,
        trust_root: [u8; 32],
        options: &VerifyOptions,
    ) -> Result<ContinuedVerification, String> {
        let (body, digest) = bytes.split_at_checked(bytes.len().wrapping_sub(32)).ok_or("too short")?;
        if Hash256::of(body).0[..] != digest[..] {
            return Err("its digest does not match: the file was damaged".into());
        }
        let mut reader = Reader { bytes: body.strip_prefix(SAVED_MAGIC).ok_or("not a saved verification")? };
        if reader.bytes_field()? != log_key.to_vkey_string().as_bytes() || reader.take(32)? != trust_root {
            return Err("saved for another log key or trust root".into());
        }
        let mut checkpoints = BTreeMap::new();
        for _ in 0..reader.u64()? {
            let note = String::from_utf8(reader.bytes_field()?.to_vec()).map_err(|e| e.to_string())?;
            let signed = log_key.verify(&note).map_err(|e| format!("a saved checkpoint: {e}"))?;
            let checkpoint = signed.checkpoint();
            let verified =
                VerifiedCheckpoint { root: checkpoint.root_hash, stream_heads: checkpoint.stream_heads, note };
            checkpoints.insert(checkpoint.tree_size, verified);
        }
        let size = reader.u64()?;
        let subtrees = (0..size.count_ones()).map(|_| reader.hash()).collect::<Result<Vec<_>, _>>()?;
        let frontier = Frontier::from_parts(size, subtrees).ok_or("a tree edge that does not fit its size")?;
        let anchored_size = reader.u64()?;
        let mut heads = Vec::new();
        for _ in 0..reader.u64()? {
            let stream = String::from_utf8(reader.bytes_field()?.to_vec()).map_err(|e| e.to_string())?;
            heads.push((stream, reader.u64()?, reader.hash()?));
        }
        let streams: HashSet<String> = heads.iter().map(|(stream, _, _)| stream.clone()).collect();
        let chains = StreamChainChecker::from_heads(heads);
        // Only what a signed checkpoint of this very size vouches for is taken up.
        let anchor = checkpoints.get(&size).ok_or("no saved checkpoint of the size the state covers")?;
        if anchor.root != frontier.root() {
            return Err(format!("the tree edge's root is not the signed checkpoint's of size {size}"));
        }
        if anchor.stream_heads.is_some_and(|heads| heads != chains.heads_tree().commitment()) {
            return Err(format!("the stream heads are not the signed checkpoint's of size {size}"));
        }
        let files = spill_files(options);
        let mut event_ids = DistinctKeys::new(files.clone(), 16);
        let ids = reader.bytes_field()?;
        if Some(ids.len() as u64) != size.checked_mul(16) {
            return Err("event ids that do not count the state's events".into());
        }
        for id in ids.chunks_exact(16) {
            event_ids.push(id).map_err(|_| "too many event ids")?;
        }
        let spill = options.table_spill.as_ref().map(|_| files);
        let (mut fold, tables) = LogFold::from_snapshot_text(reader.bytes_field()?, spill)?;
        for table in TableName::ALL {
            fold.take_up_rows(table, reader.bytes_field()?)?;
        }
        fold.check_table_heads(&tables)?;
        if fold.next_log_index() != size || !reader.bytes.is_empty() {
            return Err("a fold of another size, or bytes after it".into());
        }
        let state = ReplayState { chains, streams, event_ids, frontier, fold, anchored_size };
        let log_key = log_key.to_vkey_string();
        Ok(ContinuedVerification { kept: Some(Kept { state, log_key, trust_root, checkpoints }) })
    }
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads [`ContinuedVerification::save`]'s fields in order.
struct Reader<'b> {
    bytes: &'b [u8],
}

impl<'b> Reader<'b> {
    fn take(&mut self, count: usize) -> Result<&'b [u8], String> {
        let (taken, rest) = self.bytes.split_at_checked(count).ok_or("cut short")?;
        self.bytes = rest;
        Ok(taken)
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn hash(&mut self) -> Result<Hash256, String> {
        Ok(Hash256(self.take(32)?.try_into().expect("32 bytes")))
    }

    fn bytes_field(&mut self) -> Result<&'b [u8], String> {
        let length = usize::try_from(self.u64()?).map_err(|e| e.to_string())?;
        self.take(length)
    }
}
