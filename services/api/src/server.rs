//! Serving: the Kleroterion services (ledger, registry, assemblies, query, selection) plus
//! standard health and reflection, with limits on connections, concurrent requests, message
//! sizes and request time. [`GrpcFrontEnd`] is the gRPC front end of the application core.

use crate::service::GrpcServices;
use klero_application::{Application, FrontEnd, FrontEndError, Shutdown};
use klero_connections::{ConnectionLimits, TrackRequestsLayer};
use klero_proto as pb;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Limits on what clients may ask of the server.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Open connections. At the limit a new connection sheds the longest idle one (see
    /// `klero-connections`), or is closed if every connection is busy.
    pub connections_max: usize,
    /// Time a new connection has to finish its TLS handshake, if any, and send the HTTP/2
    /// preface and its first SETTINGS frame.
    pub handshake_timeout: Duration,
    /// Time a connection may go with no request in progress before it is closed.
    pub idle_timeout: Duration,
    /// At the connection limit, only a connection idle this long may be shed.
    pub shed_idle_min: Duration,
    /// HTTP/2 PING interval; a peer that does not answer within `keepalive_timeout` is closed.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Requests in flight on one connection.
    pub concurrent_requests_per_connection: usize,
    /// HTTP/2 streams per connection.
    pub concurrent_streams_per_connection: u32,
    /// Largest request or response message.
    pub message_bytes_max: usize,
    /// Longest a unary request may run.
    pub request_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            connections_max: 1_024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            shed_idle_min: Duration::from_secs(1),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            concurrent_requests_per_connection: 256,
            concurrent_streams_per_connection: 256,
            // A full batch of maximum-size events would be larger; the store's per-append
            // byte limit (16 MiB) is the real bound, and 8 MiB keeps memory per request modest.
            message_bytes_max: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The gRPC front end: serves the core on `listener` until shutdown.
#[derive(Debug)]
pub struct GrpcFrontEnd {
    pub listener: TcpListener,
    pub limits: ServerLimits,
    /// Serve over TLS (rustls with ring), optionally requiring client certificates.
    pub tls: Option<klero_application::ServerTls>,
}

#[tonic::async_trait]
impl FrontEnd for GrpcFrontEnd {
    fn name(&self) -> &'static str {
        "grpc"
    }

    async fn serve(self: Box<Self>, application: Arc<Application>, shutdown: Shutdown) -> Result<(), FrontEndError> {
        serve(self.listener, application, self.limits, self.tls, shutdown.signalled()).await
    }
}

/// The `grpc.health.v1` service name of appends: `SERVING` until the store fails to write.
pub const APPEND_HEALTH_SERVICE: &str = "klero.ledger.v1.Ledger.Append";

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish and
/// returns.
pub async fn serve(
    listener: TcpListener,
    application: Arc<Application>,
    limits: ServerLimits,
    tls: Option<klero_application::ServerTls>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), FrontEndError> {
    let documents = pb::documents::documents_server::DocumentsServer::new(crate::documents::DocumentsService::new(
        application.clone(),
    ))
    .max_decoding_message_size(limits.message_bytes_max)
    .max_encoding_message_size(limits.message_bytes_max);
    let mut write_failures = application.write_failures();
    let service = Arc::new(GrpcServices::new(application));
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<pb::ledger::ledger_server::LedgerServer<GrpcServices>>().await;
    // Appends have their own health entry: after a storage failure the store writes nothing
    // more (fail-stop), so appends are NOT_SERVING while reads and proofs stay SERVING.
    health_reporter.set_service_status(APPEND_HEALTH_SERVICE, tonic_health::ServingStatus::Serving).await;
    let append_health = health_reporter.clone();
    tokio::spawn(async move {
        while write_failures.changed().await.is_ok() {
            if write_failures.borrow_and_update().is_some() {
                append_health.set_service_status(APPEND_HEALTH_SERVICE, tonic_health::ServingStatus::NotServing).await;
                return;
            }
        }
    });
    // Reflection in both versions: grpc.reflection.v1, and v1alpha, which many tools still
    // speak (Python's grpcio-reflection among them). Each builder adds its own version's
    // descriptors; it is given the other's, so both list the same services.
    let reflection_builder = |other_reflection_version: &'static [u8]| {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(other_reflection_version)
    };
    let reflection = reflection_builder(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .inspect_err(|e| tracing::error!(error = %e, "reflection v1 is off: its service could not be built"));
    let reflection_v1alpha = reflection_builder(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .inspect_err(|e| tracing::error!(error = %e, "reflection v1alpha is off: its service could not be built"));
    let ledger = pb::ledger::ledger_server::LedgerServer::from_arc(service.clone())
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let registry = pb::registry::registry_server::RegistryServer::from_arc(service.clone())
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let assemblies = pb::assembly::assemblies_server::AssembliesServer::from_arc(service.clone())
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let query = pb::query::query_server::QueryServer::from_arc(service.clone())
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let selection =
        pb::selection::selection_server::SelectionServer::new(crate::selection::SelectionService::default())
            .max_decoding_message_size(limits.message_bytes_max)
            .max_encoding_message_size(limits.message_bytes_max);
    let mut router = tonic::transport::Server::builder()
        .layer(TrackRequestsLayer::new(crate::connections::connection_of))
        .layer(tower::util::MapResponseLayer::new(name_request_errors_rightly))
        // Flow-control windows that grow with the measured bandwidth-delay product, instead of
        // HTTP/2's fixed 64 KiB: documents of megabytes otherwise wait on a window update every
        // 64 KiB. The windows grow only while data flows.
        .http2_adaptive_window(Some(true))
        // Frames of up to 1 MiB, not 16 KiB: a document chunk arrives in a few frames
        // instead of 64, each with its own header to parse and wake-up to schedule.
        .max_frame_size(Some(1024 * 1024))
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .concurrency_limit_per_connection(limits.concurrent_requests_per_connection)
        .max_concurrent_streams(Some(limits.concurrent_streams_per_connection))
        .timeout(limits.request_timeout)
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(ledger)
        .add_service(registry)
        .add_service(assemblies)
        .add_service(query)
        .add_service(selection)
        .add_service(documents);
    if let Ok(reflection) = reflection {
        router = router.add_service(reflection);
    }
    if let Ok(reflection) = reflection_v1alpha {
        router = router.add_service(reflection);
    }
    let limits = ConnectionLimits {
        connections_max: limits.connections_max,
        handshake_timeout: limits.handshake_timeout,
        handshake_bytes: klero_connections::HTTP2_HANDSHAKE_BYTES,
        idle_timeout: limits.idle_timeout,
        shed_idle_min: limits.shed_idle_min,
    };
    let tls = tls.map(|tls| klero_connections::tls_config(pem(&tls), &[b"h2"])).transpose()?;
    let connections = klero_connections::accept(listener, limits, tls)?;
    Ok(router.serve_with_incoming_shutdown(crate::connections::incoming(connections), shutdown).await?)
}

/// tonic answers a request body that is not protobuf (or holds a string that is not UTF-8) with
/// INTERNAL, and one over the size limit with OUT_OF_RANGE. Both are the client's fault, and
/// docs/API.md promises INVALID_ARGUMENT and RESOURCE_EXHAUSTED, so the status is rewritten on
/// the way out. Only these two messages of tonic's decoder are touched.
fn name_request_errors_rightly(mut response: http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> {
    let Some(status) = tonic::Status::from_header_map(response.headers()) else { return response };
    let renamed = match status.code() {
        tonic::Code::Internal if status.message().starts_with("failed to decode Protobuf message") => {
            tonic::Status::invalid_argument(format!(
                "invalid argument: the request is not a valid message: {}",
                status.message()
            ))
        }
        tonic::Code::OutOfRange if status.message().contains("decoded message length too large") => {
            tonic::Status::resource_exhausted(format!("limit exceeded: message size: {}", status.message()))
        }
        _ => return response,
    };
    let headers = response.headers_mut();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    if renamed.add_header(headers).is_err() {
        tracing::warn!("a request error could not be renamed");
    }
    response
}

/// The core's TLS material as the connection stack reads it.
fn pem(tls: &klero_application::ServerTls) -> klero_connections::TlsPem<'_> {
    klero_connections::TlsPem { cert: &tls.cert_pem, key: &tls.key_pem, client_ca: tls.client_ca_pem.as_deref() }
}
