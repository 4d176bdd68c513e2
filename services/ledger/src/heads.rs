//! The stream-heads commitment (FORMAT.md §4.1): with each checkpoint, the log signs the root
//! of an RFC 6962 tree whose leaves are every stream's head at that size, sorted by name.
//!
//! A stream's hash chain proves its past but not its tail: a server could leave out a stream's
//! newest events, or a whole stream, and every chain that remains would still check. The heads
//! tree closes that gap. A reader who is given the leaves of a name range, with their batch
//! inclusion proof and the leaves just outside the range, knows every stream in the range and
//! each one's last revision and event hash at the checkpoint; the chains then prove every
//! event before each head. Monitors recompute the tree from the log (it is a function of the
//! log's prefix) and compare it with every checkpoint they see.

use crate::hash::Hash256;
use crate::merkle::{self, MerkleTree, ProofError};
use std::cmp::Ordering;

/// The domain separation of a leaf's entry.
pub const STREAM_HEAD_DOMAIN: &[u8] = b"klero-stream-head/v1\0";
/// The longest stream name (FORMAT.md §1).
const STREAM_BYTES_MAX: usize = 200;

/// One stream's head at a checkpoint: its last event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHead {
    pub stream: String,
    /// The revision of its last event (0 for a stream of one event).
    pub revision: u64,
    /// The event hash (FORMAT.md §2.4) of its last event.
    pub head_hash: Hash256,
}

impl StreamHead {
    /// The leaf's entry: `"klero-stream-head/v1" 0x00 | bytes16(stream) | u64 revision | hash`.
    pub fn entry(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STREAM_HEAD_DOMAIN.len() + 2 + self.stream.len() + 40);
        out.extend_from_slice(STREAM_HEAD_DOMAIN);
        out.extend_from_slice(&(self.stream.len() as u16).to_be_bytes());
        out.extend_from_slice(self.stream.as_bytes());
        out.extend_from_slice(&self.revision.to_be_bytes());
        out.extend_from_slice(&self.head_hash.0);
        out
    }

    /// Parses a leaf's entry, refusing anything [`StreamHead::entry`] would not write.
    pub fn parse_entry(bytes: &[u8]) -> Result<StreamHead, HeadsError> {
        let malformed = |reason: &'static str| HeadsError::MalformedLeaf { reason };
        let rest =
            bytes.strip_prefix(STREAM_HEAD_DOMAIN).ok_or(malformed("the leaf's domain is not klero-stream-head/v1"))?;
        let length =
            u16::from_be_bytes(rest.get(..2).ok_or(malformed("the leaf ends early"))?.try_into().unwrap_or([0; 2]));
        let rest = &rest[2..];
        if rest.len() != length as usize + 40 {
            return Err(malformed("the leaf's length does not match its stream name"));
        }
        let stream =
            std::str::from_utf8(&rest[..length as usize]).map_err(|_| malformed("the stream name is not UTF-8"))?;
        if !is_stream_name(stream) {
            return Err(malformed("the stream name breaks FORMAT.md §1"));
        }
        let revision = u64::from_be_bytes(rest[length as usize..length as usize + 8].try_into().unwrap_or([0; 8]));
        let head_hash = Hash256(rest[length as usize + 8..].try_into().unwrap_or([0; 32]));
        Ok(StreamHead { stream: stream.to_string(), revision, head_hash })
    }

    /// The leaf hash this head has in the tree.
    pub fn leaf_hash(&self) -> Hash256 {
        merkle::leaf_hash(&self.entry())
    }
}

/// FORMAT.md §1's stream names: 1–200 bytes of `A–Z a–z 0–9 - _ . : /`, the first a letter or
/// digit.
pub fn is_stream_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= STREAM_BYTES_MAX
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

/// The order of the leaves: stream names compared segment by segment (split at `/`), each
/// segment by its bytes. It is byte order once every `/` is read as 0x00, so a stream sorts
/// directly before the streams under it: `assembly/a`, `assembly/a/response`, `assembly/a-2`.
pub fn sort_key(stream: &str) -> Vec<u8> {
    stream.bytes().map(|b| if b == b'/' { 0 } else { b }).collect()
}

/// Compares two stream names in the leaves' order.
pub fn stream_order(a: &str, b: &str) -> Ordering {
    a.bytes().map(|b| if b == b'/' { 0 } else { b }).cmp(b.bytes().map(|b| if b == b'/' { 0 } else { b }))
}

/// What a checkpoint signs about the heads: how many streams, and the tree's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeadsCommitment {
    pub count: u64,
    pub root: Hash256,
}

/// A set of streams by name, in the leaves' order: `[low, high)` over [`sort_key`]s, `high`
/// unbounded when `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRange {
    low: Vec<u8>,
    high: Option<Vec<u8>>,
}

impl StreamRange {
    /// One stream, exactly.
    pub fn exact(stream: &str) -> StreamRange {
        let low = sort_key(stream);
        let mut high = low.clone();
        high.push(0);
        // Names never hold 0x00; the first key after `stream` is `stream` then 0x00, which is a
        // stream under it, so the range ends just before: `[key, key 0x00)`.
        StreamRange { low, high: Some(high) }
    }

    /// A stream and every stream under it (`s`, `s/…`).
    pub fn subtree(stream: &str) -> StreamRange {
        let low = sort_key(stream);
        let mut high = low.clone();
        // Under `s` means `s` 0x00 …; every other name that starts with `s` continues with a
        // byte above 0x01 (names hold no control bytes).
        high.push(1);
        StreamRange { low, high: Some(high) }
    }

    /// Every stream whose name starts with `prefix`, which ends with a byte other than `/`
    /// (e.g. `assembly/north.`: a council's assemblies and every stream under them). Its keys
    /// are those from `key(prefix)` to `key(prefix)` with its last byte raised by one.
    pub fn name_prefix(prefix: &str) -> StreamRange {
        let low = sort_key(prefix);
        let mut high = low.clone();
        if let Some(last) = high.last_mut() {
            *last = last.saturating_add(1);
        }
        StreamRange { low, high: Some(high) }
    }

    /// Every stream under `parent` (`parent/…`, not `parent` itself) whose key is above every
    /// stream of the subtree `after` (when given): one page of a listing.
    pub fn children_after(parent: &str, after: Option<&str>) -> StreamRange {
        let mut low = sort_key(parent);
        low.push(0);
        let mut high = sort_key(parent);
        high.push(1);
        if let Some(after) = after {
            let mut after_subtree = sort_key(after);
            after_subtree.push(1);
            low = low.max(after_subtree);
        }
        StreamRange { low, high: Some(high) }
    }

    /// The same range ending before `stream` (exclusive): a page that stops where the next
    /// page starts.
    pub fn ending_before(&self, stream: &str) -> StreamRange {
        let end = sort_key(stream);
        let high = match &self.high {
            Some(high) if *high <= end => high.clone(),
            _ => end,
        };
        StreamRange { low: self.low.clone(), high: Some(high) }
    }

    pub fn contains(&self, stream: &str) -> bool {
        let key = sort_key(stream);
        key >= self.low && self.high.as_ref().is_none_or(|high| key < *high)
    }

    /// Whether every name of the range sorts before `stream`.
    fn all_before(&self, stream: &str) -> bool {
        self.high.as_ref().is_some_and(|high| sort_key(stream) >= *high)
    }
}

/// The heads tree of one checkpoint: the leaves in order, and their RFC 6962 tree.
#[derive(Clone, Debug, Default)]
pub struct HeadsTree {
    heads: Vec<StreamHead>,
    tree: MerkleTree,
}

/// Leaves and proof for some ranges of a [`HeadsTree`]: every leaf in each range, and the
/// leaves just outside it that show nothing was skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadsProof {
    /// (position in the tree, head), ascending by position.
    pub leaves: Vec<(u64, StreamHead)>,
    /// The batch inclusion proof of those positions (FORMAT.md §3.1).
    pub proof: Vec<Hash256>,
}

impl HeadsTree {
    /// The tree over `heads`, which it sorts. Two heads of one stream are a caller's bug.
    pub fn build(heads: impl IntoIterator<Item = StreamHead>) -> HeadsTree {
        let mut heads: Vec<StreamHead> = heads.into_iter().collect();
        heads.sort_by(|a, b| stream_order(&a.stream, &b.stream));
        assert!(
            heads.windows(2).all(|pair| pair[0].stream != pair[1].stream),
            "a stream has one head in the heads tree"
        );
        let mut tree = MerkleTree::new();
        for head in &heads {
            tree.push_leaf_hash(head.leaf_hash());
        }
        HeadsTree { heads, tree }
    }

    pub fn commitment(&self) -> StreamHeadsCommitment {
        StreamHeadsCommitment { count: self.heads.len() as u64, root: self.tree.root() }
    }

    pub fn heads(&self) -> &[StreamHead] {
        &self.heads
    }

    /// The head of `stream`, if it has events.
    pub fn head(&self, stream: &str) -> Option<&StreamHead> {
        self.heads.binary_search_by(|head| stream_order(&head.stream, stream)).ok().map(|at| &self.heads[at])
    }

    /// The positions of the leaves in `range`.
    pub fn positions(&self, range: &StreamRange) -> std::ops::Range<usize> {
        let start = self.heads.partition_point(|head| sort_key(&head.stream) < range.low);
        let end = match &range.high {
            Some(high) => self.heads.partition_point(|head| sort_key(&head.stream) < *high),
            None => self.heads.len(),
        };
        start..end.max(start)
    }

    /// The leaves at `positions` (strictly increasing), and one proof for all of them.
    pub fn prove_positions(&self, positions: &[u64]) -> HeadsProof {
        let proof = self
            .tree
            .batch_inclusion_proof(positions, self.heads.len() as u64)
            .expect("positions are in the tree and increasing");
        HeadsProof { leaves: positions.iter().map(|p| (*p, self.heads[*p as usize].clone())).collect(), proof }
    }

    /// The leaves of `ranges`, with their neighbours, and one proof for all of them.
    pub fn prove(&self, ranges: &[StreamRange]) -> HeadsProof {
        let mut positions = std::collections::BTreeSet::new();
        for range in ranges {
            let inside = self.positions(range);
            positions.extend(inside.clone());
            if inside.start > 0 {
                positions.insert(inside.start - 1);
            }
            if inside.end < self.heads.len() {
                positions.insert(inside.end);
            }
        }
        let indices: Vec<u64> = positions.iter().map(|p| *p as u64).collect();
        let proof =
            self.tree.batch_inclusion_proof(&indices, self.heads.len() as u64).expect("positions come from the tree");
        HeadsProof { leaves: positions.into_iter().map(|p| (p as u64, self.heads[p].clone())).collect(), proof }
    }
}

/// Checks `proof` against a signed commitment and returns, for each range, every head in it:
/// complete, because the leaves just outside each range are in the proof too.
pub fn verify_heads(
    commitment: &StreamHeadsCommitment,
    proof: &HeadsProof,
    ranges: &[StreamRange],
) -> Result<Vec<Vec<StreamHead>>, HeadsError> {
    let leaves: Vec<(u64, Hash256)> = proof.leaves.iter().map(|(p, head)| (*p, head.leaf_hash())).collect();
    merkle::verify_batch_inclusion(commitment.count, &leaves, &proof.proof, &commitment.root)
        .map_err(HeadsError::Proof)?;
    // The log sorts its leaves; the proof must not show two out of order (a verified tree that
    // is not sorted is the log's lie, which this catches where it shows).
    for pair in proof.leaves.windows(2) {
        if stream_order(&pair[0].1.stream, &pair[1].1.stream) != Ordering::Less {
            return Err(HeadsError::Unsorted { stream: pair[1].1.stream.clone() });
        }
    }
    ranges.iter().map(|range| range_complete(&proof.leaves, commitment.count, range)).collect()
}

/// Every head of `range` among `leaves` (verified leaves of a tree of `count`, ascending by
/// position), if the leaves show the range whole: its leaves at consecutive positions, and the
/// leaf on each side of them (or the tree's end).
pub fn range_complete(
    leaves: &[(u64, StreamHead)],
    count: u64,
    range: &StreamRange,
) -> Result<Vec<StreamHead>, HeadsError> {
    let at = |position: u64| leaves.binary_search_by_key(&position, |(p, _)| *p).ok();
    let inside: Vec<&(u64, StreamHead)> = leaves.iter().filter(|(_, head)| range.contains(&head.stream)).collect();
    match (inside.first(), inside.last()) {
        (Some((first, _)), Some((last, _))) => {
            if last - first + 1 != inside.len() as u64 {
                return Err(HeadsError::Incomplete { reason: "the leaves of a range are not consecutive" });
            }
            // Listed neighbours are outside the range (else they would be inside), and by the
            // sorted order on its proper side.
            if *first > 0 && at(first - 1).is_none() {
                return Err(HeadsError::Incomplete { reason: "the leaf before a range is missing" });
            }
            if *last + 1 < count && at(last + 1).is_none() {
                return Err(HeadsError::Incomplete { reason: "the leaf after a range is missing" });
            }
        }
        _ => {
            // No stream in the range: two consecutive leaves must straddle it, or one leaf at
            // an end of the tree.
            let straddled = count == 0 || {
                let first_after = leaves.iter().find(|(_, head)| range.all_before(&head.stream));
                match first_after {
                    Some((0, _)) => true,
                    Some((position, _)) => at(position - 1).is_some(),
                    None => at(count - 1).is_some(),
                }
            };
            if !straddled {
                return Err(HeadsError::Incomplete { reason: "no leaves show that the range holds no stream" });
            }
        }
    }
    Ok(inside.into_iter().map(|(_, head)| head.clone()).collect())
}

/// Why stream heads did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadsError {
    #[error("a stream-heads leaf is malformed: {reason}")]
    MalformedLeaf { reason: &'static str },
    #[error("the stream heads' proof does not verify: {0}")]
    Proof(ProofError),
    #[error("the stream heads are not in order at {stream}")]
    Unsorted { stream: String },
    #[error("the stream heads do not show a whole range: {reason}")]
    Incomplete { reason: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(stream: &str, revision: u64) -> StreamHead {
        StreamHead { stream: stream.into(), revision, head_hash: Hash256::of(stream.as_bytes()) }
    }

    #[test]
    fn a_stream_sorts_directly_before_the_streams_under_it() {
        let tree = HeadsTree::build(
            ["assembly/a-2", "assembly/a/response", "registry", "assembly/a", "assembly/a/deliberation", "assembly/b"]
                .map(|s| head(s, 0)),
        );
        let names: Vec<&str> = tree.heads().iter().map(|h| h.stream.as_str()).collect();
        assert_eq!(
            names,
            ["assembly/a", "assembly/a/deliberation", "assembly/a/response", "assembly/a-2", "assembly/b", "registry"]
        );
        assert_eq!(tree.positions(&StreamRange::subtree("assembly/a")), 0..3);
        assert_eq!(tree.positions(&StreamRange::exact("assembly/a")), 0..1);
        assert_eq!(tree.positions(&StreamRange::exact("assembly/a-")), 3..3);
        assert_eq!(tree.positions(&StreamRange::children_after("assembly", Some("assembly/a"))), 3..5);
    }

    #[test]
    fn entries_round_trip_and_refuse_what_is_not_written() {
        let h = head("assembly/x/response", 7);
        assert_eq!(StreamHead::parse_entry(&h.entry()), Ok(h.clone()));
        let mut longer = h.entry();
        longer.push(0);
        assert!(StreamHead::parse_entry(&longer).is_err());
        assert!(StreamHead::parse_entry(&head("$all", 0).entry()).is_err());
    }
}
