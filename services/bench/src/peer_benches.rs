//! `peers`: klero beside UmaDB, the nearest peer we know of (a Rust gRPC event store), on this
//! machine, in alternating rounds: the same number of clients, one connection each, events of
//! the same size, unary and in batches of 100, both durable before they answer.
//!
//! What each checks per event differs, and the comparison says so: klero verifies the
//! author's Ed25519 signature, decodes the payload, checks the assembly's rules and the
//! author's authority, chains the event on its stream and commits it to the Merkle log; UmaDB
//! stores the bytes it is given under a type and tags (no signature, no rule). Its events here
//! carry klero's own signed event bytes as their data, so both move the same bytes.
//!
//! UmaDB is a separate process, found on `PATH` or in `~/.cargo/bin` (installed by
//! `deploy/install-umadb`); without it the bench fails with that command, and reports nothing.

use crate::grpc_benches::{drive, grant_and_convene, submissions, BenchServer};
use crate::report::{emit, median};
use klero_client::{KleroClient, SignedEvent};
use prost::Message as _;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CLIENTS: usize = 64;
const BATCH_EVENTS: usize = 100;
const UMADB_VERSION: &str = "0.7.8";
const INSTALL: &str =
    "deploy/install-umadb (cargo install umadb --version 0.7.8 --locked; its build needs Debian's protobuf-compiler)";

/// `umadb.v1.Event` (UmaDB's `proto/v1/umadb.proto`): the fields this bench sends.
#[derive(Clone, PartialEq, prost::Message)]
struct UmaEvent {
    #[prost(string, tag = "1")]
    event_type: String,
    #[prost(string, repeated, tag = "2")]
    tags: Vec<String>,
    #[prost(bytes = "vec", tag = "3")]
    data: Vec<u8>,
    #[prost(string, tag = "4")]
    uuid: String,
}

/// `umadb.v1.AppendRequest`, with no condition.
#[derive(Clone, PartialEq, prost::Message)]
struct UmaAppendRequest {
    #[prost(message, repeated, tag = "1")]
    events: Vec<UmaEvent>,
}

/// `umadb.v1.AppendResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct UmaAppendResponse {
    #[prost(uint64, tag = "1")]
    position: u64,
}

/// One client connection to UmaDB's `umadb.v1.DCB` service.
struct UmaClient {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

impl UmaClient {
    async fn connect(url: &str) -> Result<UmaClient, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())?.connect().await?;
        Ok(UmaClient { grpc: tonic::client::Grpc::new(channel) })
    }

    async fn append(&mut self, events: Vec<UmaEvent>) -> u64 {
        self.grpc.ready().await.expect("UmaDB is ready");
        let path = tonic::codegen::http::uri::PathAndQuery::from_static("/umadb.v1.DCB/Append");
        let codec = tonic::codec::ProstCodec::<UmaAppendRequest, UmaAppendResponse>::default();
        let response = self
            .grpc
            .unary(tonic::Request::new(UmaAppendRequest { events }), path, codec)
            .await
            .expect("UmaDB appends");
        response.into_inner().position
    }
}

/// A UmaDB server on a free loopback port, with its database in a temporary directory; killed
/// when dropped.
struct UmaServer {
    url: String,
    version: String,
    _process: tokio::process::Child,
    _directory: tempfile::TempDir,
}

fn umadb_binary() -> Option<PathBuf> {
    let on_path =
        std::env::var_os("PATH").into_iter().flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    on_path.chain(cargo_home.map(|home| home.join("bin"))).map(|dir| dir.join("umadb")).find(|path| path.is_file())
}

impl UmaServer {
    async fn start() -> UmaServer {
        let Some(binary) = umadb_binary() else {
            panic!("UmaDB is not installed, so the peers bench has no peer to compare with: run {INSTALL}")
        };
        let version = std::process::Command::new(&binary).arg("--version").output().expect("umadb --version runs");
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        assert!(
            version.ends_with(UMADB_VERSION),
            "the peers bench is set up for UmaDB {UMADB_VERSION}, found {version:?}: run {INSTALL}"
        );
        let directory = tempfile::tempdir().expect("temp dir");
        let address = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address");
        let process = tokio::process::Command::new(&binary)
            .args(["--listen", &address.to_string(), "--db-path"])
            .arg(directory.path().join("uma.db"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("umadb starts");
        let url = format!("http://{address}");
        let started = Instant::now();
        while UmaClient::connect(&url).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "UmaDB did not listen on {address} within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        UmaServer { url, version, _process: process, _directory: directory }
    }
}

/// Each client's events as UmaDB's: klero's signed event bytes as the data, its type, its
/// stream as the tag, its id as the UUID.
fn as_uma_events(events: &[SignedEvent]) -> Vec<UmaEvent> {
    events
        .iter()
        .map(|event| UmaEvent {
            event_type: "klero.deliberation.v1.PublicSubmissionReceived".into(),
            tags: vec![event.stream.clone()],
            data: event.wire.encode_to_vec(),
            uuid: event.event_id.to_string(),
        })
        .collect()
}

/// UmaDB's events per second with one connection per client, unary or in batches.
async fn drive_uma(url: &str, work: Vec<Vec<UmaEvent>>, batch: bool) -> f64 {
    let mut clients = Vec::new();
    for _ in 0..work.len() {
        clients.push(UmaClient::connect(url).await.expect("connect to UmaDB"));
    }
    let total: usize = work.iter().map(Vec::len).sum();
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(work)
        .map(|(mut client, events)| {
            tokio::spawn(async move {
                for chunk in events.chunks(if batch { BATCH_EVENTS } else { 1 }) {
                    client.append(chunk.to_vec()).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

pub fn peers(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let uma = UmaServer::start().await;
        let server = BenchServer::start().await;
        let mut client = KleroClient::connect(&server.url).await.expect("connect");
        let assemblies: Vec<String> = (0..CLIENTS).map(|c| format!("peers-{c}")).collect();
        grant_and_convene(&mut client, &server.council, &server.convenor, &server.facilitator, &assemblies[0]).await;
        for assembly in &assemblies[1..] {
            let convened = crate::report::convened(assembly.as_str(), "How fast is it?", 20);
            client.append(&server.convenor.sign(assembly, &convened).expect("sign"), None).await.expect("convene");
        }
        let rounds = if quick { 2 } else { 4 };
        for (batch, per_client) in [(false, if quick { 20 } else { 150 }), (true, if quick { 200 } else { 1_000 })] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            let mut event_bytes = 0;
            for round in 0..rounds {
                let work: Vec<(String, Vec<SignedEvent>)> = assemblies
                    .iter()
                    .map(|a| (format!("assembly/{a}/deliberation"), submissions(&server.facilitator, a, per_client)))
                    .collect();
                event_bytes = work[0].1[0].wire.encoded_len();
                let uma_work: Vec<Vec<UmaEvent>> = work.iter().map(|(_, events)| as_uma_events(events)).collect();
                // Alternate which goes first, so that drift on a shared machine favours neither.
                if round % 2 == 0 {
                    ours.push(drive(&server.url, work, batch).await.events_per_second);
                    theirs.push(drive_uma(&uma.url, uma_work, batch).await);
                } else {
                    theirs.push(drive_uma(&uma.url, uma_work, batch).await);
                    ours.push(drive(&server.url, work, batch).await.events_per_second);
                }
            }
            let metric = if batch {
                format!("batch_{BATCH_EVENTS}_events_per_second_{CLIENTS}_clients")
            } else {
                format!("unary_events_per_second_{CLIENTS}_clients")
            };
            emit(
                "peers",
                &metric,
                median(&mut ours),
                "events/s",
                median(&mut theirs),
                json!({"clients": CLIENTS, "rounds": rounds, "events_per_client_per_round": per_client,
                    "event_bytes": event_bytes, "ours_each_round": ours, "baseline_each_round": theirs,
                    "baseline_name": format!("{} (UmaDB) on this machine, same clients and events, alternating rounds", uma.version),
                    "ours_checks": "signature, payload, rules, authority, stream chain, Merkle log; durable before the answer",
                    "baseline_checks": "none on the event: stores its bytes under a type and tags; durable before the answer",
                    "target_ratio_min": if batch { serde_json::Value::Null } else { json!(1.1) }}),
            );
        }
        server.stop().await;
    });
}
