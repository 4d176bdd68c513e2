use klero_tests::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_ledger_serving() {
    let server = TestServer::start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url()).expect("url").connect().await.expect("connect");
    let mut health = HealthClient::new(channel);
    let reply = health
        .check(HealthCheckRequest { service: "klero.ledger.v1.Ledger".into() })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(reply.status, ServingStatus::Serving as i32);
    let unknown =
        health.check(HealthCheckRequest { service: "no.such.Service".into() }).await.expect_err("unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}
