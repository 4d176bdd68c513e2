//! Test helper for `tests/crash_safety.rs`: appends signed events to a log until it is killed,
//! printing `ack <leaf index> <event hash>` for each append after it was acknowledged, and
//! `checkpoint <size>` after each durable checkpoint. Stops by itself after 60 s.

use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_ledger::{Hash256, SigningKey};
use klero_log::{LogConfig, TransparencyLog};
use klero_store::ExpectedRevision;
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WRITERS: u64 = 4;
const RUN_SECONDS_MAX: u64 = 60;

fn main() {
    let directory = std::env::args().nth(1).expect("usage: klero-crash-writer DATA_DIR");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run(directory.into()));
}

async fn run(directory: std::path::PathBuf) {
    let options = EmbeddedStoreOptions { segment_bytes_max: 256 * 1024, ..Default::default() };
    let store = Arc::new(EmbeddedStore::open(&directory, options).await.expect("open store"));
    let log_key =
        LogSigningKey::new("klero.test/log", SigningKey::from_bytes(&Hash256::of(b"log key").0)).expect("key");
    let config = LogConfig { verify_signatures_on_open: false, ..LogConfig::new(log_key) };
    let log = Arc::new(TransparencyLog::open(store, config).await.expect("open log"));
    let author = Arc::new(SigningKey::from_bytes(&Hash256::of(b"crash author key").0));
    let started = Instant::now();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (log, author) = (log.clone(), author.clone());
        tasks.push(tokio::spawn(async move {
            let mut counter = 0u64;
            while started.elapsed() < Duration::from_secs(RUN_SECONDS_MAX) {
                let seed = Hash256::of(format!("{}-{nanos}-{writer}-{counter}", std::process::id()).as_bytes());
                let mut id = [0u8; 16];
                id.copy_from_slice(&seed.0[..16]);
                let author_part = AuthorPart {
                    event_id: EventId(id),
                    stream: format!("crash-{writer}"),
                    event_type: "klero.test.CrashTested".into(),
                    event_version: 1,
                    author_public_key: author.verifying_key().to_bytes(),
                    authored_at_unix_ms: counter,
                    payload: seed.0.repeat(8),
                };
                let signed = author_part.sign(&author).expect("sign");
                let appended = log.append(signed, ExpectedRevision::Any, counter).await.expect("append");
                report(&format!("ack {} {}", appended.leaf_index, appended.event_hash));
                counter += 1;
                if writer == 0 && counter.is_multiple_of(25) {
                    let checkpoint = log.publish_checkpoint().await.expect("checkpoint");
                    report(&format!("checkpoint {}", checkpoint.checkpoint().tree_size));
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

/// One line to the parent, flushed at once: the parent trusts only what it has read.
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("flush");
}
