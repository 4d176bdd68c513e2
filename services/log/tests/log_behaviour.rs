//! The transparency log over a real embedded store: appends, proofs, idempotency, errors,
//! concurrency, and checkpoints that the store no longer holds.

mod common;

use common::*;
use klero_ledger::checkpoint::Checkpoint;
use klero_ledger::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use klero_log::LogError;
use klero_store::{EventStore, ExpectedRevision, LogPosition};
use std::sync::Arc;

#[tokio::test]
async fn appended_events_chain_per_stream_and_prove_inclusion_and_consistency() {
    let directory = tempfile::tempdir().expect("temp dir");
    let log = open_log(directory.path()).await.expect("open");
    let author = key("author");
    let mut appended = Vec::new();
    for n in 0..12 {
        let stream = if n % 3 == 0 { "assembly/a/selection" } else { "assembly/a/deliberation" };
        appended.push(
            log.append(signed_event(&author, stream, n), ExpectedRevision::Any, 1000 + n as u64).await.expect("append"),
        );
    }
    assert_eq!(log.size(), 12);
    assert_eq!(appended.iter().map(|a| a.leaf_index).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
    let deliberation: Vec<_> = appended.iter().filter(|a| a.stream == "assembly/a/deliberation").collect();
    for (revision, event) in deliberation.iter().enumerate() {
        assert_eq!(event.stream_revision, revision as u64);
        let envelope = log.event_at(event.leaf_index).await.expect("event");
        let expected_previous =
            if revision == 0 { klero_ledger::Hash256::ZERO } else { deliberation[revision - 1].event_hash };
        assert_eq!(envelope.ledger().previous_event_hash, expected_previous, "each event names its predecessor");
    }
    let checkpoint = log.publish_checkpoint().await.expect("checkpoint");
    let verified = log.verifier_key().verify(checkpoint.note()).expect("checkpoint verifies");
    for event in &appended {
        let proof = log.inclusion_proof(event.leaf_index, 12).expect("proof");
        verify_inclusion(
            event.leaf_index,
            12,
            &leaf_hash(&event.event_hash.0),
            &proof,
            &verified.checkpoint().root_hash,
        )
        .expect("inclusion");
    }
    let old_root = log.root().expect("root");
    for n in 12..20 {
        log.append(signed_event(&author, "assembly/a/response", n), ExpectedRevision::Any, 2000).await.expect("append");
    }
    let proof = log.consistency_proof(12, 20).expect("consistency");
    verify_consistency(12, 20, &old_root, &log.root().expect("root"), &proof).expect("consistent");
    let checkpoint = log.publish_checkpoint().await.expect("checkpoint");
    let bundle = log.proof_bundle(5, &checkpoint).await.expect("bundle");
    let checked = klero_ledger::bundle::ProofBundle::parse(&bundle.encode())
        .expect("parse")
        .verify(&log.verifier_key())
        .expect("bundle verifies");
    assert_eq!(checked.event_hash, appended[5].event_hash);
}

#[tokio::test]
async fn retries_are_idempotent_and_reused_ids_are_refused() {
    let directory = tempfile::tempdir().expect("temp dir");
    let log = open_log(directory.path()).await.expect("open");
    let author = key("author");
    let first = log.append(signed_event(&author, "s", 1), ExpectedRevision::NoStream, 10).await.expect("append");
    assert!(first.newly_appended);
    // The retry arrives later, with a stale expectation: it still gets the original answer.
    let retry = log.append(signed_event(&author, "s", 1), ExpectedRevision::NoStream, 99).await.expect("retry");
    assert_eq!(retry, klero_log::AppendedEvent { newly_appended: false, ..first.clone() });
    assert_eq!(log.size(), 1);

    let mut other = klero_ledger::envelope::AuthorPart::clone(signed_event(&author, "s", 1).author());
    other.payload = b"something else".to_vec();
    let error = log.append(other.sign(&author).expect("sign"), ExpectedRevision::Any, 11).await.expect_err("refused");
    assert!(matches!(error, LogError::DuplicateEventId { .. }), "{error}");
    assert_eq!(log.size(), 1, "nothing appended");
}

/// `append_decided` skips the log's own look for a replay, since its caller looked before it
/// decided. A retry that lands after that look must still get the original answer, never a
/// second copy; and a reused id with other content must still be refused.
#[tokio::test]
async fn a_retry_that_lands_after_the_callers_look_is_still_answered_as_a_retry() {
    let directory = tempfile::tempdir().expect("temp dir");
    let log = open_log(directory.path()).await.expect("open");
    let author = key("author");
    let batch: Vec<_> = (1..=3).map(|n| signed_event(&author, "s", n)).collect();
    let verified = |events: &[klero_ledger::envelope::SignedAuthorPart]| {
        events.iter().cloned().map(|e| klero_log::VerifiedAuthorPart::verify(e).expect("signed")).collect::<Vec<_>>()
    };
    let first = log.append_decided("s", ExpectedRevision::NoStream, &verified(&batch), 10).await.expect("append");
    assert!(first.iter().all(|e| e.newly_appended));
    // The same events again, as a concurrent retry that the application decided after the
    // original landed: later, on the revision it decided on, or on any.
    let original: Vec<_> =
        first.iter().cloned().map(|e| klero_log::AppendedEvent { newly_appended: false, ..e }).collect();
    for expected in [ExpectedRevision::Exact(2), ExpectedRevision::Any] {
        let again = log.append_decided("s", expected, &verified(&batch), 99).await.expect("a retry");
        assert_eq!(again, original, "the original answer, recording time included");
    }
    assert_eq!(log.size(), 3, "nothing appended twice");
    // The expectation is checked first: a caller passes the revision its decision saw, and the
    // application decides again on a conflict.
    let stale = log.append_decided("s", ExpectedRevision::NoStream, &verified(&batch), 99).await;
    assert!(matches!(stale, Err(LogError::Conflict { .. })), "{stale:?}");

    let mut other = klero_ledger::envelope::AuthorPart::clone(batch[1].author());
    other.payload = b"something else".to_vec();
    let reused = [other.sign(&author).expect("sign")];
    let error = log.append_decided("s", ExpectedRevision::Any, &verified(&reused), 11).await.expect_err("refused");
    assert!(matches!(error, LogError::DuplicateEventId { .. }), "{error}");
    assert_eq!(log.size(), 3, "nothing appended");
}

#[tokio::test]
async fn bad_signatures_conflicts_and_wrong_streams_append_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let log = open_log(directory.path()).await.expect("open");
    let author = key("author");
    log.append(signed_event(&author, "s", 1), ExpectedRevision::NoStream, 10).await.expect("append");

    let good = signed_event(&author, "s", 2);
    let mut signature = *good.signature();
    signature[0] ^= 1;
    let forged =
        klero_ledger::envelope::SignedAuthorPart::from_wire(good.encoding().to_vec(), &signature).expect("well formed");
    assert!(matches!(
        log.append(forged, ExpectedRevision::Any, 11).await,
        Err(LogError::BadSignature { index: 0, .. })
    ));

    match log.append(signed_event(&author, "s", 3), ExpectedRevision::Exact(5), 12).await {
        Err(LogError::Conflict { actual: Some(0), .. }) => {}
        other => panic!("expected a conflict naming revision 0, got {other:?}"),
    }
    let error = log
        .append_batch("t", ExpectedRevision::Any, vec![signed_event(&author, "s", 4)], 13)
        .await
        .expect_err("refused");
    assert!(matches!(error, LogError::InvalidArgument { field: "stream", .. }));
    assert_eq!(log.size(), 1, "no error appended anything");
    assert_eq!(log.store.last_position().await.expect("position"), Some(LogPosition(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_racing_authors_never_fork_the_chain() {
    let directory = tempfile::tempdir().expect("temp dir");
    let log = Arc::new(open_log(directory.path()).await.expect("open"));
    let author = Arc::new(key("author"));
    log.append(signed_event(&author, "race", 0), ExpectedRevision::NoStream, 1).await.expect("append");
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let (log, author) = (log.clone(), author.clone());
        tasks.push(tokio::spawn(async move {
            let (mut wins, mut conflicts) = (0, 0);
            for attempt in 0..15u32 {
                let head = log.stream_head("race").0 - 1;
                let event = signed_event(&author, "race", 1000 * (task + 1) + attempt);
                match log.append(event, ExpectedRevision::Exact(head), 2).await {
                    Ok(appended) => {
                        assert_eq!(appended.stream_revision, head + 1);
                        wins += 1;
                    }
                    Err(LogError::Conflict { actual: Some(actual), .. }) => {
                        assert!(actual > head);
                        conflicts += 1;
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            (wins, conflicts)
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += task.await.expect("task").0;
    }
    assert_eq!(log.size(), wins + 1, "every winner appended once and no loser appended");
    drop(log);
    // Reopening re-checks every chain link and signature from the bytes.
    let reopened = open_log_after_close(directory.path()).await;
    assert_eq!(reopened.size(), wins + 1);
    assert_eq!(reopened.stream_head("race").0, wins + 1, "one event per revision");
}

/// The log follows its own appends from the envelopes it keeps instead of reading them back,
/// and serves recent events from them. Whatever path each took, a log rebuilt from the store
/// alone must hold the same tree, and the same bytes at every leaf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_built_from_kept_envelopes_matches_one_rebuilt_from_the_store() {
    let directory = tempfile::tempdir().expect("temp dir");
    let log = Arc::new(open_log(directory.path()).await.expect("open"));
    assert!(log.store.positions_are_dense(), "the embedded store numbers events densely");
    let author = Arc::new(key("author"));
    // Many appenders at once, so that commits hold several appends whose tasks hand their
    // envelopes over in any order.
    let mut tasks = Vec::new();
    for task in 0..12u32 {
        let (log, author) = (log.clone(), author.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..25u32 {
                let stream = format!("assembly/a{task}/deliberation");
                log.append(signed_event(&author, &stream, task * 100 + n), ExpectedRevision::Any, 7)
                    .await
                    .expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(log.size(), 300);
    let served: Vec<_> = log.events_from(0, 300).await.expect("events");
    let root = log.root().expect("root");
    drop(log);
    let rebuilt = open_log_after_close(directory.path()).await;
    assert_eq!(rebuilt.size(), 300);
    assert_eq!(rebuilt.root().expect("root"), root, "same leaves in the same order");
    let read_back = rebuilt.events_from(0, 300).await.expect("events");
    assert_eq!(served.len(), read_back.len());
    for (kept, stored) in served.iter().zip(&read_back) {
        assert_eq!(kept.leaf_index, stored.leaf_index);
        assert_eq!(kept.event_hash, stored.event_hash, "leaf {}", kept.leaf_index);
        assert_eq!(kept.envelope.bytes(), stored.envelope.bytes(), "leaf {}", kept.leaf_index);
    }
}

async fn open_log_after_close(directory: &std::path::Path) -> OpenLog {
    // The writer thread of a dropped store releases the directory lock once it has stopped.
    for _ in 0..100 {
        match open_log(directory).await {
            Ok(log) => return log,
            Err(LogError::Store(klero_store::StoreError::Unavailable { .. })) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Err(other) => panic!("reopen failed: {other}"),
        }
    }
    panic!("the store was not released within 2 s");
}

#[tokio::test]
async fn a_checkpoint_over_a_tree_the_store_no_longer_holds_is_detected() {
    let directory = tempfile::tempdir().expect("temp dir");
    let author = key("author");
    {
        let log = open_log(directory.path()).await.expect("open");
        for n in 0..10 {
            log.append(signed_event(&author, "s", n), ExpectedRevision::Any, 5).await.expect("append");
        }
        let checkpoint = log.publish_checkpoint().await.expect("checkpoint");
        assert_eq!(checkpoint.checkpoint().tree_size, 10);
        log.store.close().await;
    }
    // Lose the last event, as a restore from an old backup would.
    let segment = directory.path().join("segments").join(klero_store_embedded::segment::segment_file_name(0));
    // The active segment ends in zeros written ahead of its records; cut into the last record.
    let bytes = std::fs::read(&segment).expect("read segment");
    let records_end = bytes.iter().rposition(|&b| b != 0).expect("records") as u64 + 1;
    std::fs::OpenOptions::new().write(true).open(&segment).expect("open").set_len(records_end - 20).expect("cut");
    match open_log(directory.path()).await {
        Err(LogError::CheckpointNotHeld { checkpoint_size: 10, log_size: 9, .. }) => {}
        other => panic!("expected the lost event to be detected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_checkpoint_over_a_rewritten_history_of_the_same_size_is_detected() {
    let directory = tempfile::tempdir().expect("temp dir");
    let author = key("author");
    let log = open_log(directory.path()).await.expect("open");
    for n in 0..4 {
        log.append(signed_event(&author, "s", n), ExpectedRevision::Any, 5).await.expect("append");
    }
    // A checkpoint signed by the same key over a different tree of the same size.
    let foreign = Checkpoint {
        origin: "klero.test/log".into(),
        tree_size: 4,
        root_hash: klero_ledger::Hash256::of(b"another history"),
        stream_heads: None,
    };
    let error = log.check_checkpoint_is_held(&foreign).expect_err("detected");
    assert!(matches!(error, LogError::CheckpointNotHeld { checkpoint_size: 4, log_size: 4, .. }), "{error}");
    log.check_checkpoint_is_held(log.publish_checkpoint().await.expect("checkpoint").checkpoint())
        .expect("own checkpoint is held");
}

/// Several appends checked in one batch: each gets its own answer, and a bad signature in one
/// append never fails another.
#[test]
fn appends_checked_together_each_get_their_own_answer() {
    use klero_ledger::signature::AuthorKey;
    use klero_log::VerifiedAuthorPart;
    let authors = [key("batch author 1"), key("batch author 2")];
    let with_key = |author: &klero_ledger::SigningKey, n: u32, bad: bool| {
        let mut event = signed_event(author, "assembly/batch", n);
        if bad {
            let mut signature = *event.signature();
            signature[40] ^= 1;
            event = klero_ledger::envelope::SignedAuthorPart::from_wire(event.encoding().to_vec(), &signature)
                .expect("parses");
        }
        let key = AuthorKey::from_bytes(&event.author().author_public_key).expect("key");
        (event, key)
    };
    let appends = vec![
        vec![with_key(&authors[0], 1, false), with_key(&authors[0], 2, false)],
        vec![with_key(&authors[1], 3, false), with_key(&authors[1], 4, true), with_key(&authors[1], 5, false)],
        vec![with_key(&authors[0], 6, false)],
        vec![with_key(&authors[1], 7, true)],
    ];
    let answers = VerifiedAuthorPart::verify_appends(appends.clone());
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0].as_ref().map(Vec::len), Ok(2));
    assert_eq!(answers[1].as_ref().map(Vec::len), Err(&1), "the second event of the second append is bad");
    assert_eq!(answers[2].as_ref().map(Vec::len), Ok(1));
    assert_eq!(answers[3].as_ref().map(Vec::len), Err(&0));
    // The all-good appends alone pass in one batch, each with its events in order.
    let good = vec![appends[0].clone(), appends[2].clone()];
    let answers = VerifiedAuthorPart::verify_appends(good);
    let ids: Vec<_> =
        answers.iter().flat_map(|a| a.as_ref().expect("valid")).map(|v| v.signed().author().event_id).collect();
    let expected: Vec<_> =
        [&appends[0][0], &appends[0][1], &appends[2][0]].iter().map(|(e, _)| e.author().event_id).collect();
    assert_eq!(ids, expected);
}

/// The log knows its last recording time, before and after a restart (the application
/// records nothing earlier).
#[tokio::test]
async fn the_last_recording_time_is_known_before_and_after_a_restart() {
    let directory = tempfile::tempdir().expect("temp dir");
    let author = key("author");
    {
        let log = open_log(directory.path()).await.expect("open");
        assert_eq!(log.last_recorded_at_unix_ms(), 0);
        log.append(signed_event(&author, "s", 1), ExpectedRevision::Any, 5_000).await.expect("append");
        log.append(signed_event(&author, "t", 2), ExpectedRevision::Any, 4_000).await.expect("append");
        assert_eq!(log.last_recorded_at_unix_ms(), 5_000, "the latest, not the last appended");
        log.publish_checkpoint().await.expect("checkpoint");
    }
    let log = open_log_after_close(directory.path()).await;
    assert_eq!(log.last_recorded_at_unix_ms(), 5_000);
}
