//! Connections cannot be used to lock everyone out, on gRPC or on the pages (one stack,
//! `klero-connections`): sockets that send nothing, or only the
//! HTTP/2 preface, or finish the handshake and then idle, are shed when a new client needs
//! their slot, and closed by the handshake and idle timeouts anyway. Busy connections are never
//! shed. The bound docs/API.md states: at the connection limit, a new client is served as soon
//! as some connection has been idle for `shed_idle_min` (1 s by default).

use klero_api::server::ServerLimits;
use klero_tests::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

async fn start(limits: ServerLimits) -> (tempfile::TempDir, RunningServer) {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = start_server_with_limits(
        directory.path(),
        key("trust root").verifying_key().to_bytes(),
        klero_application::system_clock(),
        limits,
    )
    .await;
    (directory, server)
}

/// Asks for health on a new connection, retrying a refused or closed connection, and returns
/// how long it took to get SERVING, or `None` if it did not within `bound`.
async fn served_within(url: &str, bound: Duration) -> Option<Duration> {
    served_on_new_connection(url, bound).await.map(|(took, _)| took)
}

/// [`served_within`], also returning the connection that was served, to hold it open.
async fn served_on_new_connection(url: &str, bound: Duration) -> Option<(Duration, tonic::transport::Channel)> {
    let started = Instant::now();
    loop {
        let attempt = async {
            let channel = tonic::transport::Endpoint::from_shared(url.to_string())
                .expect("url")
                .connect_timeout(Duration::from_secs(1))
                .timeout(Duration::from_secs(1))
                .connect()
                .await
                .ok()?;
            let reply = HealthClient::new(channel.clone())
                .check(HealthCheckRequest { service: "klero.ledger.v1.Ledger".into() })
                .await
                .ok()?;
            (reply.into_inner().status == ServingStatus::Serving as i32).then_some(channel)
        };
        if let Some(channel) = attempt.await {
            return Some((started.elapsed(), channel));
        }
        if started.elapsed() >= bound {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn address(server: &RunningServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// True once the server has closed `socket` (a read ends or fails).
async fn closed_by_server(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, socket.read(&mut buffer)).await {
            Err(_) => return false,                // still open at the deadline
            Ok(Ok(0)) | Ok(Err(_)) => return true, // EOF or reset
            Ok(Ok(_)) => continue,                 // the server's SETTINGS or a PING
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_holding_every_slot_are_shed_for_a_new_client() {
    // Timeouts far away, so only shedding can make room. 256 slots keep the test within a
    // default descriptor limit of 1,024 (each socket is counted twice in this process).
    let limits = ServerLimits {
        connections_max: 256,
        handshake_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        ..ServerLimits::default()
    };
    let (_directory, server) = start(limits).await;
    let mut idle = Vec::new();
    for n in 0..256 {
        let mut socket = TcpStream::connect(address(&server)).await.expect("connect");
        match n % 3 {
            0 => {}                                                                               // nothing at all
            1 => socket.write_all(PREFACE).await.expect("preface"),                               // only the preface
            _ => socket.write_all(&[PREFACE, EMPTY_SETTINGS].concat()).await.expect("handshake"), // then idle
        }
        idle.push(socket);
    }
    // Let them all become idle for longer than shed_idle_min.
    tokio::time::sleep(ServerLimits::default().shed_idle_min + Duration::from_millis(200)).await;
    // Eleven clients, one after another, each keeping its connection: each takes an idle slot.
    let mut served = Vec::new();
    for _ in 0..11 {
        let (took, channel) =
            served_on_new_connection(&server.url, Duration::from_secs(5)).await.expect("SERVING within 5 s");
        println!("SERVING after {took:?} with idle sockets holding every slot");
        served.push(channel);
    }
    // The shed sockets were closed: eleven of them see the end of their stream.
    let mut shed = 0;
    for socket in &mut idle {
        if closed_by_server(socket, Duration::from_millis(20)).await {
            shed += 1;
        }
    }
    assert_eq!(shed, 11, "one idle socket shed for each new client");
    drop((idle, served));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_finishes_its_handshake_or_stays_idle_is_closed() {
    let limits = ServerLimits {
        handshake_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(1_500),
        ..ServerLimits::default()
    };
    let (_directory, server) = start(limits).await;
    let mut silent = TcpStream::connect(address(&server)).await.expect("connect");
    let mut preface_only = TcpStream::connect(address(&server)).await.expect("connect");
    preface_only.write_all(PREFACE).await.expect("preface");
    // Timed from before the connection: the server may start its idle timer as it accepts.
    let started = Instant::now();
    let mut handshaken = TcpStream::connect(address(&server)).await.expect("connect");
    handshaken.write_all(&[PREFACE, EMPTY_SETTINGS].concat()).await.expect("handshake");
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)).await, "a silent socket is closed");
    assert!(closed_by_server(&mut preface_only, Duration::from_secs(5)).await, "a preface alone is closed");
    let handshake_closed = started.elapsed();
    assert!(closed_by_server(&mut handshaken, Duration::from_secs(10)).await, "an idle connection is closed");
    let idle_closed = started.elapsed();
    println!("handshake timeout closed after {handshake_closed:?}, idle timeout after {idle_closed:?}");
    assert!(idle_closed >= Duration::from_millis(1_500), "not before the idle timeout: {idle_closed:?}");
    // A real client is unaffected: it reconnects and is served.
    served_within(&server.url, Duration::from_secs(5)).await.expect("SERVING within 5 s");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_connections_are_never_shed() {
    let limits = ServerLimits { connections_max: 2, ..ServerLimits::default() };
    let (_directory, server) = start(limits).await;
    // Two subscribers, each holding a connection with a request in progress.
    let mut subscribers = Vec::new();
    for _ in 0..2 {
        let channel =
            tonic::transport::Endpoint::from_shared(server.url.clone()).expect("url").connect().await.expect("connect");
        let mut ledger = klero_proto::ledger::ledger_client::LedgerClient::new(channel);
        let stream = ledger
            .subscribe(klero_proto::ledger::SubscribeRequest { from_log_index: 0 })
            .await
            .expect("subscribe")
            .into_inner();
        subscribers.push(stream);
    }
    tokio::time::sleep(ServerLimits::default().shed_idle_min + Duration::from_millis(200)).await;
    // A third client finds every slot busy: its connection is closed, and it gets no answer.
    assert_eq!(served_within(&server.url, Duration::from_secs(2)).await, None, "served while both slots were busy");
    // When a subscriber leaves, its slot serves the next client, and the other subscriber
    // still gets events.
    let mut remaining = subscribers.pop().expect("subscriber");
    drop(subscribers);
    // The append goes on the connection that was admitted: a fresh one could still find both
    // slots taken while the server has not yet seen the probe's close.
    let (_, admitted) =
        served_on_new_connection(&server.url, Duration::from_secs(5)).await.expect("SERVING once a slot is free");
    let cast = Cast::new("busy");
    let mut client = klero_client::KleroClient::from_channel(admitted);
    append(&mut client, &cast.council, "busy", &grant(&cast)).await;
    let event = tokio::time::timeout(Duration::from_secs(10), remaining.message()).await;
    assert!(matches!(event, Ok(Ok(Some(_)))), "the subscription is alive: {event:?}");
    drop(client);
    drop(remaining);
    server.stop().await;
}

fn grant(cast: &Cast) -> klero_proto::registry::KeyGranted {
    klero_proto::registry::KeyGranted {
        public_key: cast.facilitator.public_key().to_vec(),
        role: klero_proto::registry::Role::Facilitator as i32,
        scope: "*".into(),
        holder_title: "Facilitator".into(),
    }
}

/// The public pages run on the same connection stack (issue 27): silent and idle sockets that
/// hold every slot are shed for a new visitor, a silent socket is closed at the handshake
/// timeout, and an idle keep-alive at the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_shed_and_close_idle_connections_as_grpc_does() {
    const SLOTS: usize = 16;
    let directory = tempfile::tempdir().expect("temp dir");
    let store = std::sync::Arc::new(
        klero_store_embedded::EmbeddedStore::open(directory.path(), Default::default()).await.expect("store"),
    );
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let pages = http.local_addr().expect("address").to_string();
    let config = klero_wiring::ServerConfig {
        pages_limits: klero_web::HttpLimits {
            connections_max: SLOTS,
            handshake_timeout: Duration::from_millis(800),
            idle_timeout: Duration::from_millis(2_500),
            ..Default::default()
        },
        ..klero_wiring::ServerConfig::new(
            directory.path(),
            key("trust root").verifying_key().to_bytes(),
            test_log_key(),
        )
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listeners = klero_wiring::Listeners { grpc: Some(grpc), http: Some(http) };
    let running = klero_wiring::start_on(store, config, listeners, klero_application::system_clock(), async {
        let _ = stopped.await;
    })
    .await
    .expect("server starts");
    let get = |keep_alive: bool| {
        let connection = if keep_alive { "keep-alive" } else { "close" };
        format!("GET /api/v1/checkpoint HTTP/1.1\r\nHost: pages\r\nConnection: {connection}\r\n\r\n").into_bytes()
    };
    // Every slot held: half by silent sockets, half by keep-alives that asked once and idle.
    let mut held = Vec::new();
    for n in 0..SLOTS {
        let mut socket = TcpStream::connect(&pages).await.expect("connect");
        if n % 2 == 1 {
            socket.write_all(&get(true)).await.expect("request");
            let mut answer = [0u8; 4096];
            let read = socket.read(&mut answer).await.expect("an answer");
            assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));
        }
        held.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    // A new visitor is served at once, long before any timeout: a held socket gives way.
    let started = Instant::now();
    let mut visitor = TcpStream::connect(&pages).await.expect("connect");
    visitor.write_all(&get(false)).await.expect("request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_millis(800), visitor.read_to_end(&mut answer))
        .await
        .expect("served within 0.8 s, before the handshake and idle timeouts")
        .expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    println!("a visitor served after {:?} with every slot held", started.elapsed());
    // By now the silent ones are past the handshake timeout, and soon the idle ones past the
    // idle timeout: every held socket is closed.
    for (n, socket) in held.iter_mut().enumerate() {
        assert!(closed_by_server(socket, Duration::from_secs(5)).await, "held socket {n} is still open");
    }
    let _ = stop.send(());
    running.stopped().await.expect("a clean stop");
}
