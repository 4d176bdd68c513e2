//! `soak`: a bounded soak of a server in a child process (`klero-bench serve-child`), at about
//! 70% of the append rate measured first, with at the same time: connection churn, live
//! subscribers (half of which never read), proof and view readers, and one `kill -9` and
//! restart half-way. Every 10 s it samples the child's resident memory and the appends' p99;
//! at the end it checks that every acknowledged event is in the log.
//!
//! `KLERO_SOAK_SECONDS` sets the soak's length (600 by default, 30 with `--quick`).

use crate::grpc_benches::submissions;
use crate::report::{emit, quantile_us};
use klero_client::{Author, KleroClient};
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 32;
const SUBSCRIBERS: usize = 8;
const SAMPLE: Duration = Duration::from_secs(10);

fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

/// The child: a server as `klero serve` wires it, on `directory`, its address written to
/// `address_file`, until killed.
pub fn serve_child(directory: &Path, address_file: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let _running = crate::grpc_benches::start_server(
            directory,
            key("bench council").verifying_key().to_bytes(),
            listener,
            None,
            std::future::pending(),
        )
        .await;
        // Written whole, then renamed: the parent never reads half an address.
        let partial = address_file.with_extension("partial");
        std::fs::write(&partial, format!("http://{address}")).expect("write the address");
        std::fs::rename(&partial, address_file).expect("publish the address");
        std::future::pending::<()>().await;
    });
    unreachable!("the child serves until it is killed")
}

struct Child {
    process: std::process::Child,
    url: String,
}

fn spawn_child(directory: &Path) -> Child {
    let address_file = directory.with_extension("address");
    let _ = std::fs::remove_file(&address_file);
    let mut process = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .arg("serve-child")
        .arg(directory)
        .arg(&address_file)
        .spawn()
        .expect("child");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if let Ok(url) = std::fs::read_to_string(&address_file) {
            if !url.is_empty() {
                return Child { process, url };
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = process.kill();
    let _ = process.wait();
    panic!("the child server did not start within 120 s")
}

/// A memory figure of the process from `/proc/PID/status`, in MB: `VmRSS` (resident now) or
/// `VmHWM` (the most resident since it started, which catches the peaks between samples).
fn status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Everything the load tasks share.
struct Shared {
    url: Mutex<String>,
    stop: AtomicBool,
    acknowledged: Mutex<Vec<[u8; 16]>>,
    latencies: Mutex<Vec<Duration>>,
    failures: AtomicU64,
    churned: AtomicU64,
    proofs: AtomicU64,
}

impl Shared {
    fn url(&self) -> String {
        self.url.lock().expect("lock").clone()
    }
}

/// A client that gives up a call after 100 ms of retries, for loops that retry themselves.
fn fail_fast(client: KleroClient) -> KleroClient {
    client.with_retry_deadline(Duration::from_millis(100))
}

pub fn soak(quick: bool) {
    let seconds: u64 =
        std::env::var("KLERO_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(if quick { 30 } else { 600 });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let directory = tempfile::tempdir().expect("temp dir");
    let data = directory.path().join("data");
    let mut child = spawn_child(&data);
    let shared = Arc::new(Shared {
        url: Mutex::new(child.url.clone()),
        stop: AtomicBool::new(false),
        acknowledged: Mutex::new(Vec::new()),
        latencies: Mutex::new(Vec::new()),
        failures: AtomicU64::new(0),
        churned: AtomicU64::new(0),
        proofs: AtomicU64::new(0),
    });
    let council = Author::new(key("bench council"));
    let convenor = Author::new(key("bench convenor"));
    let facilitator = Author::new(key("bench facilitator"));
    runtime.block_on(async {
        let mut client = KleroClient::connect(&child.url).await.expect("connect");
        crate::grpc_benches::grant_and_convene(&mut client, &council, &convenor, &facilitator, "soak-0").await;
        for writer in 1..WRITERS {
            let assembly = format!("soak-{writer}");
            let convened = crate::report::convened(assembly.as_str(), "How long does it hold?", 20);
            client.append(&convenor.sign(&assembly, &convened).expect("sign"), None).await.expect("convene");
        }
        // The maximum: every writer as fast as it can for a few seconds.
        let burst = if quick { 40 } else { 150 };
        let work = (0..WRITERS)
            .map(|w| {
                let assembly = format!("soak-{w}");
                (format!("assembly/{assembly}/deliberation"), submissions(&facilitator, &assembly, burst))
            })
            .collect();
        let maximum = crate::grpc_benches::drive(&child.url, work, false).await.events_per_second;
        let target = maximum * 0.7;
        let per_writer_interval = Duration::from_secs_f64(WRITERS as f64 / target);

        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let shared = shared.clone();
            let facilitator = Author::new(key("bench facilitator"));
            tasks.push(tokio::spawn(async move {
                let assembly = format!("soak-{writer}");
                let mut n = 0u64;
                let mut client: Option<KleroClient> = None;
                let mut next = tokio::time::Instant::now();
                while !shared.stop.load(Ordering::Relaxed) {
                    next += per_writer_interval;
                    tokio::time::sleep_until(next).await;
                    let payload = pb::deliberation::PublicSubmissionReceived {
                        submitter_id: format!("w{writer}n{n}"),
                        content_hash: Hash256::of(&n.to_be_bytes()).0.to_vec(),
                        received_on: "2026-11-30".into(),
                        sealed_text: None,
                    };
                    n += 1;
                    let event = facilitator.sign(&assembly, &payload).expect("sign");
                    // The same bytes until acknowledged: a retry after a kill is idempotent.
                    loop {
                        if shared.stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if client.is_none() {
                            // This loop retries on its own, on the server's new address after
                            // the kill: the client's own retries would keep calling the old one.
                            client = KleroClient::connect(&shared.url()).await.ok().map(fail_fast);
                        }
                        let Some(connected) = client.as_mut() else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        let began = Instant::now();
                        match connected.append(&event, None).await {
                            Ok(_) => {
                                shared.latencies.lock().expect("lock").push(began.elapsed());
                                shared.acknowledged.lock().expect("lock").push(event.event_id.0);
                                break;
                            }
                            Err(_) => {
                                shared.failures.fetch_add(1, Ordering::Relaxed);
                                client = None;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                }
            }));
        }
        // Connection churn: a new connection, one call, closed, about 20 times a second.
        {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                while !shared.stop.load(Ordering::Relaxed) {
                    if let Ok(mut client) = KleroClient::connect(&shared.url()).await {
                        let _ = client.checkpoint().await;
                        shared.churned.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }));
        }
        // Subscribers: half read everything, half never read after subscribing.
        for subscriber in 0..SUBSCRIBERS {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let reads = subscriber % 2 == 0;
                while !shared.stop.load(Ordering::Relaxed) {
                    let connected_to = shared.url();
                    let Ok(mut client) = KleroClient::connect(&connected_to).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let Ok(stream) =
                        client.ledger().subscribe(pb::ledger::SubscribeRequest { from_log_index: 0 }).await
                    else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let mut stream = stream.into_inner();
                    if reads {
                        while let Ok(Some(_)) = stream.message().await {
                            if shared.stop.load(Ordering::Relaxed) {
                                return;
                            }
                        }
                    } else {
                        // Never reads; holds the stream until the server it was opened on is
                        // replaced, then subscribes again and again never reads.
                        while !shared.stop.load(Ordering::Relaxed) && shared.url() == connected_to {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        drop(stream);
                    }
                }
            }));
        }
        // Proof and view readers.
        for _ in 0..2 {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut client: Option<KleroClient> = None;
                let mut i = 0u64;
                while !shared.stop.load(Ordering::Relaxed) {
                    if client.is_none() {
                        client = KleroClient::connect(&shared.url()).await.ok().map(fail_fast);
                    }
                    if let Some(connected) = client.as_mut() {
                        let ok = match connected.checkpoint().await {
                            Ok(checkpoint) if checkpoint.tree_size > 0 => {
                                i = (i + 7919) % checkpoint.tree_size;
                                let proof = connected.inclusion_proof(i, checkpoint.tree_size).await.is_ok();
                                let view = connected
                                    .query()
                                    .get_view(pb::query::GetViewRequest {
                                        view: "accountability".into(),
                                        assembly_id: "soak-0".into(),
                                        digest_only: false,
                                    })
                                    .await
                                    .is_ok();
                                proof && view
                            }
                            Ok(_) => true,
                            Err(_) => false,
                        };
                        if ok {
                            shared.proofs.fetch_add(1, Ordering::Relaxed);
                        } else {
                            client = None;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }

        // Sample every 10 s; kill -9 and restart half-way.
        let started = Instant::now();
        let mut samples = Vec::new();
        let mut killed = false;
        let mut restart_seconds = 0.0;
        while started.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(SAMPLE.min(Duration::from_secs(seconds).saturating_sub(started.elapsed()))).await;
            let mut window: Vec<Duration> = std::mem::take(&mut *shared.latencies.lock().expect("lock"));
            let p99_ms = if window.is_empty() { f64::NAN } else { quantile_us(&mut window, 0.99) / 1e3 };
            // The log's size: the server keeps about 100 bytes an event resident (its index and
            // tree), so memory that tracks the log is expected; memory beyond it is a leak.
            let log_events = match KleroClient::connect(&child.url).await {
                Ok(mut client) => client.checkpoint().await.map(|c| c.tree_size).unwrap_or(0),
                Err(_) => 0,
            };
            let (rss, peak) = (status_mb(child.process.id(), "VmRSS:"), status_mb(child.process.id(), "VmHWM:"));
            samples.push(json!({"second": started.elapsed().as_secs(), "rss_mb": (rss * 10.0).round() / 10.0,
                "peak_rss_mb": (peak * 10.0).round() / 10.0,
                "log_events": log_events, "appends": window.len(), "p99_ms": (p99_ms * 100.0).round() / 100.0,
                "rss_bytes_per_log_event": if log_events > 0 { (rss * 1048576.0 / log_events as f64).round() } else { f64::NAN }}));
            if !killed && started.elapsed() >= Duration::from_secs(seconds / 2) {
                killed = true;
                let _ = child.process.kill();
                let _ = child.process.wait();
                let restarted = Instant::now();
                child = spawn_child(&data);
                restart_seconds = restarted.elapsed().as_secs_f64();
                *shared.url.lock().expect("lock") = child.url.clone();
            }
        }
        shared.stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }

        // Every acknowledged event is in the log.
        let mut client = KleroClient::connect(&child.url).await.expect("connect");
        let mut present = HashSet::new();
        let mut from = 0u64;
        loop {
            let page = client
                .ledger()
                .read_log(pb::ledger::ReadLogRequest { from_log_index: from, max_count: 1000 })
                .await
                .expect("read the log")
                .into_inner();
            if page.events.is_empty() {
                break;
            }
            for event in &page.events {
                let envelope = klero_ledger::envelope::Envelope::parse(event.envelope.clone()).expect("envelope");
                present.insert(envelope.author().event_id.0);
            }
            from += page.events.len() as u64;
        }
        let acknowledged = shared.acknowledged.lock().expect("lock").clone();
        let lost = acknowledged.iter().filter(|id| !present.contains(*id)).count();
        let rss: Vec<f64> = samples.iter().filter_map(|s| s["rss_mb"].as_f64()).collect();
        let extra = json!({"seconds": seconds, "writers": WRITERS, "maximum_events_per_second": maximum,
            "target_events_per_second": target, "acknowledged": acknowledged.len(), "log_events": from,
            "lost_acknowledged": lost, "append_retries": shared.failures.load(Ordering::Relaxed),
            "connections_churned": shared.churned.load(Ordering::Relaxed), "proof_and_view_reads": shared.proofs.load(Ordering::Relaxed),
            "subscribers": SUBSCRIBERS, "subscribers_never_reading": SUBSCRIBERS / 2, "killed_and_restarted": killed,
            "restart_seconds": restart_seconds, "samples": samples,
            "bound_per_unread_subscriber": "256 events in the server's channel + 256 read ahead by the core + the HTTP/2 window"});
        emit("soak", "lost_acknowledged_events", lost as f64, "events", f64::NAN, extra.clone());
        emit("soak", "acknowledged_events_per_second", acknowledged.len() as f64 / seconds as f64, "events/s", target, extra.clone());
        let (first, last) = (rss.iter().copied().take(3).fold(0.0, f64::max), rss.iter().rev().copied().take(3).fold(0.0, f64::max));
        emit("soak", "rss_mb_at_end", last, "MB", first, extra);
        let _ = child.process.kill();
        let _ = child.process.wait();
        assert_eq!(lost, 0, "acknowledged events were lost");
    });
}
