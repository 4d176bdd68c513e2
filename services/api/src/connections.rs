//! gRPC over the one connection stack (`klero-connections`): each accepted connection as tonic
//! takes it, with its [`ConnectionInfo`] in every request's extensions so that requests are
//! counted against it.

use klero_connections::{Connection, ConnectionInfo, Incoming};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// A connection from the stack, as tonic serves it.
#[derive(Debug)]
pub struct GrpcConnection(Connection);

impl Connected for GrpcConnection {
    type ConnectInfo = ConnectionInfo;
    fn connect_info(&self) -> ConnectionInfo {
        self.0.info()
    }
}

/// The stack's connections as tonic's incoming stream.
pub fn incoming(connections: Incoming) -> impl tokio_stream::Stream<Item = std::io::Result<GrpcConnection>> {
    tokio_stream::StreamExt::map(connections, |connection| connection.map(GrpcConnection))
}

/// Where tonic puts a connection's info: in each request's extensions, as itself.
pub fn connection_of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
    extensions.get::<ConnectionInfo>()
}

impl AsyncRead for GrpcConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
