use klero_proto as pb;
use klero_tests::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_catches_up_then_follows_live_appends_without_gap_or_duplicate() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = std::sync::Arc::new(Cast::new("reads"));
    assembly_with_panel(&mut client, &cast, "reads").await;
    let history = server.log_size().await;

    let mut subscription = client
        .ledger()
        .subscribe(pb::ledger::SubscribeRequest { from_log_index: 0 })
        .await
        .expect("subscribe")
        .into_inner();
    let writer = {
        let (url, cast) = (server.url(), cast.clone());
        tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            for n in 0..40 {
                let submission = pb::deliberation::PublicSubmissionReceived {
                    submitter_id: format!("s{n}"),
                    content_hash: sha("x"),
                    received_on: "2026-01-01".into(),
                    sealed_text: None,
                };
                client.append(&sign(&cast.facilitator, "reads", &submission), None).await.expect("append");
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < history as usize + 40 {
        let event = tokio::time::timeout(Duration::from_secs(20), subscription.message())
            .await
            .expect("in time")
            .expect("stream ok")
            .expect("event");
        seen.push(event);
    }
    writer.await.expect("writer");
    assert!(
        seen.iter().enumerate().all(|(i, e)| e.log_index == i as u64),
        "log indexes run 0, 1, 2, … with no gap or duplicate"
    );
    let log = client
        .ledger()
        .read_log(pb::ledger::ReadLogRequest { from_log_index: 0, max_count: 1000 })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(log.events, seen, "the subscription delivered exactly the log");
    // Reading in pages gives the same events.
    let page = client
        .ledger()
        .read_log(pb::ledger::ReadLogRequest { from_log_index: 10, max_count: 5 })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(page.events, seen[10..15]);
}
