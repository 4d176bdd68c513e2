//! `grpc`: signed appends over real gRPC to a real server (embedded store, every signature
//! verified, every append durable) with 1, 16 and 64 concurrent clients, unary and batched,
//! against a trivial tonic service with the same Ledger API, the same payloads and the same
//! concurrency that answers at once (the echo baseline).

use crate::report::{emit, median, quantile_us};
use klero_client::{Author, KleroClient, SignedEvent};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::{Hash256, SigningKey};
use klero_proto::{self as pb, ledger::ledger_server::Ledger};
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

const BATCH_EVENTS: usize = 100;
/// Alternating rounds of ours and the echo per configuration.
const ROUNDS: usize = 5;

fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

/// The baseline: the Ledger API answered immediately, doing no work.
struct EchoLedger;

#[tonic::async_trait]
impl Ledger for EchoLedger {
    async fn append(
        &self,
        request: Request<pb::ledger::AppendRequest>,
    ) -> Result<Response<pb::ledger::AppendResponse>, Status> {
        let event = request.into_inner().event.unwrap_or_default();
        Ok(Response::new(pb::ledger::AppendResponse {
            appended: Some(pb::ledger::AppendedEvent {
                event_id: event.signature[..16].to_vec(),
                event_hash: vec![0; 32],
                ..Default::default()
            }),
        }))
    }
    async fn append_batch(
        &self,
        request: Request<pb::ledger::AppendBatchRequest>,
    ) -> Result<Response<pb::ledger::AppendBatchResponse>, Status> {
        let request = request.into_inner();
        let appended = request
            .events
            .iter()
            .map(|e| pb::ledger::AppendedEvent {
                event_id: e.signature[..16].to_vec(),
                event_hash: vec![0; 32],
                stream: request.stream.clone(),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(pb::ledger::AppendBatchResponse { appended }))
    }
    async fn read_stream(
        &self,
        _: Request<pb::ledger::ReadStreamRequest>,
    ) -> Result<Response<pb::ledger::ReadStreamResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn read_log(
        &self,
        _: Request<pb::ledger::ReadLogRequest>,
    ) -> Result<Response<pb::ledger::ReadLogResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn get_stream_head(
        &self,
        _: Request<pb::ledger::GetStreamHeadRequest>,
    ) -> Result<Response<pb::ledger::GetStreamHeadResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    type SubscribeStream = tonic::codegen::tokio_stream::Empty<Result<pb::ledger::RecordedEvent, Status>>;
    async fn subscribe(
        &self,
        _: Request<pb::ledger::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn get_checkpoint(
        &self,
        _: Request<pb::ledger::GetCheckpointRequest>,
    ) -> Result<Response<pb::ledger::GetCheckpointResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn list_witnessed_checkpoints(
        &self,
        _: Request<pb::ledger::ListWitnessedCheckpointsRequest>,
    ) -> Result<Response<pb::ledger::ListWitnessedCheckpointsResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn get_inclusion_proof(
        &self,
        _: Request<pb::ledger::GetInclusionProofRequest>,
    ) -> Result<Response<pb::ledger::GetInclusionProofResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn get_consistency_proof(
        &self,
        _: Request<pb::ledger::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ledger::GetConsistencyProofResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn get_proof_bundle(
        &self,
        _: Request<pb::ledger::GetProofBundleRequest>,
    ) -> Result<Response<pb::ledger::GetProofBundleResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
}

pub struct Run {
    pub events_per_second: f64,
    pub calls_per_second: f64,
    pub latencies: Vec<Duration>,
    /// Process CPU time per call (client and server share the process), in µs.
    pub cpu_us_per_call: f64,
    /// Process CPU time over wall time: how many of the cores the run kept busy.
    pub cores_busy: f64,
    /// The wall time of the run.
    pub seconds: f64,
}

/// This process's user + system CPU time so far, from /proc (Linux), in seconds.
fn process_cpu_seconds() -> f64 {
    cpu_seconds_of_stat(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// User + system CPU time, in seconds, from a `/proc/<pid>/stat` line.
pub(crate) fn cpu_seconds_of_stat(stat: &str) -> f64 {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND
}

/// Linux's USER_HZ, 100 on every mainstream build.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Sends every client's pre-signed work and times each call.
pub async fn drive(url: &str, work: Vec<(String, Vec<SignedEvent>)>, batch: bool) -> Run {
    let mut clients = Vec::new();
    for _ in 0..work.len() {
        clients.push(KleroClient::connect(url).await.expect("connect"));
    }
    let total_events: usize = work.iter().map(|(_, events)| events.len()).sum();
    let cpu_started = process_cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut client, (stream, events)) in clients.into_iter().zip(work) {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            if batch {
                for chunk in events.chunks(BATCH_EVENTS) {
                    let begun = Instant::now();
                    client.append_batch(&stream, chunk, None).await.expect("batch append");
                    latencies.push(begun.elapsed());
                }
            } else {
                for event in &events {
                    let begun = Instant::now();
                    client.append(event, None).await.expect("append");
                    latencies.push(begun.elapsed());
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_started;
    let cpu_us_per_call = cpu_seconds * 1e6 / latencies.len() as f64;
    Run {
        seconds,
        cores_busy: cpu_seconds / seconds,
        events_per_second: total_events as f64 / seconds,
        calls_per_second: latencies.len() as f64 / seconds,
        latencies,
        cpu_us_per_call,
    }
}

/// A server as `klero serve` wires it: the embedded store, the application core and its gRPC
/// front end, and the public pages when `pages` is given (`klero serve --http`).
pub async fn start_server(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    listener: tokio::net::TcpListener,
    pages: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> klero_application::Running {
    let store = std::sync::Arc::new(
        klero_store_embedded::EmbeddedStore::open(directory, Default::default()).await.expect("store opens"),
    );
    start_server_on(store, directory, trust_root, listener, pages, shutdown).await
}

/// The same on any store: `directory` keeps the Merkle tree's leaf file.
pub async fn start_server_on(
    store: std::sync::Arc<dyn klero_store::EventStore>,
    directory: &std::path::Path,
    trust_root: [u8; 32],
    listener: tokio::net::TcpListener,
    pages: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> klero_application::Running {
    let config = klero_wiring::ServerConfig::new(
        directory,
        trust_root,
        LogSigningKey::new("klero.bench/log", key("bench log")).expect("key"),
    );
    let listeners = klero_wiring::Listeners { grpc: Some(listener), http: pages };
    klero_wiring::start_on(store, config, listeners, klero_application::system_clock(), shutdown)
        .await
        .expect("server starts")
}

pub fn submissions(author: &Author, assembly: &str, count: usize) -> Vec<SignedEvent> {
    (0..count)
        .map(|n| {
            let payload = pb::deliberation::PublicSubmissionReceived {
                submitter_id: format!("submitter-{n:06}"),
                content_hash: Hash256::of(&(n as u64).to_be_bytes()).0.to_vec(),
                received_on: "2026-11-27".into(),
                sealed_text: None,
            };
            author.sign(assembly, &payload).expect("sign")
        })
        .collect()
}

pub fn grpc(quick: bool) {
    // The server's runtime, as `klero serve` builds it; the clients and the echo share it.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let bench_server = BenchServer::start().await;
        let (council, convenor, facilitator, url) =
            (&bench_server.council, &bench_server.convenor, &bench_server.facilitator, bench_server.url.clone());

        let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let echo_url = format!("http://{}", echo_listener.local_addr().expect("addr"));
        tokio::spawn(
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(pb::ledger::ledger_server::LedgerServer::new(EchoLedger))
                .serve_with_incoming(tonic::codegen::tokio_stream::StreamExt::map(
                    tonic::codegen::tokio_stream::wrappers::TcpListenerStream::new(echo_listener),
                    |accepted| {
                        // Same socket options as the real server, so neither waits on Nagle.
                        accepted.inspect(|stream| {
                            let _ = stream.set_nodelay(true);
                        })
                    },
                )),
        );

        // One assembly per client, so clients write to different streams.
        let mut setup = KleroClient::connect(&url).await.expect("connect");
        for (who, role) in [(&convenor, pb::registry::Role::Convenor), (&facilitator, pb::registry::Role::Facilitator)] {
            let grant = pb::registry::KeyGranted { public_key: who.public_key().to_vec(), role: role as i32, scope: "*".into(), holder_title: "bench".into() };
            setup.append(&council.sign("", &grant).expect("sign"), None).await.expect("grant");
        }
        for client in 0..64 {
            let assembly = format!("bench-{client}");
            let convened = crate::report::convened(assembly.clone(), "How fast is it?", 20);
            setup.append(&convenor.sign(&assembly, &convened).expect("sign"), None).await.expect("convene");
        }

        // KLERO_BENCH_GRPC_ONLY=unary:64 (say) runs one case, for profiling.
        let only = std::env::var("KLERO_BENCH_GRPC_ONLY").ok();
        // KLERO_BENCH_GRPC_NO_ECHO=1 leaves the echo rounds out, so that a profile holds ours alone.
        let no_echo = std::env::var_os("KLERO_BENCH_GRPC_NO_ECHO").is_some();
        for clients in [1usize, 16, 64] {
            for batch in [false, true] {
                let case = format!("{}:{clients}", if batch { "batch" } else { "unary" });
                if only.as_ref().is_some_and(|only| *only != case) {
                    continue;
                }
                let events_per_client = match (batch, quick) {
                    (false, false) => 12_000 / clients.min(12),
                    (false, true) => 300 / clients.min(6),
                    (true, false) => 30_000 / clients,
                    (true, true) => 2_000 / clients.min(20),
                };
                let events_per_client = if batch { events_per_client.div_ceil(BATCH_EVENTS) * BATCH_EVENTS } else { events_per_client };
                // Alternating rounds, ours then the echo, so that a noisy neighbour slows both
                // alike; the medians of the rounds are reported.
                let rounds = if quick { 1 } else { ROUNDS };
                let per_round = if batch { (events_per_client / rounds).div_ceil(BATCH_EVENTS) * BATCH_EVENTS } else { events_per_client / rounds };
                let sign_work = || (0..clients).map(|c| {
                    let assembly = format!("bench-{c}");
                    (format!("assembly/{assembly}/deliberation"), submissions(facilitator, &assembly, per_round))
                }).collect::<Vec<_>>();
                let mut ours_runs = Vec::new();
                let mut echo_runs = Vec::new();
                let (mut raw_verify_rates, mut raw_verify_256_rates) = (Vec::new(), Vec::new());
                let mut payload_bytes = 0;
                for _ in 0..rounds {
                    let ours_work = sign_work();
                    payload_bytes = ours_work[0].1[0].wire.author_encoding.len();
                    // Batches are measured against the raw verification of the same events
                    // too (issue 31): what the two cores could do if checking signatures were
                    // all an append cost.
                    let raw = batch.then(|| {
                        crate::verify_benches::RawInputs::of_signed(ours_work.iter().flat_map(|(_, events)| {
                            events.iter().map(|e| {
                                (e.wire.author_encoding.clone(), e.wire.signature.as_slice().try_into().expect("64 bytes"))
                            })
                        }))
                    });
                    // Before the drive, while the server is idle, so its work after the last
                    // answer (the fold, a snapshot) does not slow the baseline.
                    if let Some(raw) = raw {
                        // The faster of two: the first pass runs on cold caches. Batches of 256
                        // too, the `verify` bench's size, where dalek switches to Pippenger's
                        // method and checks faster than any 100-event call can be.
                        let rate = |batch| crate::verify_benches::raw_rate(&raw, 2, batch);
                        raw_verify_rates.push(rate(BATCH_EVENTS).max(rate(BATCH_EVENTS)));
                        raw_verify_256_rates.push(rate(256).max(rate(256)));
                    }
                    ours_runs.push(drive(&url, ours_work, batch).await);
                    if !no_echo {
                        echo_runs.push(drive(&echo_url, sign_work(), batch).await);
                    }
                }
                let mode = if batch { "batch" } else { "unary" };
                let extra = json!({"clients": clients, "mode": mode, "events": rounds * clients * per_round, "rounds": rounds,
                    "batch_events": if batch { BATCH_EVENTS } else { 1 }, "author_encoding_bytes": payload_bytes,
                    "baseline_name": "tonic Ledger service that answers at once (echo), same payloads and concurrency"});
                let rate = |runs: &[Run], of: fn(&Run) -> f64| median(&mut runs.iter().map(of).collect::<Vec<_>>());
                emit("grpc", &format!("{mode}_events_per_second_{clients}_clients"), rate(&ours_runs, |r| r.events_per_second), "events/s", rate(&echo_runs, |r| r.events_per_second), extra.clone());
                emit("grpc", &format!("{mode}_calls_per_second_{clients}_clients"), rate(&ours_runs, |r| r.calls_per_second), "calls/s", rate(&echo_runs, |r| r.calls_per_second), extra.clone());
                emit("grpc", &format!("{mode}_cpu_us_per_call_{clients}_clients"), rate(&ours_runs, |r| r.cpu_us_per_call), "us", rate(&echo_runs, |r| r.cpu_us_per_call), extra.clone());
                emit("grpc", &format!("{mode}_cores_busy_{clients}_clients"), rate(&ours_runs, |r| r.cores_busy), "cores", rate(&echo_runs, |r| r.cores_busy), extra.clone());
                if batch {
                    let mut against_raw = extra.clone();
                    if let Some(against_raw) = against_raw.as_object_mut() {
                        against_raw.insert("baseline_name".into(), json!("ed25519_dalek::verify_batch of the same events on 2 threads, batches of 100, inputs extracted beforehand"));
                        against_raw.insert("target_ratio_min".into(), json!(if clients == 64 { Some(0.8) } else { None }));
                        against_raw.insert("raw_verify_batches_of_256_events_per_second".into(), json!(median(&mut raw_verify_256_rates).round()));
                    }
                    emit("grpc", &format!("batch_events_per_second_{clients}_clients_vs_raw_verify"), rate(&ours_runs, |r| r.events_per_second), "events/s", median(&mut raw_verify_rates), against_raw);
                }
                let mut ours_latencies: Vec<Duration> = ours_runs.into_iter().flat_map(|r| r.latencies).collect();
                let mut echo_latencies: Vec<Duration> = echo_runs.into_iter().flat_map(|r| r.latencies).collect();
                for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
                    emit("grpc", &format!("{mode}_latency_{name}_us_{clients}_clients"), quantile_us(&mut ours_latencies, q), "us", quantile_us(&mut echo_latencies, q), extra.clone());
                }
            }
        }
        bench_server.stop().await;
    });
}

/// Grants the convenor and facilitator from the council's key and convenes `assembly`.
pub async fn grant_and_convene(
    client: &mut KleroClient,
    council: &Author,
    convenor: &Author,
    facilitator: &Author,
    assembly: &str,
) {
    for (who, role) in [(convenor, pb::registry::Role::Convenor), (facilitator, pb::registry::Role::Facilitator)] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: "*".into(),
            holder_title: "bench".into(),
        };
        client.append(&council.sign("", &grant).expect("sign"), None).await.expect("grant");
    }
    let convened = crate::report::convened(assembly, "How fast is it?", 20);
    client.append(&convenor.sign(assembly, &convened).expect("sign"), None).await.expect("convene");
}

/// A bench's server: the three authors, a real server in a temporary directory on 127.0.0.1:0,
/// its URL, and what stops it.
pub struct BenchServer {
    pub directory: tempfile::TempDir,
    pub council: Author,
    pub convenor: Author,
    pub facilitator: Author,
    pub url: String,
    /// The public pages' address, if served.
    pub pages_url: Option<String>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub running: BenchRunning,
}

/// A bench server's core, on whichever store it runs.
pub enum BenchRunning {
    Embedded(klero_application::Running),
    Postgres(klero_application::Running),
}

/// What every bench server starts from, whatever its store: a data directory, the council's
/// key, the gRPC address, and the stop signal.
struct BenchServerParts {
    directory: tempfile::TempDir,
    council: Author,
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl BenchServerParts {
    /// The parts, the gRPC listener, and the receiving end of the stop signal.
    async fn new() -> (BenchServerParts, tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let parts = BenchServerParts {
            directory: tempfile::tempdir().expect("temp dir"),
            council: Author::new(key("bench council")),
            url,
            stop,
        };
        (parts, listener, stopped)
    }

    fn into_server(self, pages_url: Option<String>, running: BenchRunning) -> BenchServer {
        BenchServer {
            directory: self.directory,
            council: self.council,
            convenor: Author::new(key("bench convenor")),
            facilitator: Author::new(key("bench facilitator")),
            url: self.url,
            pages_url,
            stop: self.stop,
            running,
        }
    }
}

impl BenchServer {
    pub async fn start() -> BenchServer {
        BenchServer::start_serving(false).await
    }

    /// A server that also serves the public pages.
    pub async fn start_with_pages() -> BenchServer {
        BenchServer::start_serving(true).await
    }

    /// A server whose log is in the PostgreSQL database `url`.
    pub async fn start_on_postgres(url: &str) -> BenchServer {
        let (parts, listener, stopped) = BenchServerParts::new().await;
        let store = std::sync::Arc::new(
            klero_store_postgres::PostgresStore::connect(url, Default::default()).await.expect("connect"),
        );
        let running =
            start_server_on(store, parts.directory.path(), parts.council.public_key(), listener, None, async {
                let _ = stopped.await;
            })
            .await;
        parts.into_server(None, BenchRunning::Postgres(running))
    }

    async fn start_serving(pages: bool) -> BenchServer {
        let (parts, listener, stopped) = BenchServerParts::new().await;
        let pages = if pages { Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind")) } else { None };
        let pages_url = pages.as_ref().map(|l| format!("http://{}", l.local_addr().expect("address")));
        let running = start_server(parts.directory.path(), parts.council.public_key(), listener, pages, async {
            let _ = stopped.await;
        })
        .await;
        parts.into_server(pages_url, BenchRunning::Embedded(running))
    }

    /// Stops the server cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.running {
            BenchRunning::Embedded(running) => running.stopped().await.expect("clean stop"),
            BenchRunning::Postgres(running) => running.stopped().await.expect("clean stop"),
        }
    }
}
