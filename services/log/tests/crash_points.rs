//! Crash-point enumeration for the embedded store under the log, in the spirit of SQLite's
//! crash tests and the ALICE study.
//!
//! A workload (single appends, batches, segment rolls, checkpoints) runs on a real store. After
//! each operation is acknowledged, every file of the data directory is recorded. Between two
//! recorded states lies one operation; a crash during it can leave any prefix of its file
//! operations on disk, the last of them torn. So for every operation, and every prefix of the
//! files it changed (segments in order, then the files it replaced by rename, which are
//! atomic), with the last segment write torn at several offsets, the test rebuilds the
//! directory, reopens the store and the log, and checks:
//! - every event acknowledged before the operation is there, byte for byte;
//! - the operation's events are there all or not at all, never half-written;
//! - chains and the Merkle tree verify (the log checks them on open), and the root is the one
//!   the events give;
//! - the kept checkpoint is a prefix of the log (the log refuses to open otherwise).

mod common;

use common::*;
use klero_ledger::merkle::MerkleTree;
use klero_log::TransparencyLog;
use klero_store::{EventStore, ExpectedRevision, LogPosition};
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Small segments, so the workload rolls several times.
fn options() -> EmbeddedStoreOptions {
    EmbeddedStoreOptions { segment_bytes_max: 4096, ..Default::default() }
}

type Files = BTreeMap<PathBuf, Vec<u8>>;

/// Every file under `directory`, by relative path.
fn record(directory: &Path) -> Files {
    fn walk(root: &Path, at: &Path, files: &mut Files) {
        for entry in std::fs::read_dir(at).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                files.insert(path.strip_prefix(root).expect("under root").to_path_buf(), bytes);
            }
        }
    }
    let mut files = Files::new();
    walk(directory, directory, &mut files);
    files
}

fn rebuild(directory: &Path, files: &Files) {
    for (path, bytes) in files {
        let path = directory.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

/// One recorded state: the files, and the envelopes acknowledged so far.
struct State {
    files: Files,
    events: Vec<Vec<u8>>,
}

async fn open(directory: &Path) -> Result<(Arc<EmbeddedStore>, TransparencyLog), String> {
    let store = Arc::new(EmbeddedStore::open(directory, options()).await.map_err(|e| e.to_string())?);
    // The leaf file too, as `klero serve` keeps it: derived from the segments, checked on open.
    let config = klero_log::LogConfig { tree_leaves: klero_log::TreeLeaves::in_directory(directory), ..log_config() };
    let log = TransparencyLog::open(store.clone(), config).await.map_err(|e| e.to_string())?;
    Ok((store, log))
}

async fn envelopes(store: &EmbeddedStore) -> Vec<Vec<u8>> {
    store.read_all(LogPosition(0), 10_000).await.expect("read").into_iter().map(|e| e.data).collect()
}

/// The crash states between `before` and `after`: for each prefix of the changed files (in
/// the order the store writes them), the last one torn at several offsets.
fn crash_states(before: &Files, after: &Files) -> Vec<(String, Files)> {
    let mut changed: Vec<&PathBuf> =
        after.keys().chain(before.keys()).filter(|path| before.get(*path) != after.get(*path)).collect();
    changed.sort();
    changed.dedup();
    // Segments and the tree's files are written in place (and may be torn); files replaced by
    // rename (the checkpoint, the snapshot) change whole, after the writes they follow.
    let is_segment = |path: &PathBuf| path.starts_with("segments");
    let is_tree_file = |path: &PathBuf| path.to_string_lossy().starts_with(klero_log::TREE_LEAVES_FILE);
    changed.sort_by_key(|path| (!is_segment(path), !is_tree_file(path), (*path).clone()));
    let mut states = Vec::new();
    // The tree's files are not synced, so a crash may keep the blocks file's new end without
    // the leaf file's.
    let blocks = PathBuf::from(format!("{}.blocks", klero_log::TREE_LEAVES_FILE));
    if let Some(new_blocks) = after.get(&blocks).filter(|bytes| before.get(&blocks) != Some(*bytes)) {
        let mut state = before.clone();
        state.insert(blocks.clone(), new_blocks.clone());
        states.push(("the blocks file written before the leaf file".to_string(), state));
    }
    let mut current = before.clone();
    for path in changed {
        let (old, new) = (before.get(path), after.get(path));
        if is_segment(path) || is_tree_file(path) {
            let old_bytes = old.cloned().unwrap_or_default();
            let new_bytes = new.cloned().unwrap_or_default();
            let first_difference = old_bytes
                .iter()
                .zip(&new_bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(old_bytes.len().min(new_bytes.len()));
            let region = new_bytes.len().saturating_sub(first_difference);
            for torn in [1, 7, region / 2, region.saturating_sub(1)] {
                if torn == 0 || torn >= region {
                    continue;
                }
                // The new bytes up to the tear, the old ones (or nothing) after it.
                let cut = first_difference + torn;
                let mut bytes = new_bytes[..cut].to_vec();
                if old_bytes.len() > cut {
                    bytes.extend_from_slice(&old_bytes[cut..]);
                }
                let mut state = current.clone();
                state.insert(path.clone(), bytes);
                states.push((format!("{} torn after {torn} of {region} new bytes", path.display()), state));
            }
        }
        match new {
            Some(bytes) => current.insert(path.clone(), bytes.clone()),
            None => current.remove(path),
        };
        states.push((format!("{} written", path.display()), current.clone()));
    }
    states
}

/// Operations in each workload.
const WORKLOAD_STEPS: u32 = 40;

/// One operation of the workload: every seventh a checkpoint, every fifth a batch of three,
/// else a single append; on two streams. `n` counts the events appended.
async fn workload_step(log: &TransparencyLog, author: &klero_ledger::SigningKey, step: u32, n: &mut u32) {
    let stream = if step.is_multiple_of(3) { "assembly/a/selection" } else { "assembly/a/deliberation" };
    if step % 7 == 6 {
        log.publish_checkpoint().await.expect("checkpoint");
        // As a server does when it takes a snapshot: the leaves and block hashes go to files.
        log.flush_tree_leaves().expect("flush the tree's files");
    } else if step % 5 == 4 {
        let batch = (0..3).map(|i| signed_event(author, stream, *n + i)).collect();
        log.append_batch(stream, ExpectedRevision::Any, batch, 1_000 + u64::from(step)).await.expect("batch");
        *n += 3;
    } else {
        log.append(signed_event(author, stream, *n), ExpectedRevision::Any, 1_000 + u64::from(step))
            .await
            .expect("append");
        *n += 1;
    }
}

/// Every block hash a start would take from the tree's files after a crash is the hash of that
/// block of the events found (the leaves beyond them are a prefix the store no longer holds,
/// which a start refuses on its own).
fn check_kept_block_hashes(context: &str, kept: &[klero_ledger::Hash256], found: &[Vec<u8>]) {
    let mut tree = klero_ledger::merkle::CompactMerkleTree::new(klero_ledger::merkle::MemoryLeaves::default());
    for envelope in found {
        tree.push_entry(&klero_ledger::envelope::event_hash_of_envelope_bytes(envelope)).expect("push");
    }
    let blocks = (found.len() as u64 / klero_ledger::merkle::LEAVES_PER_BLOCK).min(kept.len() as u64);
    let height = klero_ledger::merkle::LEAVES_PER_BLOCK.trailing_zeros();
    let true_hashes = tree.subtree_hashes(height, 0, blocks).expect("blocks");
    assert_eq!(&kept[..blocks as usize], &true_hashes[..], "{context}: a kept block hash is not its block's");
}

/// The log reopened after a crash: its size and root are those of the events found (chains
/// and the tree were checked on open), and its checkpoint is a prefix of it.
fn check_log_holds(context: &str, log: &TransparencyLog, found: &[Vec<u8>]) {
    let mut tree = MerkleTree::new();
    for envelope in found {
        tree.push_entry(&klero_ledger::envelope::event_hash_of_envelope_bytes(envelope));
    }
    assert_eq!(log.size(), found.len() as u64, "{context}");
    assert_eq!(log.root().expect("root"), tree.root(), "{context}: the log's root is the events'");
    if let Some(checkpoint) = log.latest_checkpoint() {
        assert!(checkpoint.checkpoint().tree_size <= log.size(), "{context}: the checkpoint is a prefix");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_a_workload_keeps_what_was_acknowledged() {
    let work = tempfile::tempdir().expect("temp dir");
    let author = key("author");
    let mut states = Vec::new();
    {
        let (store, log) = open(work.path()).await.expect("open");
        states.push(State { files: record(work.path()), events: Vec::new() });
        let mut n = 0u32;
        for step in 0..WORKLOAD_STEPS {
            workload_step(&log, &author, step, &mut n).await;
            states.push(State { files: record(work.path()), events: envelopes(&store).await });
        }
        let segments = states.last().expect("states").files.keys().filter(|p| p.starts_with("segments")).count();
        assert!(segments >= 3, "the workload rolled segments ({segments} segments)");
        store.close().await;
    }

    let mut crash_points = 0;
    let mut blocks_kept = 0;
    let mut files_changed = std::collections::BTreeSet::new();
    for (operation, pair) in states.windows(2).enumerate() {
        let (before, after) = (&pair[0], &pair[1]);
        for (path, bytes) in &after.files {
            if before.files.get(path) != Some(bytes) {
                files_changed.insert(path.clone());
            }
        }
        for (what, files) in crash_states(&before.files, &after.files) {
            let directory = tempfile::tempdir().expect("temp dir");
            rebuild(directory.path(), &files);
            let context = format!("crash during operation {operation}, {what}");
            // What a start with a snapshot would take from the tree's files, before the log
            // (opened here without one) rewrites them.
            let kept = {
                let leaves = klero_log::FileLeaves::open(directory.path().join(klero_log::TREE_LEAVES_FILE), u64::MAX)
                    .expect("the tree's files open");
                klero_ledger::merkle::LeafStorage::kept_block_hashes(&leaves, u64::MAX)
            };
            blocks_kept += kept.len();
            let (store, log) = open(directory.path()).await.unwrap_or_else(|e| panic!("{context}: does not open: {e}"));
            let found = envelopes(&store).await;
            assert!(
                found == before.events || found == after.events,
                "{context}: {} events, where {} were acknowledged before and {} after: half an append, or a lost one",
                found.len(),
                before.events.len(),
                after.events.len()
            );
            check_log_holds(&context, &log, &found);
            check_kept_block_hashes(&context, &kept, &found);
            store.close().await;
            crash_points += 1;
        }
    }
    println!(
        "{crash_points} crash points enumerated over {} operations, in {files_changed:?}; every invariant held",
        states.len() - 1
    );
    assert!(files_changed.iter().any(|p| p.ends_with("checkpoint")), "checkpoint writes are among the crash points");
    assert!(blocks_kept > 0, "crash states kept block hashes");
    assert!(crash_points >= 100, "only {crash_points} crash points");
}

/// Crash points from the file operations themselves: the store makes every change to the disk
/// through its file-operation layer (`klero_store_embedded::disk`), which records each one with
/// what it wrote. A crash can leave any prefix of those operations done, the last write torn;
/// so for every prefix, and every write cut at several offsets, the directory is rebuilt by
/// replaying the operations from nothing, the store and the log are opened on it, and the
/// invariants above are checked against what had been acknowledged when the crash came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_file_operation_is_a_crash_point() {
    use klero_store_embedded::disk::{Disk, FaultyDisk, RecordedOperation};
    let work = tempfile::tempdir().expect("temp dir");
    let disk = FaultyDisk::recording();
    let author = key("author");
    // After each acknowledgement: how many operations had been made, and the events then
    // acknowledged. An append is acknowledged only after its sync, so a crash after the
    // first `operations` operations keeps at least those events.
    let mut acknowledged: Vec<(usize, usize)> = vec![(0, 0)];
    let events = {
        let options = EmbeddedStoreOptions { disk: Disk::with_hook(disk.clone()), ..options() };
        let store = Arc::new(EmbeddedStore::open(work.path(), options).await.expect("open"));
        let config = klero_log::LogConfig { tree_leaves: klero_log::TreeLeaves::Memory, ..log_config() };
        let log = TransparencyLog::open(store.clone(), config).await.expect("log");
        let mut n = 0u32;
        for step in 0..WORKLOAD_STEPS {
            workload_step(&log, &author, step, &mut n).await;
            acknowledged.push((disk.recorded().len(), n as usize));
        }
        let events = envelopes(&store).await;
        store.close().await;
        events
    };
    let operations = disk.recorded();
    let append_ends: std::collections::BTreeSet<usize> = acknowledged.iter().map(|(_, count)| *count).collect();
    let kinds: std::collections::BTreeSet<&str> = operations
        .iter()
        .map(|operation| match operation {
            RecordedOperation::Write { .. } => "write",
            RecordedOperation::SyncData { .. } => "fdatasync",
            RecordedOperation::SyncAll { .. } => "fsync",
            RecordedOperation::Rename { .. } => "rename",
            RecordedOperation::SetLength { .. } => "truncate",
            RecordedOperation::CreateFile { .. } => "create",
            RecordedOperation::CreateDirectory { .. } => "mkdir",
            RecordedOperation::SyncDirectory { .. } => "directory sync",
            RecordedOperation::Remove { .. } => "remove",
        })
        .collect();

    // `done` holds the operations before the crash, replayed one at a time.
    let done = tempfile::tempdir().expect("temp dir");
    let mut crash_points = 0;
    for (crashed_at, operation) in operations.iter().enumerate().chain([(operations.len(), &operations[0])]) {
        let kept_at_least =
            acknowledged.iter().filter(|(made, _)| *made <= crashed_at).map(|(_, n)| *n).max().unwrap_or(0);
        let mut tears = vec![None];
        if let (RecordedOperation::Write { bytes, .. }, true) = (operation, crashed_at < operations.len()) {
            tears.extend(
                [1, 7, bytes.len() / 2, bytes.len().saturating_sub(1)]
                    .into_iter()
                    .filter(|t| *t > 0 && *t < bytes.len())
                    .map(Some),
            );
        }
        for torn in tears {
            let directory = tempfile::tempdir().expect("temp dir");
            rebuild(directory.path(), &record(done.path()));
            let what = match torn {
                Some(torn) => {
                    operation.replay(work.path(), directory.path(), Some(torn)).expect("replay torn");
                    format!("after {crashed_at} operations, with {operation:?} torn after {torn} bytes")
                        .chars()
                        .take(200)
                        .collect::<String>()
                }
                None => format!("after {crashed_at} operations"),
            };
            let (store, log) =
                open(directory.path()).await.unwrap_or_else(|e| panic!("crash {what}: does not open: {e}"));
            let found = envelopes(&store).await;
            assert!(found.len() >= kept_at_least, "crash {what}: {} events, {kept_at_least} acknowledged", found.len());
            assert!(append_ends.contains(&found.len()), "crash {what}: {} events is half an append", found.len());
            assert_eq!(found[..], events[..found.len()], "crash {what}: the events are not the ones appended");
            check_log_holds(&format!("crash {what}"), &log, &found);
            store.close().await;
            crash_points += 1;
        }
        if crashed_at < operations.len() {
            operation.replay(work.path(), done.path(), None).expect("replay");
        }
    }
    println!(
        "{crash_points} crash points from {} recorded file operations ({kinds:?}); every invariant held",
        operations.len()
    );
    for kind in ["write", "fdatasync", "fsync", "rename", "truncate", "create", "directory sync"] {
        assert!(kinds.contains(kind), "the workload made no {kind}");
    }
    assert!(crash_points > operations.len(), "torn writes are among the crash points");
}
