//! `scale`: a synthetic programme on one service (issue 29). The platform's root registers
//! `councils` councils, each with a root of its own that grants a convenor and a facilitator
//! for its assemblies; each council convenes one; then public submissions fill assemblies of
//! 100,000 each (20,000 with `--quick`), one council after another, until the log holds the
//! events asked for (`KLERO_BENCH_SCALE_EVENTS`, default 2,000,000; 100,000 with `--quick`;
//! the size is 10,000,000). Every event is signed and goes through the core's append
//! path, as an append over gRPC would after its signature check.
//!
//! It prints, each with its baseline from the same run:
//! - append throughput over the last 10% of the growth, against the first 10%;
//! - the resident memory of a server opened on the grown directory in a child process, after
//!   start and at its peak under a load of appends, against the same child on the directory
//!   when it held only the councils' registrations;
//! - the time to start again after the child was killed with SIGKILL under load, against a
//!   start after a clean stop;
//! - the time to make and verify one small council's slice (`council/ID`, FORMAT.md §15.2) at
//!   the full log, against the same council's at the log of registrations only: a council's
//!   record costs its own events, not the log's; and a council of 100,000 events for scale;
//! - the resident memory of the growing process, sampled every tenth of the growth;
//! - the peak resident memory of `klero verify FILE`'s path (a child process) on the whole log's
//!   export, made over gRPC as `klero export` makes it, against the export file's size.

use crate::open_benches::{key, signed};
use crate::report::emit;
use klero_application::{AppendRequest, Application, SliceRequest};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::SignedAuthorPart;
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use klero_store::ExpectedRevision;
use klero_verifier::slice::{verify_slice, SliceOptions, SliceTarget};
use prost::Message;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH_EVENTS: u64 = 1_000;
/// Appends the child makes as its load, in batches, before it reports its peak memory.
const LOAD_EVENTS: u64 = 20_000;

fn log_key() -> LogSigningKey {
    LogSigningKey::new("klero.bench/scale", key("scale log")).expect("key")
}

fn platform() -> SigningKey {
    key("scale platform")
}

fn council_id(c: usize) -> String {
    format!("c{c:03}")
}

fn resident_bytes(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb * 1024.0)
}

/// Where the log is: the embedded store in the data directory, or a PostgreSQL database (the
/// data directory then holds only the tree's leaves and scratch files).
#[derive(Clone, Debug)]
struct Place<'a> {
    directory: &'a Path,
    postgres: Option<&'a str>,
}

async fn start(place: &Place<'_>) -> (klero_application::Running, tokio::sync::oneshot::Sender<()>) {
    start_serving(place, Default::default()).await
}

async fn start_serving(
    place: &Place<'_>,
    listeners: klero_wiring::Listeners,
) -> (klero_application::Running, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = klero_wiring::ServerConfig::new(place.directory, platform().verifying_key().to_bytes(), log_key());
    config.postgres = place.postgres.map(str::to_string);
    // For finding where the time goes: KLERO_BENCH_SCALE_SNAPSHOT_EVENTS=0 writes no snapshot
    // but the clean stop's.
    if let Some(events) = std::env::var("KLERO_BENCH_SCALE_SNAPSHOT_EVENTS").ok().and_then(|n| n.parse::<u64>().ok()) {
        config.tune = Some(klero_wiring::TuneApplication(Arc::new(
            move |application: &mut klero_application::ApplicationConfig| {
                application.snapshots.events = events;
            },
        )));
    }
    let running = klero_wiring::start(config, listeners, klero_application::system_clock(), async {
        let _ = stopped.await;
    })
    .await
    .expect("start");
    (running, stop)
}

async fn append(application: &Application, events: Vec<SignedAuthorPart>) {
    let stream = events[0].author().stream.clone();
    application
        .append(AppendRequest { stream, expected: ExpectedRevision::Any, events, data_keys: Vec::new() })
        .await
        .expect("append");
}

/// Signs `count` public submissions to council `c`'s assembly from event number `first`, on a
/// blocking thread.
async fn submissions(c: usize, first: u64, count: u64) -> Vec<SignedAuthorPart> {
    tokio::task::spawn_blocking(move || {
        let facilitator = key(&format!("scale facilitator {c}"));
        let stream = format!("assembly/{}.main/deliberation", council_id(c));
        (first..first + count)
            .map(|i| {
                let payload = pb::deliberation::PublicSubmissionReceived {
                    submitter_id: format!("submitter-{i:08}"),
                    content_hash: Hash256::of(&i.to_be_bytes()).0.to_vec(),
                    received_on: "2026-06-01".into(),
                    sealed_text: None,
                };
                signed(
                    &facilitator,
                    stream.clone(),
                    "klero.deliberation.v1.PublicSubmissionReceived",
                    payload.encode_to_vec(),
                    i,
                )
            })
            .collect()
    })
    .await
    .expect("signer")
}

/// The platform registers every council; each council's root grants its convenor and
/// facilitator, and the convenor convenes its assembly. Returns the events appended.
async fn register_councils(application: &Application, councils: usize) -> u64 {
    let platform = platform();
    let mut n = 0;
    for c in 0..councils {
        let root = key(&format!("scale root {c}"));
        let registration = pb::registry::CouncilRegistered {
            council_id: council_id(c),
            name: format!("Council {c}"),
            root_public_key: root.verifying_key().to_bytes().to_vec(),
        };
        let stream = format!("council/{}", council_id(c));
        append(
            application,
            vec![signed(
                &platform,
                stream.clone(),
                "klero.registry.v1.CouncilRegistered",
                registration.encode_to_vec(),
                n,
            )],
        )
        .await;
        n += 1;
        let mut grants = Vec::new();
        for (who, role) in
            [("convenor", pb::registry::Role::Convenor), ("facilitator", pb::registry::Role::Facilitator)]
        {
            let grant = pb::registry::KeyGranted {
                public_key: key(&format!("scale {who} {c}")).verifying_key().to_bytes().to_vec(),
                role: role as i32,
                scope: "*".into(),
                holder_title: who.into(),
            };
            grants.push(signed(&root, stream.clone(), "klero.registry.v1.KeyGranted", grant.encode_to_vec(), n));
            n += 1;
        }
        append(application, grants).await;
        let assembly = format!("{}.main", council_id(c));
        let convened = crate::report::convened(assembly.clone(), "How should the council spend its budget?", 40);
        append(
            application,
            vec![signed(
                &key(&format!("scale convenor {c}")),
                format!("assembly/{assembly}"),
                "klero.assembly.v1.AssemblyConvened",
                convened.encode_to_vec(),
                n,
            )],
        )
        .await;
        n += 1;
    }
    n
}

/// Makes and verifies council `c`'s slice at the latest checkpoint; returns its milliseconds
/// (the median of 5) and its events.
async fn council_slice(application: &Application, c: usize) -> (f64, usize) {
    let target = SliceTarget::Council(klero_domain::CouncilId::parse(&council_id(c)).expect("id"));
    let mut times = Vec::new();
    let mut events = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let slice = application
            .slice(&SliceRequest { target: target.clone(), at_size: None, consistency_from: Vec::new() })
            .await
            .expect("slice");
        let verified = verify_slice(&slice, &target, &SliceOptions::default()).expect("the council's slice verifies");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        events = verified.events.len();
    }
    (crate::report::median(&mut times), events)
}

/// Serves `directory` over gRPC on 127.0.0.1 and exports the whole log from it into `path` as
/// `klero export` does; returns the export's events and seconds.
async fn export_whole_log(place: &Place<'_>, path: &Path) -> (u64, f64) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (running, stop) = start_serving(place, listener.into()).await;
    let started = Instant::now();
    let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create export"));
    let (_, events) = klero_client::export::export(&mut client, file, &mut |_, _| {}).await.expect("export");
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    running.stopped().await.expect("clean stop");
    (events, seconds)
}

/// The child's side: opens `directory` as `klero serve` does, prints the time to a served state
/// and the resident memory then; then appends a load of submissions and prints its peak memory
/// after each batch (the parent may kill it at any moment).
pub fn scale_child(directory: &Path, load_council: usize, postgres: Option<&str>) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let (running, _stop) = start(&Place { directory, postgres }).await;
        let application = running.application().clone();
        let seconds = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "{}",
            json!({"opened_seconds": seconds, "events": application.log_size(), "rss_bytes": resident_bytes("VmRSS:")})
        );
        // Ids of their own: a base no other child or the growth uses.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let first = 10_000_000_000 + (nanos % 1_000_000_000_000_000) as u64;
        for batch in 0..LOAD_EVENTS / BATCH_EVENTS {
            let events = submissions(load_council, first + batch * BATCH_EVENTS, BATCH_EVENTS).await;
            append(&application, events).await;
            println!("{}", json!({"loaded": (batch + 1) * BATCH_EVENTS, "peak_rss_bytes": resident_bytes("VmHWM:")}));
        }
        std::mem::forget(running);
    });
    std::process::exit(0)
}

/// Runs a child on `directory`; with `kill_after` loaded events, kills it with SIGKILL then.
/// Returns its first line (open) and its last (peak under load).
fn child(place: &Place<'_>, load_council: usize, kill_after: Option<u64>) -> (serde_json::Value, serde_json::Value) {
    use std::io::BufRead;
    let mut process = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .args(["scale-child", &place.directory.display().to_string(), &load_council.to_string()])
        .args(place.postgres)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child runs");
    let mut lines = std::io::BufReader::new(process.stdout.take().expect("stdout")).lines();
    let opened: serde_json::Value =
        serde_json::from_str(&lines.next().expect("the child opens").expect("a line")).expect("JSON");
    let mut last = json!({});
    for line in lines {
        last = serde_json::from_str(&line.expect("a line")).expect("JSON");
        if kill_after.is_some_and(|after| last["loaded"].as_u64() >= Some(after)) {
            let _ = process.kill();
            break;
        }
    }
    let _ = process.wait();
    (opened, last)
}

/// `scale` on the embedded store, or (`postgres`) on a PostgreSQL server this bench starts.
pub fn scale(quick: bool, postgres: bool) {
    let councils = if quick { 20 } else { 400 };
    let events: u64 = std::env::var("KLERO_BENCH_SCALE_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(if quick {
        100_000
    } else {
        2_000_000
    });
    let per_assembly: u64 = if quick { 20_000 } else { 100_000 };
    // KLERO_BENCH_SCALE_DIR keeps the grown directory, so that one open can be profiled with
    // `klero-bench scale-child DIR 1`.
    let temporary = tempfile::tempdir().expect("temp dir");
    let kept = std::env::var_os("KLERO_BENCH_SCALE_DIR").map(std::path::PathBuf::from);
    let directory = kept.as_deref().unwrap_or(temporary.path());
    let cluster = postgres.then(klero_store_postgres::test_cluster::TestCluster::start);
    let url = cluster.as_ref().map(|cluster| cluster.create_database("scale"));
    let place = Place { directory, postgres: url.as_deref() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    // The programme's councils, then a clean stop: the small directory's baselines.
    let (registered, small_slice) = runtime.block_on(async {
        let (running, stop) = start(&place).await;
        let application = running.application().clone();
        let registered = register_councils(&application, councils).await;
        let small_slice = council_slice(&application, 0).await;
        drop(application);
        let _ = stop.send(());
        running.stopped().await.expect("clean stop");
        (registered, small_slice)
    });
    // The children's load goes to council 1, one of the large ones: council 0 stays as it was.
    let (small_open, _) = child(&place, 1, Some(0));
    let (small_reopen, small_load) = child(&place, 1, None);

    // Growth: 100,000 submissions an assembly, council after council (council 0 stays small).
    let growth = events.saturating_sub(registered + 2 * LOAD_EVENTS);
    let tenth = (growth / 10).max(BATCH_EVENTS);
    let (rates, samples, large_slice, big_slice, grow_seconds) = runtime.block_on(async {
        let (running, stop) = start(&place).await;
        let application = running.application().clone();
        let started = Instant::now();
        let mut rates = Vec::new();
        let mut samples = Vec::new();
        let mut window = (Instant::now(), 0u64);
        let mut done = 0u64;
        let mut pending: Option<tokio::task::JoinHandle<Vec<SignedAuthorPart>>> = None;
        let next_batch = |done: u64| {
            let c = 1 + (done / per_assembly) as usize % (councils - 1);
            tokio::spawn(submissions(c, 1_000_000_000 + done, BATCH_EVENTS))
        };
        while done < growth {
            let batch = match pending.take() {
                Some(handle) => handle.await.expect("signed"),
                None => next_batch(done).await.expect("signed"),
            };
            if done + BATCH_EVENTS < growth {
                pending = Some(next_batch(done + BATCH_EVENTS));
            }
            append(&application, batch).await;
            done += BATCH_EVENTS;
            if done % tenth < BATCH_EVENTS {
                let seconds = window.0.elapsed().as_secs_f64();
                rates.push((done - window.1) as f64 / seconds);
                window = (Instant::now(), done);
                samples.push(json!({"events": registered + done, "seconds": started.elapsed().as_secs_f64().round(),
                    "rss_mb": (resident_bytes("VmRSS:") / 1048576.0).round()}));
            }
        }
        let grow_seconds = started.elapsed().as_secs_f64();
        let large_slice = council_slice(&application, 0).await;
        let big_slice = council_slice(&application, 1).await;
        drop(application);
        let _ = stop.send(());
        running.stopped().await.expect("clean stop");
        (rates, samples, large_slice, big_slice, grow_seconds)
    });
    let (clean_open, load) = child(&place, 1, None);
    let (_, _) = child(&place, 1, Some(LOAD_EVENTS / 2));
    let (after_kill, _) = child(&place, 1, Some(0));
    let total = after_kill["events"].as_u64().unwrap_or(0);

    // The auditor's side: the whole log exported (beside a kept directory, so that
    // `klero-bench verify-file-child FILE` can be run on it again), then verified from the file
    // in a child process, as `klero verify FILE` does.
    let export_path = match &kept {
        Some(kept) => kept.with_extension("export"),
        None => temporary.path().with_extension("export"),
    };
    let (exported, export_seconds) = runtime.block_on(export_whole_log(&place, &export_path));
    let export_bytes = std::fs::metadata(&export_path).map_or(0, |m| m.len());
    let verified = crate::audit_benches::verify_file_in_child(&export_path);
    if kept.is_none() {
        let _ = std::fs::remove_file(&export_path);
    }

    let extra = |more: serde_json::Value| {
        let mut base = json!({"councils": councils, "events": total, "assembly_submissions": per_assembly,
            "grow_seconds": grow_seconds.round(), "store": if postgres { "postgres" } else { "embedded" }});
        if let (Some(base), serde_json::Value::Object(more)) = (base.as_object_mut(), more) {
            base.extend(more);
        }
        base
    };
    let (first, last) = (rates.first().copied().unwrap_or(f64::NAN), rates.last().copied().unwrap_or(f64::NAN));
    emit(
        "scale",
        "append_events_per_second",
        last,
        "events/s",
        first,
        extra(json!({"baseline_name": "the first tenth of the growth, in the same run", "target_ratio_min": 0.8,
            "rss_samples": samples})),
    );
    emit(
        "scale",
        "rss_after_start_bytes",
        clean_open["rss_bytes"].as_f64().unwrap_or(f64::NAN),
        "bytes",
        small_reopen["rss_bytes"].as_f64().unwrap_or(f64::NAN),
        extra(
            json!({"baseline_name": format!("the same directory with only the {registered} events of the councils' registrations"),
            "target_max_bytes": 512u64 << 20, "small_first_open_rss_bytes": small_open["rss_bytes"]}),
        ),
    );
    emit(
        "scale",
        "rss_under_load_bytes",
        load["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN),
        "bytes",
        small_load["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN),
        extra(json!({"baseline_name": "the same load on the small directory", "load_events": LOAD_EVENTS,
            "target_max_bytes": 768u64 << 20})),
    );
    emit(
        "scale",
        "restart_after_sigkill_seconds",
        after_kill["opened_seconds"].as_f64().unwrap_or(f64::NAN),
        "s",
        clean_open["opened_seconds"].as_f64().unwrap_or(f64::NAN),
        extra(json!({"baseline_name": "the same directory opened after a clean stop", "target_max_seconds": 5})),
    );
    emit(
        "scale",
        "verify_peak_rss_bytes",
        verified["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN),
        "bytes",
        export_bytes as f64,
        extra(json!({"baseline_name": "the export file's size", "target_max_bytes": 256u64 << 20,
            "exported_events": exported, "export_seconds": export_seconds,
            "verified_events": verified["events"], "verify_seconds": verified["seconds"],
            "verify_events_per_second": verified["events_per_second"]})),
    );
    emit(
        "scale",
        "council_slice_ms",
        large_slice.0,
        "ms",
        small_slice.0,
        extra(json!({"baseline_name": format!("the same council's slice when the log held {registered} events"),
            "council_slice_events": large_slice.1, "large_council_slice_ms": big_slice.0,
            "large_council_slice_events": big_slice.1})),
    );
}
