//! The writer holds a commit open for appends on their way, and only while many are expected.

use klero_store::*;
use klero_store_conformance::test_event;
use klero_store_embedded::*;
use std::time::{Duration, Instant};

/// Long enough that "waited the whole linger" and "did not wait" cannot be confused on a slow
/// machine: an append without a linger takes milliseconds.
const LINGER: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_lingers_only_while_many_appends_are_expected() {
    let directory = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedStoreOptions { group_commit_linger_max: LINGER, ..Default::default() };
    let store = std::sync::Arc::new(EmbeddedStore::open(directory.path(), options).await.expect("open"));

    // Nothing announced: a lone append does not wait for company.
    let started = Instant::now();
    store.append("alone", ExpectedRevision::Any, vec![test_event(1, 0)]).await.expect("append");
    assert!(started.elapsed() < LINGER, "a lone append waited {:?}", started.elapsed());

    // Nine announced, one arrives: the writer holds the commit open for the whole linger.
    let announced: Vec<AppendExpected> = (0..9).map(|_| store.expect_append()).collect();
    let started = Instant::now();
    store.append("first-of-nine", ExpectedRevision::Any, vec![test_event(1, 1)]).await.expect("append");
    assert!(started.elapsed() >= LINGER, "the commit closed after {:?}", started.elapsed());

    // Four of the nine arrive together: half of those expected is enough to commit.
    let started = Instant::now();
    let appends = (0..4u32).map(|n| {
        let store = store.clone();
        tokio::spawn(
            async move { store.append(&format!("four-{n}"), ExpectedRevision::Any, vec![test_event(2, n)]).await },
        )
    });
    for append in appends.collect::<Vec<_>>() {
        append.await.expect("task").expect("append");
    }
    assert!(started.elapsed() < LINGER, "four of nine waited {:?}", started.elapsed());

    // Withdrawn announcements end the wait early.
    let store_for_append = store.clone();
    let started = Instant::now();
    let lone = tokio::spawn(async move {
        store_for_append.append("after-withdrawal", ExpectedRevision::Any, vec![test_event(3, 0)]).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(announced);
    lone.await.expect("task").expect("append");
    assert!(started.elapsed() < LINGER, "the commit waited {:?} after the withdrawal", started.elapsed());

    // Every append landed, in one log.
    assert_eq!(store.read_all(LogPosition::START, 100).await.expect("read").len(), 7);
}
