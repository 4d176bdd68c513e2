//! `append`: durable appends of 300-byte events to the embedded store, with 1 and 64 writers,
//! against SQLite (WAL, synchronous=FULL, one transaction per append of the same size) doing the
//! same appends in the same run.

use crate::report::{emit, quantile_us};
use klero_ledger::envelope::EventId;
use klero_store::{EventData, EventStore, ExpectedRevision};
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOAD_BYTES: usize = 300;

fn event(writer: u32, n: u32) -> EventData {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&(writer + 1).to_be_bytes());
    id[4..8].copy_from_slice(&n.to_be_bytes());
    EventData {
        event_id: EventId(id),
        event_type: "klero.bench.Appended".into(),
        data: vec![(n % 251) as u8; PAYLOAD_BYTES],
    }
}

struct Run {
    events_per_second: f64,
    latencies: Vec<Duration>,
}

async fn run_embedded(writers: u32, appends_per_writer: u32) -> Run {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(directory.path(), EmbeddedStoreOptions::default()).await.expect("open"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(appends_per_writer as usize);
            let stream = format!("bench-{writer}");
            for n in 0..appends_per_writer {
                let begun = Instant::now();
                store.append(&stream, ExpectedRevision::Any, vec![event(writer, n)]).await.expect("append");
                latencies.push(begun.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await;
    Run { events_per_second: latencies.len() as f64 / elapsed, latencies }
}

fn sqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).expect("sqlite open");
    connection.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    connection.pragma_update(None, "journal_mode", "WAL").expect("wal");
    connection.pragma_update(None, "synchronous", "FULL").expect("synchronous");
    connection
}

fn run_sqlite(writers: u32, appends_per_writer: u32) -> Run {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("events.db");
    sqlite_connection(&path)
        .execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, stream TEXT NOT NULL,
             revision INTEGER NOT NULL, event_type TEXT NOT NULL, data BLOB NOT NULL, UNIQUE (stream, revision));",
        )
        .expect("schema");
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let path = path.clone();
                scope.spawn(move || {
                    let mut connection = sqlite_connection(&path);
                    let stream = format!("bench-{writer}");
                    let mut latencies = Vec::with_capacity(appends_per_writer as usize);
                    for n in 0..appends_per_writer {
                        let begun = Instant::now();
                        let e = event(writer, n);
                        let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
                        transaction
                            .execute(
                                "INSERT INTO events (event_id, stream, revision, event_type, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                                rusqlite::params![&e.event_id.0[..], stream, n, e.event_type, e.data],
                            )
                            .expect("insert");
                        transaction.commit().expect("commit");
                        latencies.push(begun.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("writer")).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    Run { events_per_second: latencies.len() as f64 / elapsed, latencies }
}

pub fn append(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for (writers, appends_per_writer) in [(1u32, if quick { 500 } else { 5_000 }), (64, if quick { 50 } else { 500 })] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let rounds = if quick { 1 } else { 3 };
        for _ in 0..rounds {
            ours.push(runtime.block_on(run_embedded(writers, appends_per_writer)));
            theirs.push(run_sqlite(writers, appends_per_writer));
        }
        // The median round by throughput, for each side.
        ours.sort_by(|a, b| a.events_per_second.total_cmp(&b.events_per_second));
        theirs.sort_by(|a, b| a.events_per_second.total_cmp(&b.events_per_second));
        let (mut ours, mut theirs) = (ours.swap_remove(rounds / 2), theirs.swap_remove(rounds / 2));
        let extra = json!({"writers": writers, "events_per_append": 1, "payload_bytes": PAYLOAD_BYTES,
            "appends": writers * appends_per_writer, "rounds": rounds,
            "baseline_name": "SQLite WAL synchronous=FULL, one transaction per append"});
        emit(
            "append",
            &format!("events_per_second_{writers}_writers"),
            ours.events_per_second,
            "events/s",
            theirs.events_per_second,
            extra.clone(),
        );
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            emit(
                "append",
                &format!("latency_{name}_us_{writers}_writers"),
                quantile_us(&mut ours.latencies, q),
                "us",
                quantile_us(&mut theirs.latencies, q),
                extra.clone(),
            );
        }
    }
}
