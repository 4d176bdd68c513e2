use klero_proto as pb;
use klero_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_return_the_original_result_and_append_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("idem");
    assembly_with_panel(&mut client, &cast, "idem").await;
    let submission = pb::deliberation::PublicSubmissionReceived {
        submitter_id: "s1".into(),
        content_hash: sha("x"),
        received_on: "2026-01-01".into(),
        sealed_text: None,
    };
    let event = sign(&cast.facilitator, "idem", &submission);
    let first = client.append(&event, None).await.expect("append");
    assert!(first.newly_appended);
    let size = server.log_size().await;
    let retry = client.append(&event, None).await.expect("retry");
    assert_eq!(retry, pb::ledger::AppendedEvent { newly_appended: false, ..first.clone() });
    assert_eq!(server.log_size().await, size);

    // A batch retry too, even once the stream has moved on.
    let batch: Vec<_> = (0..5).map(|_| sign(&cast.facilitator, "idem", &submission)).collect();
    let appended = client.append_batch("assembly/idem/deliberation", &batch, None).await.expect("batch");
    append(&mut client, &cast.facilitator, "idem", &submission).await;
    let again = client.append_batch("assembly/idem/deliberation", &batch, None).await.expect("batch retry");
    assert_eq!(
        again.iter().map(|a| a.log_index).collect::<Vec<_>>(),
        appended.iter().map(|a| a.log_index).collect::<Vec<_>>()
    );
    assert!(again.iter().all(|a| !a.newly_appended));
    assert_eq!(server.log_size().await, size + 6);
}

/// The same append sent twice at the same moment, on two connections (a client that retries
/// before its first answer came): it lands once, and both requests get its answer. The second
/// may pass the server's first look for a replay before the first lands, and is then answered
/// when the store refuses its reused ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_append_sent_twice_at_once_lands_once_and_both_get_its_answer() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("twice");
    assembly_with_panel(&mut client, &cast, "twice").await;
    let before = server.log_size().await;
    let (mut one, mut two) = (server.client().await, server.client().await);
    const ROUNDS: usize = 24;
    for round in 0..ROUNDS {
        let batch: Vec<_> = (0..5)
            .map(|n| {
                let submission = pb::deliberation::PublicSubmissionReceived {
                    submitter_id: format!("r{round}n{n}"),
                    content_hash: sha(&format!("{round}-{n}")),
                    received_on: "2026-01-01".into(),
                    sealed_text: None,
                };
                sign(&cast.facilitator, "twice", &submission)
            })
            .collect();
        let stream = "assembly/twice/deliberation";
        let (first, second) =
            tokio::join!(one.append_batch(stream, &batch, None), two.append_batch(stream, &batch, None));
        let (first, second) = (first.expect("one lands"), second.expect("the other is answered as a retry"));
        let fields = |answer: &[pb::ledger::AppendedEvent]| {
            answer.iter().map(|a| (a.log_index, a.event_hash.clone(), a.recorded_at_unix_ms)).collect::<Vec<_>>()
        };
        assert_eq!(fields(&first), fields(&second), "round {round}: both get the one answer");
        let newly = [&first, &second].map(|answer| answer.iter().all(|a| a.newly_appended));
        assert_eq!(newly.iter().filter(|n| **n).count(), 1, "round {round}: exactly one appended: {newly:?}");
    }
    assert_eq!(server.log_size().await, before + (ROUNDS * 5) as u64, "every batch once");
}

/// The same grant sent twice at once: a grant of a role its key already holds is refused by the
/// rules (`registry.grant_not_duplicate`), so a retry that is decided after the original landed
/// must be answered as the retry it is, never refused as a duplicate grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_the_rules_would_refuse_once_the_original_landed_gets_the_original_answer() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("grants");
    assembly_with_panel(&mut client, &cast, "grants").await;
    let before = server.log_size().await;
    let (mut one, mut two) = (server.client().await, server.client().await);
    const ROUNDS: usize = 16;
    for round in 0..ROUNDS {
        let grant = pb::registry::KeyGranted {
            public_key: klero_client::Author::new(key(&format!("reader {round}"))).public_key().to_vec(),
            role: pb::registry::Role::Facilitator as i32,
            scope: "grants".into(),
            holder_title: format!("facilitator {round}"),
        };
        let event = sign(&cast.council, "grants", &grant);
        let (first, second) = tokio::join!(one.append(&event, None), two.append(&event, None));
        let (first, second) = (first.expect("one lands"), second.expect("the other is answered as a retry"));
        assert_eq!(
            (first.log_index, &first.event_hash),
            (second.log_index, &second.event_hash),
            "round {round}: both get the one answer"
        );
        assert!(first.newly_appended != second.newly_appended, "round {round}: exactly one appended");
    }
    assert_eq!(server.log_size().await, before + ROUNDS as u64, "every grant once");
}
