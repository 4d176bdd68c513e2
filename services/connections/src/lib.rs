//! One way in for every front end (gRPC and the public pages): at most `connections_max`
//! connections open, TLS when asked for, and none of them held by doing nothing.
//!
//! - A connection must finish its TLS handshake, if any, and send its protocol's first bytes
//!   (`handshake_bytes`: HTTP/2's preface and SETTINGS header, or an HTTP/1.1 request line)
//!   within the handshake timeout, or it is closed.
//! - A connection with no request in progress for the idle timeout is closed.
//! - At the limit, a new connection sheds the connection that has been idle longest (one that
//!   never finished its handshake first), if any has been idle for at least `shed_idle_min`;
//!   if every connection is busy, the new one is closed at once and its client retries.
//!
//! A connection is closed by making its reads end (EOF) and its writes fail, which makes the
//! HTTP server drop it; its slot is free from that moment. Requests are counted per
//! connection by [`TrackRequestsLayer`], from arrival until the response body ends (so a
//! subscription or a long download counts as long as it streams).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// The HTTP/2 client preface (24 bytes) and the header of its SETTINGS frame (9 bytes).
pub const HTTP2_HANDSHAKE_BYTES: u64 = 24 + 9;
/// The shortest HTTP/1.1 request line, `GET / HTTP/1.1` and its line end.
pub const HTTP1_HANDSHAKE_BYTES: u64 = 16;

/// When connections are refused, shed or closed for doing nothing.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub connections_max: usize,
    /// How long a connection has to finish its TLS handshake and send `handshake_bytes`.
    pub handshake_timeout: Duration,
    /// Bytes of its protocol a connection sends before its handshake counts as done.
    pub handshake_bytes: u64,
    pub idle_timeout: Duration,
    /// At the limit, only a connection idle this long may be shed for a new one.
    pub shed_idle_min: Duration,
}

/// What the server knows of one connection's use.
#[derive(Debug)]
struct Activity {
    id: u64,
    accepted_at: Instant,
    handshake_bytes: u64,
    bytes_read: AtomicU64,
    requests_in_progress: AtomicUsize,
    /// When the last request ended or began, in ms after `accepted_at`.
    last_request_ms: AtomicU64,
    closing: AtomicBool,
    read_waker: Mutex<Option<Waker>>,
    /// Wakes a TLS handshake in progress when the connection is closed.
    closed: tokio::sync::Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves nothing half-done; carry on.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Activity {
    fn new(id: u64, handshake_bytes: u64) -> Activity {
        Activity {
            id,
            accepted_at: Instant::now(),
            handshake_bytes,
            bytes_read: AtomicU64::new(0),
            requests_in_progress: AtomicUsize::new(0),
            last_request_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            read_waker: Mutex::new(None),
            closed: tokio::sync::Notify::new(),
        }
    }

    fn handshake_done(&self) -> bool {
        self.bytes_read.load(Ordering::Relaxed) >= self.handshake_bytes
            || self.requests_in_progress.load(Ordering::Acquire) > 0
    }

    /// How long the connection has had no request in progress; `None` while one is.
    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.requests_in_progress.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = self.accepted_at + Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed));
        Some(now.saturating_duration_since(last))
    }

    fn touch(&self) {
        self.last_request_ms.store(self.accepted_at.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Ends the connection's reads and fails its writes; the HTTP server then drops it.
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.closed.notify_waiters();
        if let Some(waker) = lock(&self.read_waker).take() {
            waker.wake();
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

/// The open connections.
#[derive(Debug, Default)]
struct Table {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Table {
    /// The connection to shed for a new one: never-handshaken before handshaken, then the
    /// longest idle; only one idle for at least `idle_min`.
    fn victim(open: &HashMap<u64, Arc<Activity>>, now: Instant, idle_min: Duration) -> Option<Arc<Activity>> {
        open.values()
            .filter(|activity| !activity.is_closing())
            .filter_map(|activity| activity.idle_for(now).filter(|idle| *idle >= idle_min).map(|idle| (activity, idle)))
            .max_by_key(|(activity, idle)| (!activity.handshake_done(), *idle, std::cmp::Reverse(activity.id)))
            .map(|(activity, _)| activity.clone())
    }

    /// Closes connections past their handshake or idle timeout.
    fn sweep(&self, limits: &ConnectionLimits) {
        let now = Instant::now();
        let mut open = lock(&self.open);
        open.retain(|_, activity| {
            let late_handshake =
                !activity.handshake_done() && now.duration_since(activity.accepted_at) >= limits.handshake_timeout;
            let idle = activity.idle_for(now).is_some_and(|idle| idle >= limits.idle_timeout);
            if late_handshake || idle {
                activity.close();
                return false;
            }
            true
        });
    }

    /// Takes a slot for `activity`, shedding the idlest connection at the limit; false when
    /// every connection is busy.
    fn admit(&self, activity: &Arc<Activity>, limits: &ConnectionLimits) -> bool {
        let mut open = lock(&self.open);
        if open.len() >= limits.connections_max {
            match Table::victim(&open, Instant::now(), limits.shed_idle_min) {
                Some(victim) => {
                    victim.close();
                    open.remove(&victim.id);
                }
                None => return false,
            }
        }
        open.insert(activity.id, activity.clone());
        true
    }
}

/// A front end's TLS material, as PEM.
#[derive(Clone, Copy)]
pub struct TlsPem<'a> {
    /// The certificate chain, leaf first.
    pub cert: &'a [u8],
    pub key: &'a [u8],
    /// With it, clients must present a certificate issued by this CA.
    pub client_ca: Option<&'a [u8]>,
}

impl std::fmt::Debug for TlsPem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("TlsPem").field("client_ca", &self.client_ca.is_some()).finish_non_exhaustive()
    }
}

/// The one rustls configuration of a front end: its certificate chain and key, the client CA
/// if given, and the protocols it speaks (`h2` for gRPC, `http/1.1` for the pages).
pub fn tls_config(tls: TlsPem<'_>, protocols: &[&[u8]]) -> std::io::Result<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certificates = CertificateDer::pem_slice_iter(tls.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("the TLS certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key).map_err(|e| invalid("the TLS key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", &e))?;
    let builder = match tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(ca) {
                roots
                    .add(certificate.map_err(|e| invalid("the client CA", &e))?)
                    .map_err(|e| invalid("the client CA", &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid("the client CA", &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certificates, key).map_err(|e| invalid("the TLS certificate", &e))?;
    config.alpn_protocols = protocols.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Connections accepted under the limits, ready for an HTTP server (handshaken, with TLS).
#[derive(Debug)]
pub struct Incoming {
    connections: tokio::sync::mpsc::Receiver<Connection>,
    local_addr: SocketAddr,
}

impl Incoming {
    /// The next connection; `None` only if the accepting task ended.
    pub async fn next(&mut self) -> Option<Connection> {
        self.connections.recv().await
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = std::io::Result<Connection>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.connections.poll_recv(cx).map(|connection| connection.map(Ok))
    }
}

/// Accepts connections on `listener` under `limits`, handshakes TLS on a task of its own for
/// each (so a slow or silent client never holds up the others), and hands them over.
pub fn accept(
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Incoming> {
    let local_addr = listener.local_addr()?;
    let table = Arc::new(Table::default());
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let sweep_every = (limits.handshake_timeout.min(limits.idle_timeout) / 4).max(Duration::from_millis(50));
    let weak: Weak<Table> = Arc::downgrade(&table);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(sweep_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(table) = weak.upgrade() else { return };
            table.sweep(&limits);
        }
    });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        let mut next_id = 0u64;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = sender.closed() => return, // the server stopped
            };
            let (stream, remote_addr) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin, then go on accepting.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            next_id += 1;
            let activity = Arc::new(Activity::new(next_id, limits.handshake_bytes));
            if !table.admit(&activity, &limits) {
                tracing::warn!(
                    connections = limits.connections_max,
                    "every connection is busy; a new one is closed and its client will retry"
                );
                continue; // dropping the stream closes it
            }
            let connection = Connection { io: Io::Tcp(stream), activity, table: Arc::downgrade(&table), remote_addr };
            match &acceptor {
                None => {
                    if sender.send(connection).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let (acceptor, sender) = (acceptor.clone(), sender.clone());
                    tokio::spawn(handshake(connection, acceptor, sender, limits.handshake_timeout));
                }
            }
        }
    });
    Ok(Incoming { connections: receiver, local_addr })
}

/// A TLS handshake, given up when it takes longer than `timeout` or the connection is shed.
async fn handshake(
    mut connection: Connection,
    acceptor: tokio_rustls::TlsAcceptor,
    sender: tokio::sync::mpsc::Sender<Connection>,
    timeout: Duration,
) {
    let Io::Tcp(stream) = std::mem::replace(&mut connection.io, Io::Closed) else { return };
    let activity = connection.activity.clone();
    let closed = activity.closed.notified();
    let remote_addr = connection.remote_addr;
    tokio::select! {
        handshaken = tokio::time::timeout(timeout, acceptor.accept(stream)) => match handshaken {
            Ok(Ok(stream)) if !activity.is_closing() => {
                connection.io = Io::Tls(Box::new(stream));
                let _ = sender.send(connection).await;
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(%error, %remote_addr, "a TLS handshake failed"),
            Err(_) => tracing::debug!(%remote_addr, "a TLS handshake timed out"),
        },
        _ = closed => tracing::debug!(%remote_addr, "a TLS handshake was shed for a new connection"),
    }
}

#[derive(Debug)]
enum Io {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Handed to a TLS handshake that did not finish.
    Closed,
}

/// A connection whose use the server watches. It gives its slot back when dropped.
#[derive(Debug)]
pub struct Connection {
    io: Io,
    activity: Arc<Activity>,
    table: Weak<Table>,
    remote_addr: SocketAddr,
}

impl Connection {
    /// What each request on this connection carries, for [`TrackRequestsLayer`].
    pub fn info(&self) -> ConnectionInfo {
        ConnectionInfo { remote_addr: self.remote_addr, activity: self.activity.clone() }
    }

    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            lock(&table.open).remove(&self.activity.id);
        }
    }
}

/// A connection's address and use, which a front end puts in each request's extensions.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub remote_addr: SocketAddr,
    activity: Arc<Activity>,
}

fn closed_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection closed by the server's connection limits")
}

impl Io {
    fn pinned(&mut self) -> Option<Pin<&mut dyn AsyncReadWrite>> {
        match self {
            Io::Tcp(stream) => Some(Pin::new(stream)),
            Io::Tls(stream) => Some(Pin::new(stream.as_mut())),
            Io::Closed => None,
        }
    }
}

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> AsyncReadWrite for T {}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.activity.is_closing() {
            return Poll::Ready(Ok(())); // end of stream
        }
        let Some(io) = this.io.pinned() else { return Poll::Ready(Ok(())) };
        let filled_before = buf.filled().len();
        match io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = (buf.filled().len() - filled_before) as u64;
                this.activity.bytes_read.fetch_add(read, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                *lock(&this.activity.read_waker) = Some(cx.waker().clone());
                // Closed between the read and the waker's registration: end now.
                if this.activity.is_closing() {
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.activity.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
        match self.io.pinned() {
            Some(io) => io.poll_write(cx, buf),
            None => Poll::Ready(Err(closed_error())),
        }
    }
    // Vectored writes let the HTTP server send a response's frames in one writev instead of
    // copying them into one buffer first.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.activity.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
        match self.io.pinned() {
            Some(io) => io.poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(closed_error())),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tcp(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
            Io::Closed => false,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io.pinned() {
            Some(io) => io.poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io.pinned() {
            Some(io) => io.poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// Counts each request against its connection from arrival until its response body ends.
/// `find` reads the connection's [`ConnectionInfo`] from the request's extensions, where the
/// front end's server put it.
#[derive(Clone, Copy, Debug)]
pub struct TrackRequestsLayer {
    find: fn(&http::Extensions) -> Option<&ConnectionInfo>,
}

impl TrackRequestsLayer {
    pub fn new(find: fn(&http::Extensions) -> Option<&ConnectionInfo>) -> TrackRequestsLayer {
        TrackRequestsLayer { find }
    }
}

impl<S> tower::Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;
    fn layer(&self, inner: S) -> TrackRequests<S> {
        TrackRequests { inner, find: self.find }
    }
}

#[derive(Clone, Debug)]
pub struct TrackRequests<S> {
    inner: S,
    find: fn(&http::Extensions) -> Option<&ConnectionInfo>,
}

/// One request in progress; its drop ends it.
#[derive(Debug)]
struct InProgress(Arc<Activity>);

impl InProgress {
    fn begin(activity: Arc<Activity>) -> InProgress {
        activity.requests_in_progress.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        InProgress(activity)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.touch();
        self.0.requests_in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for TrackRequests<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<BodyInProgress<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let in_progress = (self.find)(request.extensions()).map(|info| InProgress::begin(info.activity.clone()));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| BodyInProgress { body, _in_progress: in_progress }))
        })
    }
}

/// A response body that holds its request's place until it ends or is dropped.
#[derive(Debug)]
pub struct BodyInProgress<B> {
    body: B,
    _in_progress: Option<InProgress>,
}

impl<B: http_body::Body + Unpin> http_body::Body for BodyInProgress<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
