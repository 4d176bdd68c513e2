//! `open`: how long a server takes to open a data directory of 1,000,000 events grown through
//! the core's append path, and how much memory it then holds per event. The baseline, in the
//! same run on the same directory, is the full replay (`--verify-on-open=full`: every signature
//! verified, every event folded); ours takes up the snapshot a clean stop left. Each open runs
//! in a fresh child process, so its resident memory is its own.

use crate::report::{emit, median};
use klero_application::{AppendRequest, Application, OpenVerification};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, EventId, SignedAuthorPart};
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use klero_store::ExpectedRevision;
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use prost::Message;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const ASSEMBLIES: usize = 8;
const BATCH_EVENTS: usize = 1_000;

pub(crate) fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

fn log_key() -> LogSigningKey {
    LogSigningKey::new("klero.bench/open", key("bench log")).expect("key")
}

/// An event signed now by `author`, with an id made from `n` (unique per `n`).
pub(crate) fn signed(
    author: &SigningKey,
    stream: String,
    event_type: &str,
    payload: Vec<u8>,
    n: u64,
) -> SignedAuthorPart {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(n + 1).to_be_bytes());
    id[8] = 0x80;
    AuthorPart {
        event_id: EventId(id),
        stream,
        event_type: event_type.into(),
        event_version: 1,
        author_public_key: author.verifying_key().to_bytes(),
        // Signed now: the rules allow an author's clock only a little ahead of the ledger's.
        authored_at_unix_ms: klero_application::system_clock()(),
        payload,
    }
    .sign(author)
    .expect("sign")
}

/// Where an open bench's log is kept: the embedded store in the data directory, or a
/// PostgreSQL database (the data directory then holds only the tree's leaf file).
#[derive(Clone, Debug)]
enum Place {
    Embedded,
    Postgres(String),
}

/// Grows a data directory (and its log, at `place`) to `events` through
/// `Application::append`, then stops it cleanly, which leaves a snapshot of the whole log.
fn grow(directory: &Path, events: usize) -> f64 {
    grow_at(directory, &Place::Embedded, events)
}

fn grow_at(directory: &Path, place: &Place, events: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    runtime.block_on(async {
        match place {
            Place::Embedded => {
                let store =
                    Arc::new(EmbeddedStore::open(directory, EmbeddedStoreOptions::default()).await.expect("store"));
                grow_on(store, directory, events).await;
            }
            Place::Postgres(url) => {
                let options = klero_store_postgres::PostgresStoreOptions::default();
                let store = Arc::new(klero_store_postgres::PostgresStore::connect(url, options).await.expect("store"));
                grow_on(store, directory, events).await;
            }
        }
    });
    started.elapsed().as_secs_f64()
}

async fn grow_on(store: Arc<dyn klero_store::EventStore>, directory: &Path, events: usize) {
    {
        let council = key("bench council");
        let facilitator = key("bench facilitator");
        let convenor = key("bench convenor");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = klero_wiring::ServerConfig::new(directory, council.verifying_key().to_bytes(), log_key());
        let clock = klero_application::system_clock();
        let running = klero_wiring::start_on(store, config, Default::default(), clock, async {
            let _ = stopped.await;
        })
        .await
        .expect("start");
        let application: Arc<Application> = running.application().clone();
        let append_one = |event: SignedAuthorPart| {
            let application = application.clone();
            async move {
                let stream = event.author().stream.clone();
                application
                    .append(AppendRequest {
                        stream,
                        expected: ExpectedRevision::Any,
                        events: vec![event],
                        data_keys: Vec::new(),
                    })
                    .await
                    .expect("append")
            }
        };
        let mut n = 0u64;
        for (who, role) in [(&convenor, pb::registry::Role::Convenor), (&facilitator, pb::registry::Role::Facilitator)]
        {
            let grant = pb::registry::KeyGranted {
                public_key: who.verifying_key().to_bytes().to_vec(),
                role: role as i32,
                scope: "*".into(),
                holder_title: "bench".into(),
            };
            append_one(signed(&council, "registry".into(), "klero.registry.v1.KeyGranted", grant.encode_to_vec(), n))
                .await;
            n += 1;
        }
        for a in 0..ASSEMBLIES {
            let convened = crate::report::convened(format!("open-{a}"), "How fast does a year of records open?", 40);
            let stream = format!("assembly/open-{a}");
            append_one(signed(&convenor, stream, "klero.assembly.v1.AssemblyConvened", convened.encode_to_vec(), n))
                .await;
            n += 1;
        }
        // Public submissions in batches, one assembly per batch, signed on both cores while
        // the previous batch is appended.
        let mut next = n;
        let end = events as u64;
        while next < end {
            let batch_end = (next + BATCH_EVENTS as u64).min(end);
            let a = (next as usize / BATCH_EVENTS) % ASSEMBLIES;
            let facilitator = facilitator.clone();
            let events = tokio::task::spawn_blocking(move || {
                (next..batch_end)
                    .map(|i| {
                        let payload = pb::deliberation::PublicSubmissionReceived {
                            submitter_id: format!("submitter-{i:07}"),
                            content_hash: Hash256::of(&i.to_be_bytes()).0.to_vec(),
                            received_on: "2026-06-01".into(),
                            sealed_text: None,
                        };
                        signed(
                            &facilitator,
                            format!("assembly/open-{a}/deliberation"),
                            "klero.deliberation.v1.PublicSubmissionReceived",
                            payload.encode_to_vec(),
                            i,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .expect("signer");
            let stream = format!("assembly/open-{a}/deliberation");
            application
                .append(AppendRequest { stream, expected: ExpectedRevision::Any, events, data_keys: Vec::new() })
                .await
                .expect("batch");
            next = batch_end;
        }
        assert_eq!(application.log_size(), end);
        drop(application);
        let _ = stop.send(());
        running.stopped().await.expect("clean stop");
    }
}

/// The child's side: opens `directory` as `klero serve` would, in `mode`, and prints one JSON
/// line with the time to a served state and the resident memory then. Exits at once, without a
/// clean stop, so that the directory stays as it was for the next child.
/// With `postgres`, the log is in that database and `directory` holds the leaf file.
pub fn open_child(directory: &Path, mode: &str, postgres: Option<&str>) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let rss_before = resident_bytes();
    let started = Instant::now();
    let mut store_seconds = 0.0;
    let (events, taken_up, tree_bytes) = runtime.block_on(async {
        let config = klero_wiring::ServerConfig {
            open: if mode == "full" { OpenVerification::Full } else { OpenVerification::FromSnapshot },
            ..klero_wiring::ServerConfig::new(directory, key("bench council").verifying_key().to_bytes(), log_key())
        };
        async fn opened(
            store: Arc<dyn klero_store::EventStore>,
            _directory: &Path,
            config: klero_wiring::ServerConfig,
        ) -> (u64, Option<u64>, usize) {
            let clock = klero_application::system_clock();
            let running = klero_wiring::start_on(store, config, Default::default(), clock, std::future::pending())
                .await
                .expect("start");
            let application = running.application();
            let opened = (application.log_size(), application.snapshot_taken_up(), application.tree_resident_bytes());
            std::mem::forget(running);
            opened
        }
        match postgres {
            None => {
                let store =
                    Arc::new(EmbeddedStore::open(directory, EmbeddedStoreOptions::default()).await.expect("store"));
                store_seconds = started.elapsed().as_secs_f64();
                opened(store, directory, config).await
            }
            Some(url) => {
                let options = klero_store_postgres::PostgresStoreOptions::default();
                let store = Arc::new(klero_store_postgres::PostgresStore::connect(url, options).await.expect("store"));
                store_seconds = started.elapsed().as_secs_f64();
                opened(store, directory, config).await
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    // Let the allocator give back what the open freed (mimalloc purges after a short delay), so
    // that the resident memory is what the server keeps.
    std::thread::sleep(std::time::Duration::from_millis(500));
    println!(
        "{}",
        json!({"seconds": seconds, "store_seconds": store_seconds, "events": events, "snapshot_taken_up": taken_up, "tree_bytes": tree_bytes,
               "rss_bytes": resident_bytes(), "rss_before_bytes": rss_before})
    );
    std::process::exit(0)
}

/// This process's resident memory, from /proc (Linux).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn open_in_child(directory: &Path, mode: &str) -> serde_json::Value {
    open_in_child_at(directory, mode, &Place::Embedded)
}

fn open_in_child_at(directory: &Path, mode: &str, place: &Place) -> serde_json::Value {
    let mut command = std::process::Command::new(std::env::current_exe().expect("bench binary"));
    command.args(["open-child", &directory.display().to_string(), mode]);
    if let Place::Postgres(url) = place {
        command.arg(url);
    }
    let output = command.output().expect("child runs");
    assert!(output.status.success(), "open child failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(output.stdout.trim_ascii()).expect("child prints JSON")
}

pub fn open(quick: bool) {
    let events = if quick { 50_000 } else { 1_000_000 };
    let temporary = tempfile::tempdir().expect("temp dir");
    // KLERO_BENCH_OPEN_DIR keeps the grown directory there (and reuses it), for profiling an
    // open with `klero-bench open-child DIR snapshot|full`.
    let kept = std::env::var_os("KLERO_BENCH_OPEN_DIR").map(std::path::PathBuf::from);
    let directory = kept.clone().unwrap_or_else(|| temporary.path().to_path_buf());
    let reuse = kept.is_some() && directory.join("snapshot").exists();
    let grow_seconds = if reuse { 0.0 } else { grow(&directory, events) };
    let empty = tempfile::tempdir().expect("temp dir");
    grow(empty.path(), ASSEMBLIES + 2);
    let rounds = 3;
    let (mut full, mut fast, mut full_rss, mut fast_rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let small = open_in_child(empty.path(), "snapshot");
    let mut store_seconds = Vec::new();
    for _ in 0..rounds {
        let baseline = open_in_child(&directory, "full");
        assert_eq!(baseline["events"], events, "the full replay opens every event");
        assert!(baseline["snapshot_taken_up"].is_null());
        full.push(baseline["seconds"].as_f64().expect("seconds"));
        full_rss.push(baseline["rss_bytes"].as_f64().expect("rss"));
        let ours = open_in_child(&directory, "snapshot");
        assert_eq!(ours["snapshot_taken_up"], events, "the snapshot covers the whole log");
        fast.push(ours["seconds"].as_f64().expect("seconds"));
        store_seconds.push(ours["store_seconds"].as_f64().expect("seconds"));
        fast_rss.push(ours["rss_bytes"].as_f64().expect("rss"));
    }
    let small_rss = small["rss_bytes"].as_f64().expect("rss");
    let extra = json!({"events": events, "rounds": rounds, "grow_seconds": grow_seconds,
        "store_open_seconds": median(&mut store_seconds),
        "baseline_name": "the same directory opened with --verify-on-open=full (every signature verified, every event folded)",
        "target_ratio_max": 0.1});
    emit("open", "open_seconds", median(&mut fast), "s", median(&mut full), extra);
    let per_event = |rss: &mut Vec<f64>| (median(rss) - small_rss) / events as f64;
    emit(
        "open",
        "resident_bytes_per_event",
        per_event(&mut fast_rss),
        "bytes",
        per_event(&mut full_rss),
        json!({"events": events, "rounds": rounds, "empty_log_rss_bytes": small_rss,
               "baseline_name": "the same, after a full replay",
               "note": "(RSS after opening the big log - RSS after opening a 10-event log) / events"}),
    );
}

/// `open-postgres`: the same measure on the PostgreSQL store (issue 26): a log of 150,000 events
/// (20,000 with `--quick`) in a database the bench starts, grown and stopped cleanly by one
/// server, then opened by a fresh process with the snapshot (ours) and with a full replay (the
/// baseline), alternating. Target: the snapshot bounds the open as on the embedded store.
pub fn open_postgres(quick: bool) {
    let events = if quick { 20_000 } else { 150_000 };
    let cluster = klero_store_postgres::test_cluster::TestCluster::start();
    let place = Place::Postgres(cluster.create_database("open"));
    let directory = tempfile::tempdir().expect("temp dir");
    let grow_seconds = grow_at(directory.path(), &place, events);
    let rounds = 3;
    let (mut full, mut fast, mut store_seconds) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let baseline = open_in_child_at(directory.path(), "full", &place);
        assert_eq!(baseline["events"], events, "the full replay opens every event");
        full.push(baseline["seconds"].as_f64().expect("seconds"));
        let ours = open_in_child_at(directory.path(), "snapshot", &place);
        assert_eq!(ours["events"], events);
        fast.push(ours["seconds"].as_f64().expect("seconds"));
        store_seconds.push(ours["store_seconds"].as_f64().expect("seconds"));
        eprintln!("postgres open: snapshot {ours} full {baseline}");
    }
    let extra = json!({"events": events, "rounds": rounds, "grow_seconds": grow_seconds,
        "store_connect_seconds": median(&mut store_seconds),
        "baseline_name": "the same database and directory opened with --verify-on-open=full",
        "target_ratio_max": 0.1});
    emit("open", "postgres_open_seconds", median(&mut fast), "s", median(&mut full), extra);
}
