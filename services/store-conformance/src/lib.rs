//! The conformance suite: the behaviour every [`EventStore`] must show.
//!
//! A store crate runs it from a test with a [`StoreUnderTest`] that hands out fresh, empty
//! stores: `run_all(&mut my_factory).await`. The embedded store runs it in
//! `tests/conformance.rs`; the KurrentDB adapter will run the same cases against a real node.
//! Each case panics with a message naming the rule it checks.

use async_trait::async_trait;
use klero_ledger::envelope::EventId;
use klero_store::*;
use std::sync::Arc;
use std::time::Duration;

/// Hands out fresh, empty stores of one implementation.
#[async_trait]
pub trait StoreUnderTest: Send {
    type Store: EventStore;
    async fn fresh_store(&mut self) -> Arc<Self::Store>;
}

/// Runs every case, each on a fresh store.
pub async fn run_all<T: StoreUnderTest>(factory: &mut T) {
    appends_and_reads_back_in_order(&*factory.fresh_store().await).await;
    expected_revision_rules_hold(&*factory.fresh_store().await).await;
    idempotent_retries_return_the_original_result(&*factory.fresh_store().await).await;
    reused_ids_with_other_content_are_refused(&*factory.fresh_store().await).await;
    stream_reads_go_both_ways_and_respect_counts(&*factory.fresh_store().await).await;
    read_all_spans_streams_in_commit_order(&*factory.fresh_store().await).await;
    invalid_and_oversized_appends_change_nothing(&*factory.fresh_store().await).await;
    racing_appenders_never_fork_a_stream(factory.fresh_store().await).await;
    subscription_moves_from_catch_up_to_live_without_gap_or_duplicate(factory.fresh_store().await).await;
    declared_capabilities_hold(&*factory.fresh_store().await).await;
    checkpoints_are_kept_and_replaced(&*factory.fresh_store().await).await;
    events_are_found_by_id(&*factory.fresh_store().await).await;
    snapshots_are_kept_and_replaced(&*factory.fresh_store().await).await;
    documents_are_kept_by_their_hash(&*factory.fresh_store().await).await;
    documents_that_do_not_match_their_hash_or_limits_are_refused(&*factory.fresh_store().await).await;
    documents_streamed_in_parts_are_kept_like_whole_ones(&*factory.fresh_store().await).await;
    data_keys_are_kept_and_destroyed_for_good(&*factory.fresh_store().await).await;
    witnessed_checkpoints_are_kept_in_size_order(&*factory.fresh_store().await).await;
    snapshot_rows_grow_without_gaps_and_are_read_back_by_length(&*factory.fresh_store().await).await;
}

/// Snapshot rows (FORMAT.md §6.1): written at an offset, over bytes already kept or right
/// after them, never leaving a gap; read back by length, fewer when fewer are kept; tables are
/// apart, and a name outside the grammar is refused.
pub async fn snapshot_rows_grow_without_gaps_and_are_read_back_by_length(store: &dyn EventStore) {
    let rows = |from: u8, to: u8| (from..to).collect::<Vec<u8>>();
    assert!(store.load_snapshot_rows("inputs", 0, 100).await.expect("load").is_empty(), "a fresh store keeps none");
    store.keep_snapshot_rows("inputs", 0, rows(0, 10)).await.expect("keep");
    store.keep_snapshot_rows("inputs", 10, rows(10, 25)).await.expect("keep after");
    // A server whose fold lags writes the same bytes again, over what is kept.
    store.keep_snapshot_rows("inputs", 5, rows(5, 20)).await.expect("keep over");
    assert!(matches!(
        store.keep_snapshot_rows("inputs", 26, rows(26, 30)).await,
        Err(StoreError::InvalidArgument { field: "offset", .. })
    ));
    assert_eq!(store.load_snapshot_rows("inputs", 0, 100).await.expect("load"), rows(0, 25));
    assert_eq!(store.load_snapshot_rows("inputs", 0, 12).await.expect("load"), rows(0, 12));
    assert_eq!(store.load_snapshot_rows("inputs", 12, 5).await.expect("load"), rows(12, 17), "a range");
    assert_eq!(store.load_snapshot_rows("inputs", 20, 100).await.expect("load"), rows(20, 25), "to the end");
    assert!(store.load_snapshot_rows("inputs", 30, 5).await.expect("load").is_empty(), "beyond the end");
    assert!(store.load_snapshot_rows("personal", 0, 100).await.expect("load").is_empty(), "tables are apart");
    for bad in ["", "Inputs", "../inputs", "a-name-longer-than-thirty-two-bytes"] {
        assert!(matches!(
            store.keep_snapshot_rows(bad, 0, rows(0, 1)).await,
            Err(StoreError::InvalidArgument { field: "table", .. })
        ));
    }
}

/// Witnessed checkpoints (FORMAT.md §13.6): kept in ascending size, one not above the last
/// changes nothing, a note whose size is not the one given or over the limit is refused, and
/// they are listed from a size, at most a count. A store that keeps none lists none.
pub async fn witnessed_checkpoints_are_kept_in_size_order(store: &dyn EventStore) {
    let note = |size: u64| format!("example.org/log\n{size}\nroot{size}=\n\n— witness sig{size}\n").into_bytes();
    assert!(store.witnessed_checkpoints(0, 10).await.expect("list").is_empty(), "a fresh store keeps none");
    if !store.keep_witnessed_checkpoint(5, &note(5)).await.expect("keep") {
        assert!(store.witnessed_checkpoints(0, 10).await.expect("list").is_empty(), "a store that keeps none");
        return;
    }
    assert!(store.keep_witnessed_checkpoint(9, &note(9)).await.expect("keep"));
    assert!(!store.keep_witnessed_checkpoint(9, &note(9)).await.expect("keep"), "the same size again");
    assert!(!store.keep_witnessed_checkpoint(7, &note(7)).await.expect("keep"), "a smaller size after a larger");
    assert!(matches!(
        store.keep_witnessed_checkpoint(12, &note(11)).await,
        Err(StoreError::InvalidArgument { field: "note", .. })
    ));
    let oversized = [note(13), vec![b'x'; CHECKPOINT_BYTES_MAX]].concat();
    assert!(matches!(store.keep_witnessed_checkpoint(13, &oversized).await, Err(StoreError::LimitExceeded { .. })));
    assert!(store.keep_witnessed_checkpoint(20, &note(20)).await.expect("keep"));
    assert_eq!(store.witnessed_checkpoints(0, 10).await.expect("list"), vec![note(5), note(9), note(20)]);
    assert_eq!(store.witnessed_checkpoints(6, 1).await.expect("list"), vec![note(9)], "from a size, a count");
    assert!(store.witnessed_checkpoints(21, 10).await.expect("list").is_empty());
}

/// Data keys (FORMAT.md §14): kept by event id, the same key kept again is a no-op, another
/// key for the same id is refused, a destroyed key stays destroyed and cannot come back. A
/// store that keeps none refuses every call.
pub async fn data_keys_are_kept_and_destroyed_for_good(store: &dyn EventStore) {
    let (first, second) = (test_event(9, 1).event_id, test_event(9, 2).event_id);
    if !store.keeps_data_keys() {
        assert!(store.put_data_keys(&[(first, [1; 32])]).await.is_err(), "a store without a key store keeps no key");
        return;
    }
    assert_eq!(store.read_data_key(&first).await.expect("read"), DataKeyState::Absent);
    store.put_data_keys(&[(first, [1; 32]), (second, [2; 32])]).await.expect("put");
    store.put_data_keys(&[(first, [1; 32])]).await.expect("the same key again changes nothing");
    assert!(matches!(store.put_data_keys(&[(first, [3; 32])]).await, Err(StoreError::DuplicateEventId { .. })));
    assert_eq!(store.read_data_key(&first).await.expect("read"), DataKeyState::Live([1; 32]));
    assert!(store.destroy_data_key(&first).await.expect("destroy"));
    assert!(!store.destroy_data_key(&first).await.expect("destroy again"), "a second destruction finds nothing");
    assert_eq!(store.read_data_key(&first).await.expect("read"), DataKeyState::Destroyed);
    assert!(
        matches!(store.put_data_keys(&[(first, [1; 32])]).await, Err(StoreError::DuplicateEventId { .. })),
        "a destroyed key cannot be put back"
    );
    assert_eq!(store.read_data_key(&second).await.expect("read"), DataKeyState::Live([2; 32]));
    // Completing the erasures (a key rotation, where the store has one) keeps every live key
    // and none of the destroyed ones.
    store.finish_erasures().await.expect("erasures completed");
    assert_eq!(store.read_data_key(&second).await.expect("read"), DataKeyState::Live([2; 32]));
    assert_eq!(store.read_data_key(&first).await.expect("read"), DataKeyState::Destroyed);
    store.put_data_keys(&[(test_event(9, 3).event_id, [3; 32])]).await.expect("put after completion");
    assert_eq!(store.read_data_key(&test_event(9, 3).event_id).await.expect("read"), DataKeyState::Live([3; 32]));
}

/// Event `n` of a test: a unique id derived from `salt` and `n`, and 300 bytes of data.
pub fn test_event(salt: u8, n: u32) -> EventData {
    let mut id = [0u8; 16];
    id[0] = salt;
    id[1] = 0x4c;
    id[12..16].copy_from_slice(&n.to_be_bytes());
    let mut data = vec![salt; 300];
    data[..4].copy_from_slice(&n.to_be_bytes());
    EventData { event_id: EventId(id), event_type: "test.EventHappened".into(), data }
}

async fn log_len(store: &dyn EventStore) -> u64 {
    store.last_position().await.expect("last position").map_or(0, |p| p.0 + 1)
}

pub async fn appends_and_reads_back_in_order(store: &dyn EventStore) {
    let first = store
        .append("orders-1", ExpectedRevision::NoStream, vec![test_event(1, 0), test_event(1, 1)])
        .await
        .expect("append");
    assert_eq!(first.last_revision, 1, "two events into a new stream end at revision 1");
    assert!(first.first_position < first.last_position, "positions grow within an append");
    let second = store.append("orders-1", ExpectedRevision::Exact(1), vec![test_event(1, 2)]).await.expect("append");
    assert_eq!(second.last_revision, 2);
    assert!(second.first_position > first.last_position, "positions grow across appends");
    let events =
        store.read_stream("orders-1", StreamStart::Beginning, ReadDirection::Forwards, 10).await.expect("read");
    assert_eq!(events.len(), 3);
    for (revision, event) in events.iter().enumerate() {
        assert_eq!(event.stream_revision, revision as u64);
        assert_eq!(event.stream, "orders-1");
        assert_eq!(
            *event,
            RecordedEvent {
                position: event.position,
                stream_revision: revision as u64,
                stream: "orders-1".into(),
                ..recorded_from(test_event(1, revision as u32))
            }
        );
    }
    assert_eq!(store.stream_last_revision("orders-1").await.expect("head"), Some(2));
    assert_eq!(store.stream_last_revision("nothing-here").await.expect("head"), None);
    assert!(matches!(
        store.read_stream("nothing-here", StreamStart::Beginning, ReadDirection::Forwards, 10).await,
        Err(StoreError::StreamNotFound { .. })
    ));
}

fn recorded_from(event: EventData) -> RecordedEvent {
    RecordedEvent {
        event_id: event.event_id,
        stream: String::new(),
        stream_revision: 0,
        position: LogPosition(0),
        event_type: event.event_type,
        data: event.data,
    }
}

pub async fn expected_revision_rules_hold(store: &dyn EventStore) {
    let conflict = |result: Result<AppendResult, StoreError>, actual: Option<u64>| match result {
        Err(StoreError::WrongExpectedRevision { actual: got, .. }) => {
            assert_eq!(got, actual, "conflict reports the stream's real revision")
        }
        other => panic!("expected a wrong-expected-revision conflict, got {other:?}"),
    };
    conflict(store.append("s", ExpectedRevision::StreamExists, vec![test_event(2, 0)]).await, None);
    conflict(store.append("s", ExpectedRevision::Exact(0), vec![test_event(2, 0)]).await, None);
    store.append("s", ExpectedRevision::NoStream, vec![test_event(2, 0)]).await.expect("no stream on a new stream");
    conflict(store.append("s", ExpectedRevision::NoStream, vec![test_event(2, 1)]).await, Some(0));
    conflict(store.append("s", ExpectedRevision::Exact(5), vec![test_event(2, 1)]).await, Some(0));
    store.append("s", ExpectedRevision::StreamExists, vec![test_event(2, 1)]).await.expect("stream exists");
    store.append("s", ExpectedRevision::Any, vec![test_event(2, 2)]).await.expect("any");
    let result = store.append("s", ExpectedRevision::Exact(2), vec![test_event(2, 3)]).await.expect("exact");
    assert_eq!(result.last_revision, 3);
    assert_eq!(log_len(store).await, 4, "failed appends wrote nothing");
}

pub async fn idempotent_retries_return_the_original_result(store: &dyn EventStore) {
    let batch = vec![test_event(3, 0), test_event(3, 1), test_event(3, 2)];
    let original = store.append("idem", ExpectedRevision::NoStream, batch.clone()).await.expect("append");
    store.append("other", ExpectedRevision::Any, vec![test_event(3, 9)]).await.expect("append");
    // The retry carries a stale expected revision, as a client that never saw the reply would.
    let retry = store.append("idem", ExpectedRevision::NoStream, batch.clone()).await.expect("retry succeeds");
    assert_eq!(retry, original, "a retry returns the original positions");
    assert_eq!(log_len(store).await, 4, "a retry appends nothing");
    let single = store.append("idem", ExpectedRevision::Exact(2), vec![test_event(3, 3)]).await.expect("append");
    assert_eq!(store.append("idem", ExpectedRevision::Any, vec![test_event(3, 3)]).await.expect("retry"), single);
}

pub async fn reused_ids_with_other_content_are_refused(store: &dyn EventStore) {
    store.append("dup", ExpectedRevision::NoStream, vec![test_event(4, 0), test_event(4, 1)]).await.expect("append");
    let mut altered = test_event(4, 0);
    altered.data[10] ^= 1;
    let before = log_len(store).await;
    assert!(
        matches!(
            store.append("dup", ExpectedRevision::Any, vec![altered]).await,
            Err(StoreError::DuplicateEventId { .. })
        ),
        "same id, different content"
    );
    assert!(
        matches!(
            store.append("elsewhere", ExpectedRevision::Any, vec![test_event(4, 0), test_event(4, 1)]).await,
            Err(StoreError::DuplicateEventId { .. })
        ),
        "same ids, another stream"
    );
    assert!(
        matches!(
            store.append("dup", ExpectedRevision::Any, vec![test_event(4, 1), test_event(4, 2)]).await,
            Err(StoreError::DuplicateEventId { .. })
        ),
        "a batch that partly repeats an earlier one"
    );
    assert!(
        matches!(
            store.append("dup", ExpectedRevision::Any, vec![test_event(4, 0)]).await,
            Err(StoreError::DuplicateEventId { .. })
        ),
        "a part of an earlier batch"
    );
    assert_eq!(log_len(store).await, before, "refused appends wrote nothing");
}

pub async fn stream_reads_go_both_ways_and_respect_counts(store: &dyn EventStore) {
    let events: Vec<EventData> = (0..10).map(|n| test_event(5, n)).collect();
    store.append("read", ExpectedRevision::NoStream, events).await.expect("append");
    let revisions = |events: Vec<RecordedEvent>| events.iter().map(|e| e.stream_revision).collect::<Vec<_>>();
    let read = |start, direction, count| store.read_stream("read", start, direction, count);
    assert_eq!(
        revisions(read(StreamStart::Revision(7), ReadDirection::Forwards, 10).await.expect("read")),
        vec![7, 8, 9]
    );
    assert_eq!(revisions(read(StreamStart::Beginning, ReadDirection::Forwards, 2).await.expect("read")), vec![0, 1]);
    assert_eq!(
        revisions(read(StreamStart::Beginning, ReadDirection::Backwards, 3).await.expect("read")),
        vec![9, 8, 7]
    );
    assert_eq!(
        revisions(read(StreamStart::Revision(2), ReadDirection::Backwards, 10).await.expect("read")),
        vec![2, 1, 0]
    );
    assert!(read(StreamStart::Revision(10), ReadDirection::Forwards, 10).await.expect("read").is_empty());
    assert!(matches!(
        read(StreamStart::Beginning, ReadDirection::Forwards, usize::MAX).await,
        Err(StoreError::LimitExceeded { .. })
    ));
}

pub async fn read_all_spans_streams_in_commit_order(store: &dyn EventStore) {
    for n in 0..6u32 {
        let stream = if n % 2 == 0 { "even" } else { "odd" };
        store.append(stream, ExpectedRevision::Any, vec![test_event(6, n)]).await.expect("append");
    }
    let all = store.read_all(LogPosition::START, 100).await.expect("read all");
    assert_eq!(all.len(), 6);
    for (n, event) in all.iter().enumerate() {
        assert_eq!(event.event_id, test_event(6, n as u32).event_id, "commit order is kept");
    }
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let tail = store.read_all(all[4].position, 100).await.expect("read all");
    assert_eq!(
        tail.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![all[4].position, all[5].position],
        "from is inclusive"
    );
    assert_eq!(store.read_all(all[0].position, 2).await.expect("read").len(), 2);
}

pub async fn invalid_and_oversized_appends_change_nothing(store: &dyn EventStore) {
    store.append("limits", ExpectedRevision::NoStream, vec![test_event(7, 0)]).await.expect("append");
    let cases: Vec<(&str, Vec<EventData>, &str)> = vec![
        ("limits", vec![], "events"),
        ("$all", vec![test_event(7, 1)], "stream"),
        ("has space", vec![test_event(7, 1)], "stream"),
        ("limits", vec![EventData { event_type: "bad type!".into(), ..test_event(7, 1) }], "event_type"),
        ("limits", vec![EventData { event_id: EventId([0; 16]), ..test_event(7, 1) }], "event_id"),
        ("limits", vec![test_event(7, 1), test_event(7, 1)], "event_id"),
        ("limits", vec![EventData { data: vec![0; 64 * 1024 * 1024], ..test_event(7, 1) }], "event data bytes"),
        ("limits", (0..100_000).map(|n| test_event(8, n)).collect(), "events per append"),
    ];
    for (stream, events, named) in cases {
        let error = store.append(stream, ExpectedRevision::Any, events).await.expect_err("must be refused");
        assert!(
            matches!(error, StoreError::InvalidArgument { .. } | StoreError::LimitExceeded { .. }),
            "{named}: wrong error class {error:?}"
        );
        assert!(error.to_string().contains(named), "error {error} must name {named}");
    }
    assert_eq!(log_len(store).await, 1, "refused appends wrote nothing");
}

pub async fn racing_appenders_never_fork_a_stream<S: EventStore>(store: Arc<S>) {
    const TASKS: u32 = 16;
    const ROUNDS: u32 = 20;
    store.append("race", ExpectedRevision::NoStream, vec![test_event(9, 0)]).await.expect("append");
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let (mut wins, mut conflicts) = (0u32, 0u32);
            let mut attempt = 0u32;
            while wins + conflicts < ROUNDS {
                let head = store.stream_last_revision("race").await.expect("head").expect("exists");
                let event = test_event(10 + task as u8, attempt);
                attempt += 1;
                match store.append("race", ExpectedRevision::Exact(head), vec![event]).await {
                    Ok(result) => {
                        assert_eq!(result.last_revision, head + 1, "a winner lands exactly after the revision it saw");
                        wins += 1;
                    }
                    Err(StoreError::WrongExpectedRevision { actual: Some(actual), .. }) => {
                        assert!(actual > head, "a loser lost to a later revision");
                        conflicts += 1;
                    }
                    Err(other) => panic!("unexpected error {other:?}"),
                }
            }
            wins
        }));
    }
    let mut total_wins = 0;
    for handle in handles {
        total_wins += handle.await.expect("task");
    }
    let events =
        store.read_stream("race", StreamStart::Beginning, ReadDirection::Forwards, 10_000).await.expect("read");
    assert_eq!(events.len() as u32, total_wins + 1, "one event per winning append, none from losers");
    for (revision, event) in events.iter().enumerate() {
        assert_eq!(event.stream_revision, revision as u64, "exactly one event at each revision");
    }
}

pub async fn subscription_moves_from_catch_up_to_live_without_gap_or_duplicate<S: EventStore>(store: Arc<S>) {
    const HISTORY: u32 = 700;
    const LIVE: u32 = 700;
    for chunk in 0..HISTORY / 100 {
        let events = (chunk * 100..(chunk + 1) * 100).map(|n| test_event(11, n)).collect();
        store.append("history", ExpectedRevision::Any, events).await.expect("append");
    }
    let mut subscription = store.subscribe_to_all(None).await.expect("subscribe");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..LIVE {
                store
                    .append(&format!("live-{}", n % 4), ExpectedRevision::Any, vec![test_event(12, n)])
                    .await
                    .expect("append");
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < (HISTORY + LIVE) as usize {
        let event = tokio::time::timeout(Duration::from_secs(20), subscription.next())
            .await
            .expect("subscription delivers within 20 s")
            .expect("event");
        seen.push(event);
    }
    writer.await.expect("writer");
    let all = store.read_all(LogPosition::START, 10_000).await.expect("read all");
    assert_eq!(seen, all, "the subscription saw every event once, in log order");
    // Nothing more arrives: no duplicates after the end.
    assert!(tokio::time::timeout(Duration::from_millis(100), subscription.next()).await.is_err());
    // A subscription from a position starts right after it.
    let mut after = store.subscribe_to_all(Some(all[10].position)).await.expect("subscribe");
    assert_eq!(after.next().await.expect("event"), all[11]);
}

/// What a store declares about itself is true: dense positions number every event from 0 with
/// no gap, and a committed-events watch counts every acknowledged event.
pub async fn declared_capabilities_hold(store: &dyn EventStore) {
    let watch = store.committed_events_watch();
    let mut results = Vec::new();
    for (n, stream) in ["dense-a", "dense-b", "dense-a"].into_iter().enumerate() {
        let events = (0..=n as u32).map(|i| test_event(9, 10 * n as u32 + i)).collect();
        results.push(store.append(stream, ExpectedRevision::Any, events).await.expect("append"));
    }
    if store.positions_are_dense() {
        let mut next = 0;
        for result in &results {
            assert_eq!(result.first_position, LogPosition(next), "dense positions leave no gap");
            next = result.last_position.0 + 1;
        }
        let all = store.read_all(LogPosition::START, 100).await.expect("read");
        let positions: Vec<u64> = all.iter().map(|e| e.position.0).collect();
        assert_eq!(positions, (0..6).collect::<Vec<_>>(), "dense positions count events from 0");
    }
    if let Some(watch) = watch {
        assert_eq!(*watch.borrow(), 6, "the watch counts every acknowledged event");
    }
}

pub async fn checkpoints_are_kept_and_replaced(store: &dyn EventStore) {
    assert_eq!(store.load_checkpoint().await.expect("load"), None, "a fresh store keeps no checkpoint");
    store.save_checkpoint(b"first note").await.expect("save");
    assert_eq!(store.load_checkpoint().await.expect("load").as_deref(), Some(&b"first note"[..]));
    store.save_checkpoint(b"second note").await.expect("save");
    assert_eq!(
        store.load_checkpoint().await.expect("load").as_deref(),
        Some(&b"second note"[..]),
        "a saved checkpoint replaces the one before"
    );
    let oversized = vec![b'x'; CHECKPOINT_BYTES_MAX + 1];
    assert!(
        matches!(store.save_checkpoint(&oversized).await, Err(StoreError::LimitExceeded { .. })),
        "a checkpoint above the limit is refused"
    );
    assert_eq!(
        store.load_checkpoint().await.expect("load").as_deref(),
        Some(&b"second note"[..]),
        "a refused checkpoint changes nothing"
    );
}

pub async fn snapshots_are_kept_and_replaced(store: &dyn EventStore) {
    assert_eq!(store.load_snapshot().await.expect("load"), None, "a fresh store keeps no snapshot");
    store.save_snapshot(10, vec![1, 2, 3]).await.expect("save");
    store.save_snapshot(20, vec![4, 5]).await.expect("save");
    assert_eq!(store.load_snapshot().await.expect("load").as_deref(), Some(&[4u8, 5][..]), "the last one kept");
    // A snapshot is independent of the checkpoint kept beside it.
    assert_eq!(store.load_checkpoint().await.expect("load"), None);
}

pub async fn events_are_found_by_id(store: &dyn EventStore) {
    assert_eq!(store.read_event_by_id(test_event(9, 0).event_id).await.expect("lookup"), None, "nothing yet");
    store.append("by-id", ExpectedRevision::NoStream, vec![test_event(9, 0), test_event(9, 1)]).await.expect("append");
    store.append("other", ExpectedRevision::NoStream, vec![test_event(9, 2)]).await.expect("append");
    let found = store.read_event_by_id(test_event(9, 1).event_id).await.expect("lookup").expect("found");
    assert_eq!(found.stream, "by-id");
    assert_eq!(found.stream_revision, 1);
    assert_eq!(found.data, test_event(9, 1).data, "the exact bytes");
    let all = store.read_all(LogPosition::START, 10).await.expect("read");
    assert_eq!(all[1], found, "the same event as a read by position");
    assert_eq!(store.read_event_by_id(test_event(9, 3).event_id).await.expect("lookup"), None);
    let ids = [test_event(9, 2).event_id, test_event(9, 3).event_id, test_event(9, 0).event_id];
    let many = store.read_events_by_id(&ids).await.expect("lookups");
    assert_eq!(many, vec![Some(all[2].clone()), None, Some(all[0].clone())], "in the order asked, None where absent");
}

/// A document of `text`, as `text/plain`, stored at `at`.
pub fn test_document(text: &str, personal_data: bool, at: u64) -> Document {
    let bytes = text.as_bytes().to_vec();
    Document {
        info: DocumentInfo {
            sha256: klero_ledger::Hash256::of(&bytes).0,
            media_type: "text/plain; charset=utf-8".into(),
            size: bytes.len() as u64,
            personal_data,
            stored_at_unix_ms: at,
        },
        bytes,
    }
}

pub async fn documents_are_kept_by_their_hash(store: &dyn EventStore) {
    let first = test_document("The council should publish its bus timetable data.", true, 1_000);
    let second = test_document("Evidence: passenger counts, 2025.", false, 2_000);
    assert_eq!(store.read_document(&first.info.sha256).await.expect("read"), None, "nothing yet");
    assert!(store.put_document(&first).await.expect("put"), "newly kept");
    assert!(store.put_document(&second).await.expect("put"));
    let again = Document { info: DocumentInfo { stored_at_unix_ms: 9_999, ..first.info.clone() }, ..first.clone() };
    assert!(!store.put_document(&again).await.expect("put"), "kept already: nothing changes");
    assert_eq!(store.read_document(&first.info.sha256).await.expect("read"), Some(first.clone()), "the first copy");
    let mut expected = vec![first.info.clone(), second.info.clone()];
    expected.sort_by_key(|info| info.sha256);
    assert_eq!(store.document_infos().await.expect("infos"), expected, "every document, by hash");
    assert!(store.delete_document(&first.info.sha256).await.expect("delete"));
    assert!(!store.delete_document(&first.info.sha256).await.expect("delete"), "gone already");
    assert_eq!(store.read_document(&first.info.sha256).await.expect("read"), None, "deleted");
    assert_eq!(store.document_infos().await.expect("infos"), vec![second.info.clone()]);
    // Documents and the log are independent.
    assert_eq!(store.last_position().await.expect("position"), None);
}

pub async fn documents_that_do_not_match_their_hash_or_limits_are_refused(store: &dyn EventStore) {
    let good = test_document("A short text.", false, 1);
    let mut wrong_hash = good.clone();
    wrong_hash.bytes[0] ^= 1;
    let mut wrong_size = good.clone();
    wrong_size.info.size += 1;
    let mut bad_media = good.clone();
    bad_media.info.media_type = "text/plain\n".into();
    let big_bytes = vec![b'x'; DOCUMENT_BYTES_MAX + 1];
    let big = Document {
        info: DocumentInfo {
            sha256: klero_ledger::Hash256::of(&big_bytes).0,
            size: big_bytes.len() as u64,
            ..good.info.clone()
        },
        bytes: big_bytes,
    };
    for (document, named) in
        [(wrong_hash, "sha256"), (wrong_size, "size"), (bad_media, "media_type"), (big, "document bytes")]
    {
        let error = store.put_document(&document).await.expect_err("refused");
        assert!(error.to_string().contains(named), "{named}: {error}");
    }
    assert_eq!(store.document_infos().await.expect("infos"), vec![], "a refused document leaves nothing");
}

/// `begin_document`, as uploads use it: parts in, the same document out; the same refusals as
/// `put_document`, each naming its field, and nothing kept of a refused or abandoned upload.
pub async fn documents_streamed_in_parts_are_kept_like_whole_ones(store: &dyn EventStore) {
    let document = test_document("Minutes of the second session, sent in parts of five bytes.", true, 3_000);
    let mut upload = store.begin_document(document.info.clone()).await.expect("begin");
    for part in document.bytes.chunks(5) {
        upload.write(part).await.expect("part");
    }
    assert!(upload.finish().await.expect("finish"), "newly kept");
    assert_eq!(store.read_document(&document.info.sha256).await.expect("read"), Some(document.clone()));
    let mut again = store.begin_document(document.info.clone()).await.expect("begin");
    again.write(&document.bytes).await.expect("part");
    assert!(!again.finish().await.expect("finish"), "kept already: nothing changes");

    let good = test_document("A short text.", false, 1);
    let mut wrong_hash = good.clone();
    wrong_hash.bytes[0] ^= 1;
    let mut short = good.clone();
    short.bytes.pop();
    for (sent, named) in [(wrong_hash, "sha256"), (short, "size")] {
        let refused = async {
            let mut upload = store.begin_document(sent.info.clone()).await?;
            upload.write(&sent.bytes).await?;
            upload.finish().await
        };
        let error = refused.await.expect_err("refused");
        assert!(error.to_string().contains(named), "{named}: {error}");
    }
    let mut abandoned = store.begin_document(good.info.clone()).await.expect("begin");
    abandoned.write(&good.bytes[..3]).await.expect("part");
    drop(abandoned);
    assert_eq!(store.document_infos().await.expect("infos"), vec![document.info], "only the whole document");
}
