//! `tiles`: the log as C2SP tlog-tiles, and a monitor catching up on it.
//!
//! - Serving: keep-alive HTTP/1.1 readers fetch a full level-0 tile, an entry bundle and a
//!   level-1 tile, against the embedded style sheet (6,958 bytes to a tile's 8,192) from the
//!   same server, in alternating rounds. Also the first fetch of every full tile and bundle of
//!   the log (the cache empty), one at a time.
//! - Appending while tiles are read: 64 writers append unary events, in alternating rounds
//!   without and with a tail-following reader (every 100 ms: the checkpoint, then the newest
//!   partial level-0 tile, entry bundle and envelope bundle, as a monitor tails a log).
//! - A monitor catching up on a whole log from an empty state directory, against
//!   `klero verify` (`verify_stream`) of an export of the same log.

use crate::grpc_benches::{drive, grant_and_convene, submissions, BenchServer};
use crate::page_benches::{get, get_body, round, Round};
use crate::report::{emit, median, quantile_us};
use klero_client::KleroClient;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::BufReader;

const WRITERS: usize = 64;

/// Grants the bench's roles (for every assembly) and convenes one assembly per writer.
async fn convene_writers(client: &mut KleroClient, server: &BenchServer) {
    grant_and_convene(client, &server.council, &server.convenor, &server.facilitator, "tiles-0").await;
    for writer in 1..WRITERS {
        let assembly = format!("tiles-{writer}");
        let convened = crate::report::convened(assembly.as_str(), "How fast is it?", 20);
        client.append(&server.convenor.sign(&assembly, &convened).expect("sign"), None).await.expect("convene");
    }
}

/// Appends `total` submissions from 64 writers in batches (the fastest way to a big log).
async fn fill(server: &BenchServer, total: usize) -> u64 {
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    convene_writers(&mut client, server).await;
    append_submissions(server, total).await
}

/// Appends about `total` submissions over the writers' assemblies; returns the log's size.
async fn append_submissions(server: &BenchServer, total: usize) -> u64 {
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    let per_writer = total / WRITERS;
    let work = (0..WRITERS)
        .map(|w| {
            let assembly = format!("tiles-{w}");
            (format!("assembly/{assembly}/deliberation"), submissions(&server.facilitator, &assembly, per_writer))
        })
        .collect();
    drive(&server.url, work, true).await;
    client.checkpoint().await.expect("checkpoint").tree_size
}

fn path(kind: &str, index: u64) -> String {
    format!("/{kind}/{}", klero_ledger::tiles::index_path(index))
}

/// Tails the log as a monitor does until `stop`: every 100 ms the checkpoint, then the tile,
/// entry bundle and envelope bundle of its newest leaves. Returns the requests made.
async fn tail_reader(address: String, stop: tokio::sync::watch::Receiver<bool>) -> u64 {
    let mut requests = 0u64;
    let mut connection = BufReader::new(tokio::net::TcpStream::connect(&address).await.expect("connect"));
    while !*stop.borrow() {
        let request = format!("GET /checkpoint HTTP/1.1\r\nHost: {address}\r\n\r\n");
        let (_, note) = get_body(&mut connection, request.as_bytes()).await;
        let size: u64 = String::from_utf8_lossy(&note).lines().nth(1).and_then(|l| l.parse().ok()).expect("a size");
        requests += 1;
        if size > 0 {
            let (index, width) = ((size - 1) / 256, (size - 1) % 256 + 1);
            for kind in ["tile/0", "tile/entries", "klero/envelopes"] {
                let partial = if width == 256 { String::new() } else { format!(".p/{width}") };
                let request = format!("GET {}{partial} HTTP/1.1\r\nHost: {address}\r\n\r\n", path(kind, index));
                get(&mut connection, request.as_bytes()).await;
                requests += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    requests
}

pub fn tiles(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        serving(quick).await;
        appending(quick).await;
        monitoring(quick).await;
    });
}

async fn serving(quick: bool) {
    let server = BenchServer::start_with_pages().await;
    let size = fill(&server, if quick { 10_000 } else { 100_000 }).await;
    let address = server.pages_url.clone().expect("tiles").trim_start_matches("http://").to_string();

    // Every full tile and bundle once, the cache empty: what the first readers cost.
    let mut connection = BufReader::new(tokio::net::TcpStream::connect(&address).await.expect("connect"));
    let full = size / 256;
    let started = Instant::now();
    let mut fetched = 0u64;
    for index in 0..full {
        for kind in ["tile/0", "tile/entries", "klero/envelopes"] {
            let request = format!("GET {} HTTP/1.1\r\nHost: {address}\r\n\r\n", path(kind, index));
            get(&mut connection, request.as_bytes()).await;
            fetched += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    emit(
        "tiles",
        "first_fetch_of_every_full_tile_per_second",
        fetched as f64 / seconds,
        "tiles/s",
        f64::NAN,
        json!({"log_events": size, "tiles": fetched, "kinds": "level-0 tile, entry bundle, envelope bundle",
            "leaves_per_second": (full * 256) as f64 / seconds}),
    );

    let clients = if quick { 16 } else { 64 };
    let duration = Duration::from_secs(if quick { 1 } else { 3 });
    let rounds = if quick { 1 } else { 5 };
    let level_one = if size >= 65_536 { path("tile/1", 0) } else { format!("{}.p/{}", path("tile/1", 0), size / 256) };
    for (name, tile) in
        [("level0_tile", path("tile/0", 0)), ("entry_bundle", path("tile/entries", 0)), ("level1_tile", level_one)]
    {
        let (mut ours, mut statics): (Vec<Round>, Vec<Round>) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            ours.push(round(&address, &tile, false, clients, duration).await);
            statics.push(round(&address, "/static/klero.css", false, clients, duration).await);
        }
        let rate = |runs: &[Round]| median(&mut runs.iter().map(|r| r.pages_per_second).collect::<Vec<_>>());
        let byte_rate = |runs: &[Round]| {
            median(&mut runs.iter().map(|r| r.pages_per_second * r.bytes as f64 / 1e6).collect::<Vec<_>>())
        };
        let extra = json!({"clients": clients, "rounds": rounds, "seconds_per_round": duration.as_secs(), "path": tile,
            "log_events": size, "bytes": ours[0].bytes, "baseline_bytes": statics[0].bytes,
            "target": "at least 0.5x the static file's rate",
            "baseline_name": "the embedded style sheet (/static/klero.css), from the same server in the same run"});
        emit(
            "tiles",
            &format!("{name}_per_second_{clients}_clients"),
            rate(&ours),
            "tiles/s",
            rate(&statics),
            extra.clone(),
        );
        emit(
            "tiles",
            &format!("{name}_megabytes_per_second_{clients}_clients"),
            byte_rate(&ours),
            "MB/s",
            byte_rate(&statics),
            extra.clone(),
        );
        let mut ours_latencies: Vec<Duration> = ours.into_iter().flat_map(|r| r.latencies).collect();
        let mut static_latencies: Vec<Duration> = statics.into_iter().flat_map(|r| r.latencies).collect();
        emit(
            "tiles",
            &format!("{name}_latency_p99_ms_{clients}_clients"),
            quantile_us(&mut ours_latencies, 0.99) / 1e3,
            "ms",
            quantile_us(&mut static_latencies, 0.99) / 1e3,
            extra,
        );
    }
    server.stop().await;
}

async fn appending(quick: bool) {
    let server = BenchServer::start_with_pages().await;
    let address = server.pages_url.clone().expect("tiles").trim_start_matches("http://").to_string();
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    convene_writers(&mut client, &server).await;
    let rounds = if quick { 1 } else { 5 };
    let per_writer = if quick { 20 } else { 150 };
    let readers = 4;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let mut requests = 0;
    for round_number in 0..rounds {
        // Alternate which goes first, so that the log's growth weighs on both alike.
        for tiles_read in if round_number % 2 == 0 { [false, true] } else { [true, false] } {
            let work = (0..WRITERS)
                .map(|w| {
                    let assembly = format!("tiles-{w}");
                    (
                        format!("assembly/{assembly}/deliberation"),
                        submissions(&server.facilitator, &assembly, per_writer),
                    )
                })
                .collect();
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let tails: Vec<_> = if tiles_read {
                (0..readers).map(|_| tokio::spawn(tail_reader(address.clone(), stopped.clone()))).collect()
            } else {
                Vec::new()
            };
            let run = drive(&server.url, work, false).await;
            stop.send(true).expect("readers listen");
            for tail in tails {
                requests += tail.await.expect("reader");
            }
            if tiles_read {
                on.push(run.events_per_second)
            } else {
                off.push(run.events_per_second)
            }
        }
    }
    emit(
        "tiles",
        &format!("append_events_per_second_{WRITERS}_writers_while_tiles_are_read"),
        median(&mut on),
        "events/s",
        median(&mut off),
        json!({"writers": WRITERS, "rounds": rounds, "events_per_round": WRITERS * per_writer, "tail_readers": readers,
            "tile_requests": requests, "target": "at least 0.9x the rate with no tile reader",
            "baseline_name": "the same server and writers, no tile reader, alternating rounds"}),
    );
    server.stop().await;
}

async fn monitoring(quick: bool) {
    let server = BenchServer::start_with_pages().await;
    let size = fill(&server, if quick { 20_000 } else { 1_000_000 }).await;
    let log_url = server.pages_url.clone().expect("tiles");
    let state = tempfile::tempdir().expect("temp dir");
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    let checkpoint = client.checkpoint().await.expect("checkpoint");
    let config = klero_transparency::MonitorConfig {
        log_url,
        log_key: klero_ledger::checkpoint::LogVerifierKey::parse_vkey(&checkpoint.verifier_key).expect("vkey"),
        trust_root: server.council.public_key(),
        witness_policy: None,
        witness_urls: Vec::new(),
        state_dir: state.path().to_path_buf(),
        timeout: Duration::from_secs(60),
    };
    let mut monitor = klero_transparency::Monitor::open(config.clone()).expect("monitor");
    let started = Instant::now();
    let outcome = monitor.round().await.expect("a round");
    let monitor_seconds = started.elapsed().as_secs_f64();
    let verified = match outcome {
        klero_transparency::RoundOutcome::Verified { tree_size, .. } => tree_size,
        klero_transparency::RoundOutcome::Alarm(alarm) => panic!("the monitor raised the alarm: {alarm}"),
    };
    // Restarted on its state, it fetches only the partial bundle and takes up the replay's
    // state saved there (opening is timed: that is where the state is read).
    let started = Instant::now();
    let mut restarted = klero_transparency::Monitor::open(config.clone()).expect("monitor");
    restarted.round().await.expect("a round");
    let resumed_seconds = started.elapsed().as_secs_f64();

    let export = tempfile::NamedTempFile::new().expect("temp file");
    let started = Instant::now();
    let (_, exported) = klero_client::export::export(
        &mut client,
        std::io::BufWriter::new(export.reopen().expect("file")),
        &mut |_, _| {},
    )
    .await
    .expect("export");
    let export_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = tokio::task::spawn_blocking({
        let path = export.path().to_path_buf();
        move || {
            let file = std::io::BufReader::new(std::fs::File::open(path).expect("open"));
            klero_verifier::verify_stream(file, &klero_verifier::VerifyOptions::default(), None, &mut |_, _| {})
        }
    })
    .await
    .expect("verify");
    let verify_seconds = started.elapsed().as_secs_f64();
    assert!(report.ok(), "the export verifies: {:?}", report.first_failure);
    let extra = json!({"log_events": size, "monitor_verified": verified, "exported_events": exported,
        "monitor_seconds": monitor_seconds, "verify_seconds": verify_seconds, "export_seconds": export_seconds,
        "resumed_round_seconds": resumed_seconds,
        "baseline_name": "klero verify (verify_stream) of an export of the same log, export time excluded"});
    emit(
        "tiles",
        "monitor_catch_up_entries_per_second",
        verified as f64 / monitor_seconds,
        "entries/s",
        exported as f64 / verify_seconds,
        extra.clone(),
    );
    emit("tiles", "monitor_resumed_round_seconds", resumed_seconds, "s", monitor_seconds, extra);

    // One round after 1% new entries, by the monitor that verified the log before them: it
    // goes on from the state its last round left. The baseline is the same round by a monitor
    // restarted on the same state directory, which replays the whole log from its disk.
    let grown = append_submissions(&server, size as usize / 100).await;
    let before_round = tempfile::tempdir().expect("temp dir");
    copy_directory(state.path(), before_round.path());
    let started = Instant::now();
    let outcome = monitor.round().await.expect("a round");
    let continued_seconds = started.elapsed().as_secs_f64();
    let new_entries = match outcome {
        klero_transparency::RoundOutcome::Verified { new_entries, .. } => new_entries,
        klero_transparency::RoundOutcome::Alarm(alarm) => panic!("the monitor raised the alarm: {alarm}"),
    };
    // The same round by monitors restarted on a copy of the state directory as it was before
    // that round: one takes up the replay's state saved there, the other (its baseline) has
    // that file removed and replays the whole log.
    let timed_restart = |keep_replay: bool| {
        let (config, copy) = (config.clone(), before_round.path().to_path_buf());
        async move {
            let fresh = tempfile::tempdir().expect("temp dir");
            copy_directory(&copy, fresh.path());
            if !keep_replay {
                std::fs::remove_file(fresh.path().join("replay")).expect("the replay's state was saved");
            }
            let config = klero_transparency::MonitorConfig { state_dir: fresh.path().to_path_buf(), ..config };
            let started = Instant::now();
            let mut restarted = klero_transparency::Monitor::open(config).expect("monitor");
            let outcome = restarted.round().await.expect("a round");
            let seconds = started.elapsed().as_secs_f64();
            assert!(
                matches!(outcome, klero_transparency::RoundOutcome::Verified { tree_size, .. } if tree_size == grown)
            );
            seconds
        }
    };
    let restarted_seconds = timed_restart(true).await;
    let full_seconds = timed_restart(false).await;
    for (metric, seconds, ours) in [
        (
            "monitor_round_after_1_percent_new_seconds",
            continued_seconds,
            "a round of the monitor that verified the log before the new entries (its replay goes on in memory)",
        ),
        (
            "monitor_restarted_round_after_1_percent_new_seconds",
            restarted_seconds,
            "the same round by a monitor restarted on the state directory: it takes up the replay's state saved there",
        ),
    ] {
        emit(
            "tiles",
            metric,
            seconds,
            "s",
            full_seconds,
            json!({"log_events": grown, "new_entries": new_entries, "target_ratio_max": 0.1, "ours": ours,
                "baseline_name": "the same round by a monitor restarted on the state directory without its replay's state (the whole log replayed)"}),
        );
    }
    server.stop().await;
}

/// Copies a monitor's state directory (its files, and `envelopes/`) to `to`.
fn copy_directory(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read state") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_directory(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
