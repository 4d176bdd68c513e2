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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_every_kleroterion_service() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let server = TestServer::start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url()).expect("url").connect().await.expect("connect");
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies =
        reflection.server_reflection_info(tokio_stream_once(request)).await.expect("reflection").into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("expected a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "klero.ledger.v1.Ledger",
        "klero.registry.v1.Registry",
        "klero.assembly.v1.Assemblies",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

/// A request stream holding one message.
fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(std::iter::once(item))
}

/// The Python that has grpcio and grpcio-reflection: `KLERO_TEST_PYTHON`, or the virtual
/// environment `scripts/test` makes in target/test-venv.
fn python_with_grpc() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("KLERO_TEST_PYTHON") {
        return python.into();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_serves_both_versions_to_a_python_client() {
    let server = TestServer::start().await;
    append(&mut server.client().await, &Cast::new("python").council, "python", &pb_grant_for_python()).await;
    let python = python_with_grpc();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reflection_client.py");
    let address = server.url().trim_start_matches("http://").to_string();
    let output =
        tokio::task::spawn_blocking(move || std::process::Command::new(&python).arg(script).arg(address).output())
            .await
            .expect("join")
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}; run scripts/test, which installs grpcio and grpcio-reflection",
                    python_with_grpc().display()
                )
            });
    assert!(
        output.status.success(),
        "the Python reflection client failed (scripts/test installs what it needs):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for version in ["v1alpha_services", "v1_services"] {
        let names: Vec<&str> = result[version].as_array().expect(version).iter().filter_map(|n| n.as_str()).collect();
        for expected in [
            "klero.ledger.v1.Ledger",
            "klero.registry.v1.Registry",
            "klero.assembly.v1.Assemblies",
            "klero.query.v1.Query",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            assert!(names.contains(&expected), "{version}: {expected} missing from {names:?}");
        }
    }
    let methods = result["v1alpha_ledger_methods"].as_array().expect("methods");
    assert!(methods.iter().any(|m| m == "GetStreamHead"), "{methods:?}");
    assert_eq!(result["v1_ledger_files"], serde_json::json!(["klero/ledger/v1/ledger.proto"]));
    // A call built only from reflected descriptors got the real checkpoint.
    assert_eq!(result["checkpoint_tree_size"], serde_json::json!(server.log_size().await));
    let fields = result["checkpoint_fields"].as_array().expect("fields");
    assert!(fields.iter().any(|f| f == "signed_note"), "{fields:?}");
}

/// One event, so the checkpoint the Python client reads is not empty.
fn pb_grant_for_python() -> klero_proto::registry::KeyGranted {
    klero_proto::registry::KeyGranted {
        public_key: Cast::new("python").facilitator.public_key().to_vec(),
        role: klero_proto::registry::Role::Facilitator as i32,
        scope: "*".into(),
        holder_title: "Facilitator".into(),
    }
}
