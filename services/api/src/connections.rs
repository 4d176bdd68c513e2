//! Connections: at most `connections_max` open, and none of them can be held by doing nothing.
//!
//! - A connection must send the HTTP/2 preface and its first SETTINGS frame within the
//!   handshake timeout, or it is closed.
//! - A connection with no request in progress for the idle timeout is closed.
//! - HTTP/2 keepalive (set on the server, see `server.rs`) closes peers that stop answering
//!   pings.
//! - At the limit, a new connection sheds the connection that has been idle longest (one that
//!   never finished its handshake first), if any has been idle for at least `shed_idle_min`;
//!   if every connection is busy, the new one is closed at once and its client retries.
//!
//! A connection is closed by making its reads end (EOF) and its writes fail, which makes hyper
//! drop it; its slot is free from that moment. Requests are counted per connection by
//! [`TrackRequestsLayer`], from arrival until the response body ends (so a subscription
//! counts as long as it streams).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::Connected;

/// The HTTP/2 client preface (24 bytes) and the header of its SETTINGS frame (9 bytes): a
/// connection that has sent fewer bytes has not finished its handshake.
const HANDSHAKE_BYTES: u64 = 24 + 9;

/// When connections are closed for doing nothing.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionPolicy {
    pub connections_max: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    /// At the limit, only a connection idle this long may be shed for a new one.
    pub shed_idle_min: Duration,
}

/// What the server knows of one connection's use.
#[derive(Debug)]
pub struct Activity {
    id: u64,
    accepted_at: Instant,
    bytes_read: AtomicU64,
    requests_in_progress: AtomicUsize,
    /// When the last request ended or began, in ms after `accepted_at`.
    last_request_ms: AtomicU64,
    closing: AtomicBool,
    read_waker: Mutex<Option<Waker>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves nothing half-done; carry on.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Activity {
    fn new(id: u64) -> Activity {
        Activity {
            id,
            accepted_at: Instant::now(),
            bytes_read: AtomicU64::new(0),
            requests_in_progress: AtomicUsize::new(0),
            last_request_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            read_waker: Mutex::new(None),
        }
    }

    fn handshake_done(&self) -> bool {
        self.bytes_read.load(Ordering::Relaxed) >= HANDSHAKE_BYTES
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

    /// Ends the connection's reads and fails its writes; hyper then drops it.
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
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
    shed: AtomicU64,
    timed_out: AtomicU64,
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
    fn sweep(&self, policy: &ConnectionPolicy) {
        let now = Instant::now();
        let mut open = lock(&self.open);
        open.retain(|_, activity| {
            let late_handshake =
                !activity.handshake_done() && now.duration_since(activity.accepted_at) >= policy.handshake_timeout;
            let idle = activity.idle_for(now).is_some_and(|idle| idle >= policy.idle_timeout);
            if late_handshake || idle {
                activity.close();
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            true
        });
    }
}

/// Accepts connections under `policy` and hands them to the server.
pub fn incoming(
    listener: TcpListener,
    policy: ConnectionPolicy,
) -> impl tokio_stream::Stream<Item = std::io::Result<TrackedConnection>> {
    let table = Arc::new(Table::default());
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let sweep_every = (policy.handshake_timeout.min(policy.idle_timeout) / 4).max(Duration::from_millis(50));
    let weak: Weak<Table> = Arc::downgrade(&table);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(sweep_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(table) = weak.upgrade() else { return };
            table.sweep(&policy);
        }
    });
    tokio::spawn(async move {
        let mut next_id = 0u64;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
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
            let activity = Arc::new(Activity::new(next_id));
            {
                let mut open = lock(&table.open);
                if open.len() >= policy.connections_max {
                    match Table::victim(&open, Instant::now(), policy.shed_idle_min) {
                        Some(victim) => {
                            victim.close();
                            open.remove(&victim.id);
                            table.shed.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            tracing::warn!(
                                connections = open.len(),
                                "every connection is busy; a new one is closed and its client will retry"
                            );
                            continue; // dropping the stream closes it
                        }
                    }
                }
                open.insert(activity.id, activity.clone());
            }
            let connection = TrackedConnection { stream, activity, table: Arc::downgrade(&table) };
            if sender.send(Ok(connection)).await.is_err() {
                return; // the server stopped
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// A TCP connection whose use the server watches. It leaves the table when dropped.
#[derive(Debug)]
pub struct TrackedConnection {
    stream: TcpStream,
    activity: Arc<Activity>,
    table: Weak<Table>,
}

impl Drop for TrackedConnection {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            lock(&table.open).remove(&self.activity.id);
        }
    }
}

/// What each request on a connection carries in its extensions, for [`TrackRequestsLayer`].
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub remote_addr: Option<std::net::SocketAddr>,
    activity: Arc<Activity>,
}

impl Connected for TrackedConnection {
    type ConnectInfo = ConnectionInfo;
    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo { remote_addr: self.stream.peer_addr().ok(), activity: self.activity.clone() }
    }
}

fn closed_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection closed by the server's connection policy")
}

impl AsyncRead for TrackedConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.activity.is_closing() {
            return Poll::Ready(Ok(())); // end of stream
        }
        let filled_before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = (buf.filled().len() - filled_before) as u64;
                self.activity.bytes_read.fetch_add(read, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                *lock(&self.activity.read_waker) = Some(cx.waker().clone());
                // Closed between the read and the waker's registration: end now.
                if self.activity.is_closing() {
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl AsyncWrite for TrackedConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.activity.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    // Vectored writes let hyper send a response's frames in one writev instead of copying them
    // into one buffer first.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.activity.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
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

/// Counts each request against its connection from arrival until its response body ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackRequestsLayer;

impl<S> tower::Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;
    fn layer(&self, inner: S) -> TrackRequests<S> {
        TrackRequests { inner }
    }
}

#[derive(Clone, Debug)]
pub struct TrackRequests<S> {
    inner: S,
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

type Response = http::Response<tonic::body::Body>;

impl<S, B> tower::Service<http::Request<B>> for TrackRequests<S>
where
    S: tower::Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let in_progress =
            request.extensions().get::<ConnectionInfo>().map(|info| InProgress::begin(info.activity.clone()));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(match in_progress {
                Some(in_progress) => {
                    response.map(|body| tonic::body::Body::new(BodyInProgress { body, _in_progress: in_progress }))
                }
                None => response,
            })
        })
    }
}

/// A response body that holds its request's place until it ends or is dropped.
struct BodyInProgress {
    body: tonic::body::Body,
    _in_progress: InProgress,
}

impl http_body::Body for BodyInProgress {
    type Data = tonic::codegen::Bytes;
    type Error = tonic::Status;

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
