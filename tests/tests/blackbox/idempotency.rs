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
