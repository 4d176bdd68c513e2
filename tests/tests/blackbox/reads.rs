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

/// An assembly with 100,000 public submissions: its `input-trace` view outgrows one message
/// (about 25 MB), yet the export (which needs digests only), `StreamView` (the JSON, whole) and
/// the verifier all work; `GetView` of it says what to use instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assembly_of_100000_submissions_exports_and_verifies() {
    const SUBMISSIONS: usize = 100_000;
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("large");
    assembly_with_panel(&mut client, &cast, "large").await;
    let stream = "assembly/large/deliberation";
    let batch = 1_000;
    for first in (0..SUBMISSIONS).step_by(batch) {
        let events: Vec<_> =
            (first..first + batch).map(|n| sign(&cast.facilitator, "large", &submission(format!("s{n}")))).collect();
        client.append_batch(stream, &events, None).await.expect("a batch of submissions");
    }

    let whole = client.view("input-trace", "large").await.expect("StreamView sends any view");
    assert!(whole.json.len() > 8 * 1024 * 1024, "the view is larger than a message: {} bytes", whole.json.len());
    let inputs: serde_json::Value = serde_json::from_str(&whole.json).expect("JSON");
    assert_eq!(inputs["body"]["inputs"].as_array().map(Vec::len), Some(SUBMISSIONS));

    let error = client
        .query()
        .get_view(pb::query::GetViewRequest {
            view: "input-trace".into(),
            assembly_id: "large".into(),
            digest_only: false,
        })
        .await
        .expect_err("too large for one message");
    assert_eq!(error.code(), tonic::Code::OutOfRange, "{}", error.message());
    assert!(error.message().contains("StreamView") && error.message().contains("digest_only"), "{}", error.message());
    let digest_only = client
        .query()
        .get_view(pb::query::GetViewRequest {
            view: "input-trace".into(),
            assembly_id: "large".into(),
            digest_only: true,
        })
        .await
        .expect("a digest alone")
        .into_inner();
    assert_eq!((digest_only.json.as_str(), &digest_only.digest), ("", &whole.digest));

    let export = klero_client::export::export_from_server(&mut client).await.expect("the export never fails on size");
    assert!(export.events.len() > SUBMISSIONS);
    let report = klero_verifier::verify_export(&export, &mut |_, _| {});
    assert!(report.complete(), "{}", report.to_text());
    assert_eq!(report.views_checked, 7, "{}", report.to_text());
}
