//! The KurrentDB store adapter: the store port ([`klero_store::EventStore`]) on KurrentDB.
//!
//! **Not run against a KurrentDB server here.** KurrentDB is a .NET server shipped as container
//! images, and the project's machines can run neither. The adapter compiles behind the
//! `kurrentdb` feature (off by default, so the default build stays lean); the mapping below is
//! unit-tested; the conformance suite runs against a real node when `KURRENTDB_URL` is set
//! (`cargo test -p klero-store-kurrentdb --features kurrentdb`), and has never run.
//!
//! How the port maps onto KurrentDB:
//! - **Streams and revisions** are KurrentDB's own; an expected revision is a `StreamState`
//!   ([`expected_state`]), so KurrentDB enforces it.
//! - **Positions.** KurrentDB's `$all` positions are byte offsets `(commit, prepare)`, not dense:
//!   the adapter uses the prepare position ([`log_position`]), which grows strictly in `$all`
//!   order, and says so (`positions_are_dense` is false, as the port allows). A read from a
//!   position starts at `(p, p)` and drops what lies before `p` ([`keep_from`]).
//! - **Event ids for the life of the log.** KurrentDB checks ids only within a recent window,
//!   and has no index by id. The adapter keeps one in memory, built from `$all` when it connects
//!   and kept current by a catch-up subscription (as the embedded store keeps its id map), and
//!   decides retries and reused ids against it before it appends. With several adapters writing
//!   one node, two could append the same new id at once; run one writer.
//! - **Checkpoint, snapshot and documents** are events in streams of their own
//!   (`klero-kept-checkpoint`, `klero-kept-snapshot`, `klero-document-<sha256>`), excluded from
//!   the log the port serves; the latest event of each is what is kept. A document's deletion
//!   is a tombstone of its stream.

use klero_store::{ExpectedRevision, LogPosition};

/// KurrentDB's expected stream state, as the port's expected revision maps onto it. (The same
/// four cases as `kurrentdb::StreamState`, here so that the mapping is tested without the
/// client.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedState {
    Any,
    NoStream,
    StreamExists,
    Revision(u64),
}

/// The port's expected revision as KurrentDB's expected stream state.
pub fn expected_state(expected: ExpectedRevision) -> ExpectedState {
    match expected {
        ExpectedRevision::Any => ExpectedState::Any,
        ExpectedRevision::NoStream => ExpectedState::NoStream,
        ExpectedRevision::StreamExists => ExpectedState::StreamExists,
        ExpectedRevision::Exact(revision) => ExpectedState::Revision(revision),
    }
}

/// The port's position of an event at KurrentDB's `(commit, prepare)`: the prepare position,
/// which orders `$all` now that KurrentDB has no explicit transactions.
pub fn log_position(_commit: u64, prepare: u64) -> LogPosition {
    LogPosition(prepare)
}

/// Where a read of `$all` from the port's `from` starts in KurrentDB: `(from, from)`. KurrentDB
/// orders by commit, then prepare, so the read may return events of the same commit that lie
/// before `from`: [`keep_from`] drops them.
pub fn read_start(from: LogPosition) -> (u64, u64) {
    (from.0, from.0)
}

/// Whether an event read from `$all` belongs to a read from `from` (inclusive).
pub fn keep_from(from: LogPosition, prepare: u64) -> bool {
    prepare >= from.0
}

/// Streams the adapter keeps beside the log; they are not part of the log the port serves.
pub const KEPT_PREFIX: &str = "klero-kept-";
pub const DOCUMENT_PREFIX: &str = "klero-document-";

/// Whether a stream of `$all` is part of the log: not KurrentDB's own (`$…`) and not what the
/// adapter keeps beside it.
pub fn is_log_stream(stream: &str) -> bool {
    !stream.starts_with('$') && !stream.starts_with(KEPT_PREFIX) && !stream.starts_with(DOCUMENT_PREFIX)
}

/// The stream a document is kept in.
pub fn document_stream(sha256: &[u8; 32]) -> String {
    format!("{DOCUMENT_PREFIX}{}", klero_ledger::hash::to_hex(sha256))
}

#[cfg(feature = "kurrentdb")]
pub mod adapter;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_revisions_map_onto_stream_states() {
        assert_eq!(expected_state(ExpectedRevision::Any), ExpectedState::Any);
        assert_eq!(expected_state(ExpectedRevision::NoStream), ExpectedState::NoStream);
        assert_eq!(expected_state(ExpectedRevision::StreamExists), ExpectedState::StreamExists);
        assert_eq!(expected_state(ExpectedRevision::Exact(7)), ExpectedState::Revision(7));
    }

    #[test]
    fn positions_follow_the_prepare_offset_and_reads_start_inclusive() {
        assert_eq!(log_position(900, 640), LogPosition(640));
        assert_eq!(read_start(LogPosition(640)), (640, 640));
        // An event of the same commit before the start is dropped; the start itself is kept.
        assert!(!keep_from(LogPosition(640), 600));
        assert!(keep_from(LogPosition(640), 640));
        assert!(keep_from(LogPosition(640), 700));
    }

    #[test]
    fn only_the_log_s_streams_are_served() {
        assert!(is_log_stream("assembly/camden-2026/selection"));
        assert!(!is_log_stream("$stats-127.0.0.1:2113"));
        assert!(!is_log_stream("klero-kept-checkpoint"));
        assert!(!is_log_stream(&document_stream(&[7; 32])));
        assert_eq!(document_stream(&[0xab; 32]), format!("klero-document-{}", "ab".repeat(32)));
    }
}
