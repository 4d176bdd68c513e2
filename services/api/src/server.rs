//! Serving: the Kleroterion services (ledger, registry, assemblies, query, selection) plus
//! standard health and reflection, with limits on connections, concurrent requests, message
//! sizes and request time. [`GrpcFrontEnd`] is the gRPC front end of the application core.

use crate::service::GrpcServices;
use klero_application::{Application, FrontEnd, FrontEndError, Shutdown};
use klero_proto as pb;
use klero_store::EventStore;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Limits on what clients may ask of the server.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Open connections; further clients wait in the accept queue.
    pub connections_max: usize,
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
}

#[tonic::async_trait]
impl<S: EventStore> FrontEnd<S> for GrpcFrontEnd {
    fn name(&self) -> &'static str {
        "grpc"
    }

    async fn serve(self: Box<Self>, application: Arc<Application<S>>, shutdown: Shutdown) -> Result<(), FrontEndError> {
        serve(self.listener, application, self.limits, shutdown.signalled())
            .await
            .map_err(|e| -> FrontEndError { Box::new(e) })
    }
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish and
/// returns.
pub async fn serve<S: EventStore>(
    listener: TcpListener,
    application: Arc<Application<S>>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = Arc::new(GrpcServices::new(application));
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<pb::ledger::ledger_server::LedgerServer<GrpcServices<S>>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .inspect_err(|e| tracing::error!(error = %e, "reflection is off: its service could not be built"));
    let ledger = pb::ledger::ledger_server::LedgerServer::from_arc(service.clone())
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let registry = pb::registry::registry_server::RegistryServer::from_arc(service.clone());
    let assemblies = pb::assembly::assemblies_server::AssembliesServer::from_arc(service.clone());
    let query = pb::query::query_server::QueryServer::from_arc(service.clone())
        .max_encoding_message_size(limits.message_bytes_max);
    let selection =
        pb::selection::selection_server::SelectionServer::new(crate::selection::SelectionService::default())
            .max_decoding_message_size(limits.message_bytes_max)
            .max_encoding_message_size(limits.message_bytes_max);
    let mut router = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(limits.concurrent_requests_per_connection)
        .max_concurrent_streams(Some(limits.concurrent_streams_per_connection))
        .timeout(limits.request_timeout)
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(ledger)
        .add_service(registry)
        .add_service(assemblies)
        .add_service(query)
        .add_service(selection);
    if let Ok(reflection) = reflection {
        router = router.add_service(reflection);
    }
    router.serve_with_incoming_shutdown(limited_incoming(listener, limits.connections_max), shutdown).await
}

/// Accepts connections while fewer than `connections_max` are open.
fn limited_incoming(
    listener: TcpListener,
    connections_max: usize,
) -> impl tokio_stream::Stream<Item = std::io::Result<LimitedConnection>> {
    let permits = Arc::new(Semaphore::new(connections_max));
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            let accepted = listener.accept().await.map(|(stream, _)| {
                let _ = stream.set_nodelay(true);
                LimitedConnection { stream, _permit: permit }
            });
            if sender.send(accepted).await.is_err() {
                return; // the server stopped
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// A TCP connection that holds one of the server's connection permits until it closes.
#[derive(Debug)]
pub struct LimitedConnection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Connected for LimitedConnection {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    // Vectored writes let hyper send a response's frames in one writev instead of copying them
    // into one buffer first.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
