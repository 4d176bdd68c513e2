//! Durability and recovery of the embedded store: reopen, torn tails, and corruption.

use klero_store::*;
use klero_store_conformance::test_event;
use klero_store_embedded::segment::{segment_file_name, SEGMENT_HEADER};
use klero_store_embedded::*;
use std::path::{Path, PathBuf};

fn small_segments() -> EmbeddedStoreOptions {
    EmbeddedStoreOptions { segment_bytes_max: 8 * 1024, ..Default::default() }
}

/// Appends `count` single-event appends, spread over three streams, and closes the store.
async fn fill(directory: &Path, count: u32) -> Vec<RecordedEvent> {
    let store = EmbeddedStore::open(directory, small_segments()).await.expect("open");
    for n in 0..count {
        store
            .append(&format!("stream-{}", n % 3), ExpectedRevision::Any, vec![test_event(1, n)])
            .await
            .expect("append");
    }
    let all = store.read_all(LogPosition::START, 10_000).await.expect("read");
    store.close().await;
    all
}

fn segments(directory: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(directory.join("segments")).expect("dir").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    paths
}

/// Where a segment's records end. The active segment has zeros written ahead after them.
fn records_end(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("read");
    let mut at = SEGMENT_HEADER.len();
    while let Ok((_, length)) = klero_store_embedded::segment::decode_record(&bytes[at..], 1 << 24) {
        at += length;
    }
    at as u64
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[offset as usize] ^= 0x40;
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test]
async fn reopening_keeps_every_event_and_the_stream_index() {
    let directory = tempfile::tempdir().expect("temp dir");
    let before = fill(directory.path(), 100).await;
    assert!(segments(directory.path()).len() > 2, "the test crosses segment boundaries");
    let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("reopen");
    assert_eq!(store.recovery_report().events, 100);
    // The zeros written ahead of the active segment's records are unused space, not a tail.
    let active = segments(directory.path()).pop().expect("segment");
    assert!(std::fs::metadata(&active).expect("meta").len() > records_end(&active));
    assert_eq!(store.recovery_report().truncated_tail, None);
    assert_eq!(store.read_all(LogPosition::START, 10_000).await.expect("read"), before);
    assert_eq!(store.stream_last_revision("stream-1").await.expect("head"), Some(32));
    let result = store
        .append("stream-1", ExpectedRevision::Exact(32), vec![test_event(2, 0)])
        .await
        .expect("append after reopen");
    assert_eq!(result.first_position, LogPosition(100));
    assert!(
        matches!(
            store.append("stream-0", ExpectedRevision::Any, vec![test_event(1, 1)]).await,
            Err(StoreError::DuplicateEventId { .. })
        ),
        "event ids are remembered across a reopen"
    );
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_directory() {
    let directory = tempfile::tempdir().expect("temp dir");
    let _store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("open");
    let second = EmbeddedStore::open(directory.path(), small_segments()).await;
    assert!(matches!(second, Err(StoreError::Unavailable { ref reason }) if reason.contains("in use")), "{second:?}");
}

#[tokio::test]
async fn a_last_record_cut_partway_is_truncated_and_logged() {
    let directory = tempfile::tempdir().expect("temp dir");
    let before = fill(directory.path(), 20).await;
    let last = segments(directory.path()).pop().expect("segment");
    let len = records_end(&last);
    std::fs::OpenOptions::new().write(true).open(&last).expect("open").set_len(len - 50).expect("cut");

    let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("recovers");
    let tail = store.recovery_report().truncated_tail.clone().expect("a truncation is reported");
    assert_eq!(tail.segment, last.file_name().expect("name").to_string_lossy());
    assert_eq!(store.recovery_report().events, 19);
    assert_eq!(store.read_all(LogPosition::START, 100).await.expect("read"), before[..19]);
    let result =
        store.append("stream-0", ExpectedRevision::Any, vec![test_event(3, 0)]).await.expect("append continues");
    assert_eq!(result.first_position, LogPosition(19));
}

#[tokio::test]
async fn an_append_cut_between_its_records_is_removed_whole() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(directory.path(), EmbeddedStoreOptions::default()).await.expect("open");
    store.append("batch", ExpectedRevision::NoStream, vec![test_event(4, 0)]).await.expect("append");
    store
        .append("batch", ExpectedRevision::Exact(0), (1..=5).map(|n| test_event(4, n)).collect())
        .await
        .expect("append");
    let all = store.read_all(LogPosition::START, 100).await.expect("read");
    store.close().await;
    drop(store);
    // Cut inside the fourth record of the five-event append: three whole records survive.
    let path = directory.path().join("segments").join(segment_file_name(0));
    let record_len = (records_end(&path) - SEGMENT_HEADER.len() as u64) / 6;
    let cut = SEGMENT_HEADER.len() as u64 + record_len * 4 + 10;
    std::fs::OpenOptions::new().write(true).open(&path).expect("open").set_len(cut).expect("cut");

    let store = EmbeddedStore::open(directory.path(), EmbeddedStoreOptions::default()).await.expect("recovers");
    let tail = store.recovery_report().truncated_tail.clone().expect("truncated");
    assert_eq!(tail.records_removed, 3, "the whole records of the torn append go too");
    assert_eq!(store.read_all(LogPosition::START, 100).await.expect("read"), all[..1]);
    assert_eq!(store.stream_last_revision("batch").await.expect("head"), Some(0));
}

#[tokio::test]
async fn a_flipped_byte_mid_segment_is_reported_with_its_position() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(directory.path(), EmbeddedStoreOptions::default()).await.expect("open");
    for n in 0..10 {
        store.append("s", ExpectedRevision::Any, vec![test_event(5, n)]).await.expect("append");
    }
    store.close().await;
    drop(store);
    let path = directory.path().join("segments").join(segment_file_name(0));
    let record_len = (records_end(&path) - SEGMENT_HEADER.len() as u64) / 10;
    let record_start = SEGMENT_HEADER.len() as u64 + record_len * 4;
    let file_len = std::fs::metadata(&path).expect("meta").len();
    flip_byte(&path, record_start + 200); // inside the data of the record at position 4

    match EmbeddedStore::open(directory.path(), EmbeddedStoreOptions::default()).await {
        Err(StoreError::Corrupt { segment, offset, position, reason }) => {
            assert_eq!(segment, segment_file_name(0));
            assert_eq!(offset, record_start);
            assert_eq!(position, 4);
            assert!(reason.contains("CRC"), "{reason}");
        }
        other => panic!("expected corruption at position 4, got {other:?}"),
    }
    // Nothing was truncated: the damaged file still has all its bytes.
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), file_len);
}

#[tokio::test]
async fn corruption_in_an_earlier_segment_stops_the_store() {
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 100).await;
    let first = segments(directory.path()).remove(0);
    flip_byte(&first, SEGMENT_HEADER.len() as u64 + 5); // the length field of the first record
    match EmbeddedStore::open(directory.path(), small_segments()).await {
        Err(StoreError::Corrupt { segment, offset, position, .. }) => {
            assert_eq!((segment.as_str(), offset, position), (segment_file_name(0).as_str(), 16, 0));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_segment_is_reported_not_skipped() {
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 100).await;
    let all = segments(directory.path());
    std::fs::remove_file(&all[1]).expect("remove");
    let error = EmbeddedStore::open(directory.path(), small_segments()).await.expect_err("must refuse");
    assert!(matches!(error, StoreError::Corrupt { ref reason, .. } if reason.contains("missing")), "{error}");
}

#[tokio::test]
async fn reads_check_records_again_and_report_damage() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(directory.path(), EmbeddedStoreOptions::default()).await.expect("open");
    for n in 0..3 {
        store.append("s", ExpectedRevision::Any, vec![test_event(6, n)]).await.expect("append");
    }
    // Damage the bytes under a running store, as a failing disk would.
    let path = directory.path().join("segments").join(segment_file_name(0));
    flip_byte(&path, SEGMENT_HEADER.len() as u64 + 100);
    let error = store.read_all(LogPosition::START, 10).await.expect_err("damage is seen on read");
    assert!(matches!(error, StoreError::Corrupt { position: 0, .. }), "{error}");
}

/// Documents: one kept survives a reopen; a write cut by a crash (a `.tmp` file) is removed;
/// a document whose bytes changed on disk is reported as corrupt with its path, never served.
#[tokio::test]
async fn documents_survive_reopen_and_corruption_is_reported() {
    let directory = tempfile::tempdir().expect("temp dir");
    let document = klero_store_conformance::test_document("A kept document.", false, 7);
    let hex = klero_ledger::hash::to_hex(&document.info.sha256);
    let path = directory.path().join("documents").join(&hex);
    {
        let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("open");
        assert!(store.put_document(&document).await.expect("put"));
        store.close().await;
    }
    std::fs::write(path.with_file_name(format!("{hex}.3.tmp")), b"half a write").expect("write");
    let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("reopen");
    assert_eq!(store.read_document(&document.info.sha256).await.expect("read"), Some(document.clone()));
    assert_eq!(store.document_infos().await.expect("infos"), vec![document.info.clone()], "the cut write is gone");
    assert!(!path.with_file_name(format!("{hex}.3.tmp")).exists());
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    let error = store.read_document(&document.info.sha256).await.expect_err("corrupt");
    assert!(matches!(&error, StoreError::Corrupt { segment, .. } if segment.contains(&hex)), "{error}");
}

/// The names in the data directory's `documents/` (none if it was never made), sorted.
fn document_files(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory.join("documents"))
        .map(|entries| entries.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The hash is checked beside the write: a document whose bytes are not its hash's is refused
/// naming `sha256`, and leaves no file behind. Overlapping uploads of one document keep it
/// once, and report it kept once.
#[tokio::test]
async fn a_document_is_kept_only_if_its_bytes_are_its_hash_and_only_once() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = std::sync::Arc::new(EmbeddedStore::open(directory.path(), small_segments()).await.expect("open"));
    let mut forged = klero_store_conformance::test_document("The text the hash names.", false, 7);
    forged.bytes = b"Other text of another length.".to_vec();
    forged.info.size = forged.bytes.len() as u64;
    let error = store.put_document(&forged).await.expect_err("refused");
    assert!(matches!(error, StoreError::InvalidArgument { field: "sha256", .. }), "{error}");
    assert_eq!(document_files(directory.path()), Vec::<String>::new(), "nothing of the refused upload stays");

    let document = klero_store_conformance::test_document("One document, uploaded eight times at once.", false, 7);
    let uploads: Vec<_> = (0..8)
        .map(|_| {
            let (store, document) = (store.clone(), document.clone());
            tokio::spawn(async move { store.put_document(&document).await.expect("put") })
        })
        .collect();
    let mut newly_kept = 0;
    for upload in uploads {
        newly_kept += usize::from(upload.await.expect("task"));
    }
    assert_eq!(newly_kept, 1);
    assert_eq!(document_files(directory.path()), vec![klero_ledger::hash::to_hex(&document.info.sha256)]);
    assert_eq!(store.read_document(&document.info.sha256).await.expect("read"), Some(document));
}

/// A document streamed in parts (`begin_document`): kept once its bytes hash to its name,
/// refused naming `sha256` otherwise, and nothing left of a refused or abandoned upload. The
/// first upload after a reopen finds a crash's leftover temporary file removed, not its own.
#[tokio::test]
async fn a_document_streamed_in_parts_is_kept_whole_or_not_at_all() {
    let directory = tempfile::tempdir().expect("temp dir");
    let document = klero_store_conformance::test_document("A submission, sent in parts of seven bytes.", false, 7);
    std::fs::create_dir_all(directory.path().join("documents")).expect("dir");
    let leftover = directory.path().join("documents").join("0000.1.tmp");
    std::fs::write(&leftover, b"a crash's half write").expect("write");
    let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("open");

    let mut upload = store.begin_document(document.info.clone()).await.expect("begin");
    for part in document.bytes.chunks(7) {
        upload.write(part).await.expect("part");
    }
    assert!(upload.finish().await.expect("kept"));
    assert!(!leftover.exists(), "the crash's temporary file is removed");
    let hex = klero_ledger::hash::to_hex(&document.info.sha256);
    assert_eq!(document_files(directory.path()), vec![hex.clone()]);
    assert_eq!(store.read_document(&document.info.sha256).await.expect("read"), Some(document.clone()));

    let mut forged = klero_store_conformance::test_document("The text the hash names.", false, 7);
    forged.bytes = b"Other text, the same len.".to_vec();
    forged.info.size = forged.bytes.len() as u64;
    let mut upload = store.begin_document(forged.info.clone()).await.expect("begin");
    upload.write(&forged.bytes).await.expect("part");
    let error = upload.finish().await.expect_err("refused");
    assert!(matches!(error, StoreError::InvalidArgument { field: "sha256", .. }), "{error}");

    let mut abandoned = store.begin_document(forged.info.clone()).await.expect("begin");
    abandoned.write(&forged.bytes[..5]).await.expect("part");
    drop(abandoned);
    assert_eq!(document_files(directory.path()), vec![hex], "nothing of the refused or abandoned uploads stays");
}

/// A large document in one part: the part that completes it is synced beside its hash (on a
/// second thread), before the hash is compared. What must never happen: a document whose bytes
/// do not hash to its name is kept, or a refused upload leaves a file behind, because its bytes
/// were already synced when the mismatch was found.
#[tokio::test]
async fn a_large_part_synced_beside_its_hash_is_kept_only_when_the_hash_matches() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("open");
    let text: String = (0..30_000).map(|n| format!("line {n}\n")).collect();
    assert!(text.len() > 256 * 1024, "large enough for the parallel hash");
    let document = klero_store_conformance::test_document(&text, false, 7);

    let mut forged = document.clone();
    forged.bytes[100_000] ^= 0x01;
    let mut upload = store.begin_document(forged.info.clone()).await.expect("begin");
    upload.write(&forged.bytes).await.expect("the part is written and synced");
    let error = upload.finish().await.expect_err("refused");
    assert!(matches!(error, StoreError::InvalidArgument { field: "sha256", .. }), "{error}");
    assert!(document_files(directory.path()).is_empty(), "nothing of the refused upload stays");
    assert_eq!(store.read_document(&document.info.sha256).await.expect("read"), None);

    // Split so that a small part completes the document, and whole in one part.
    let mut upload = store.begin_document(document.info.clone()).await.expect("begin");
    let (head, tail) = document.bytes.split_at(document.bytes.len() - 10);
    upload.write(head).await.expect("part");
    upload.write(tail).await.expect("last part");
    assert!(upload.finish().await.expect("kept"));
    let mut again = store.begin_document(document.info.clone()).await.expect("begin");
    again.write(&document.bytes).await.expect("part");
    assert!(!again.finish().await.expect("kept already"), "the first copy stays");
    let hex = klero_ledger::hash::to_hex(&document.info.sha256);
    assert_eq!(document_files(directory.path()), vec![hex]);
    store.close().await;
    drop(store);
    let store = EmbeddedStore::open(directory.path(), small_segments()).await.expect("reopen");
    assert_eq!(store.read_document(&document.info.sha256).await.expect("read"), Some(document));
}

/// The witnessed checkpoints (FORMAT.md §6.1, §13.6): kept across a reopen; a record a crash
/// tore at the end is truncated (it was never reported kept) and the file goes on after it; a
/// damaged record before others is refused with its offset, never skipped.
#[tokio::test]
async fn witnessed_checkpoints_survive_a_reopen_a_torn_record_and_report_damage() {
    let directory = tempfile::tempdir().expect("temp dir");
    let note = |size: u64| format!("example.org/log\n{size}\nroot=\n\n— w sig{size}\n").into_bytes();
    let store = EmbeddedStore::open(directory.path(), Default::default()).await.expect("open");
    for size in [3, 8] {
        assert!(store.keep_witnessed_checkpoint(size, &note(size)).await.expect("keep"));
    }
    store.close().await;
    drop(store);
    let path = directory.path().join("witnessed");
    let whole = std::fs::read(&path).expect("read");

    // A torn third record: half of it on disk.
    let third = [&(note(12).len() as u32).to_be_bytes()[..], &note(12)[..10]].concat();
    std::fs::write(&path, [&whole[..], &third[..]].concat()).expect("write");
    let store = EmbeddedStore::open(directory.path(), Default::default()).await.expect("open");
    assert_eq!(store.witnessed_checkpoints(0, 10).await.expect("list"), vec![note(3), note(8)]);
    assert!(store.keep_witnessed_checkpoint(12, &note(12)).await.expect("keep after the torn record"));
    assert_eq!(store.witnessed_checkpoints(9, 10).await.expect("list"), vec![note(12)]);
    store.close().await;
    drop(store);

    // A flipped byte in the first record, with records after it: damage, reported.
    let mut damaged = std::fs::read(&path).expect("read");
    damaged[6] ^= 0x01;
    std::fs::write(&path, &damaged).expect("write");
    let store = EmbeddedStore::open(directory.path(), Default::default()).await.expect("open");
    match store.witnessed_checkpoints(0, 10).await {
        Err(StoreError::Corrupt { offset, reason, .. }) => {
            assert_eq!(offset, 0, "the damaged record's offset");
            assert!(reason.contains("witnessed"), "{reason}");
        }
        other => panic!("damage must be reported, not skipped: {other:?}"),
    }
    store.close().await;
    drop(store);
}

/// Issue 29: the id index keeps 32 bits of each id, so a repeated id found on open is confirmed
/// against the earlier record; a record that repeats an earlier record's id is reported with
/// its position, never taken for a new event.
#[tokio::test]
async fn a_record_that_repeats_an_earlier_id_is_reported_on_open() {
    use klero_store_embedded::segment::{decode_record, encode_record, RecordFields};
    let directory = tempfile::tempdir().expect("temp dir");
    let events = fill(directory.path(), 10).await;
    let active = segments(directory.path()).pop().expect("segment");
    let mut bytes = std::fs::read(&active).expect("read");
    let end = records_end(&active) as usize;
    // The last record, copied one position on, in its own stream and append, with the id of
    // the first event of the log.
    let mut at = SEGMENT_HEADER.len();
    let mut last = None;
    while at < end {
        let (record, length) = decode_record(&bytes[at..], 1 << 24).expect("record");
        last = Some(record);
        at += length;
    }
    let last = last.expect("a record");
    let mut record = Vec::new();
    encode_record(
        &mut record,
        RecordFields {
            position: last.position + 1,
            stream_revision: 0,
            sync_group_first_position: last.position + 1,
            flags: last.flags,
            event_id: &events[0].event_id,
            stream: "stream-repeat",
            event_type: &last.event_type,
            data: &last.data,
        },
    );
    bytes[end..end + record.len()].copy_from_slice(&record);
    std::fs::write(&active, bytes).expect("write");
    match EmbeddedStore::open(directory.path(), small_segments()).await {
        Err(StoreError::Corrupt { position, offset, reason, .. }) => {
            assert_eq!((position, offset), (last.position + 1, end as u64));
            assert!(reason.contains("appears twice (first at position 0)"), "{reason}");
        }
        other => panic!("a repeated id must be reported, got {other:?}"),
    }
}
