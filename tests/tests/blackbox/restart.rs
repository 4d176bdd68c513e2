use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::merkle::verify_consistency;
use klero_proto as pb;
use klero_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_event_and_extends_the_same_history() {
    let mut server = TestServer::start().await;
    let cast = Cast::new("restart");
    let r1 = {
        let mut client = server.client().await;
        assembly_with_panel(&mut client, &cast, "restart").await;
        adopted_recommendation(&mut client, &cast, "restart", "R1").await
    };
    let before = server.client().await.checkpoint().await.expect("checkpoint");
    server.restart().await;

    let mut client = server.client().await;
    let after_restart = client.checkpoint().await.expect("checkpoint");
    assert_eq!(
        (after_restart.tree_size, after_restart.root_hash.clone()),
        (before.tree_size, before.root_hash.clone()),
        "same tree after restart"
    );
    // The state came back: the response can name the adoption recorded before the restart.
    append(&mut client, &cast.decision_maker, "restart", &response(&r1.event_hash, pb::response::Decision::Accepted))
        .await;
    let summary = client
        .assemblies()
        .get_assembly(pb::assembly::GetAssemblyRequest { assembly_id: "restart".into() })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(summary.recommendations[0].response_decision, "accepted");
    let keys = client
        .registry()
        .list_keys(pb::registry::ListKeysRequest { assembly_id: "restart".into() })
        .await
        .expect("keys")
        .into_inner();
    assert_eq!(keys.grants.len(), 5);

    let now = client.checkpoint().await.expect("checkpoint");
    let verifier = LogVerifierKey::parse_vkey(&now.verifier_key).expect("vkey");
    let old = verifier.verify(&before.signed_note).expect("old checkpoint");
    let new = verifier.verify(&now.signed_note).expect("new checkpoint");
    let proof = client.consistency_proof(old.checkpoint().tree_size, new.checkpoint().tree_size).await.expect("proof");
    verify_consistency(
        old.checkpoint().tree_size,
        new.checkpoint().tree_size,
        &old.checkpoint().root_hash,
        &new.checkpoint().root_hash,
        &proof,
    )
    .expect("the history after the restart extends the one before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_response_is_still_late_when_retried_after_a_restart() {
    let mut server = TestServer::start().await;
    let cast = Cast::new("late");
    let mut client = server.client().await;
    assembly_with_panel(&mut client, &cast, "late").await;
    let adopted = adopted_recommendation(&mut client, &cast, "late", "R1").await;
    server.advance_clock(60 * DAY_MS);
    let event =
        server.sign_now(&cast.decision_maker, "late", &response(&adopted.event_hash, pb::response::Decision::Accepted));
    let first = client.append(&event, None).await.expect("append");
    assert!(first.late);
    server.restart().await;
    let mut client = server.client().await;
    let retry = client.append(&event, None).await.expect("retry after restart");
    assert_eq!(
        retry,
        pb::ledger::AppendedEvent { newly_appended: false, ..first },
        "the retry reports the original, late, result"
    );
}
