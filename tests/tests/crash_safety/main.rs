//! Crash safety: a child process appends until it is SIGKILLed at a random moment, at least 30
//! times. After each kill the store and log reopen in this process, every event the child saw
//! acknowledged is present and byte-identical (same event hash at the same log index), the
//! chains, signatures and last durable checkpoint verify, and appending continues.
//!
//! SIGKILL stops the process but not the kernel, so this proves the acknowledgement protocol
//! (nothing is acknowledged before it is written and synced, recovery keeps it all). Torn writes
//! from power loss are covered by the truncation tests in klero-store-embedded.

mod common;

use common::*;
use klero_ledger::merkle::{leaf_hash, verify_inclusion};
use klero_ledger::Hash256;
use klero_store::ExpectedRevision;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KILLS: u32 = 30;
const TEST_SECONDS_MAX: u64 = 240;

#[derive(Default)]
struct ChildReport {
    acknowledged: Vec<(u64, Hash256)>,
    checkpoint_sizes: Vec<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_at_random_moments() {
    let directory = tempfile::tempdir().expect("temp dir");
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
    println!("crash test seed {seed}");
    let mut random = seed;
    let mut next_random = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let started = Instant::now();
    let mut all_acknowledged: Vec<(u64, Hash256)> = Vec::new();
    let mut kills = 0;
    while kills < KILLS {
        assert!(
            started.elapsed() < Duration::from_secs(TEST_SECONDS_MAX),
            "crash loop exceeded its time bound after {kills} kills"
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_klero-crash-writer"))
            .arg(directory.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let report = Arc::new(Mutex::new(ChildReport::default()));
        let stdout = child.stdout.take().expect("stdout");
        let reader = {
            let report = report.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut report = report.lock().expect("report");
                    let fields: Vec<&str> = line.split(' ').collect();
                    match fields.as_slice() {
                        ["ack", index, hash] => report
                            .acknowledged
                            .push((index.parse().expect("index"), Hash256::from_hex(hash).expect("hash"))),
                        ["checkpoint", size] => report.checkpoint_sizes.push(size.parse().expect("size")),
                        _ => panic!("unexpected child output {line:?}"),
                    }
                }
            })
        };
        // Kill at a random moment once the child is appending (or after 10 s, whatever it does).
        let wait_for_first = Instant::now();
        while report.lock().expect("report").acknowledged.is_empty()
            && wait_for_first.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(next_random() % 150));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        kills += 1;

        let report = std::mem::take(&mut *report.lock().expect("report"));
        assert!(!report.acknowledged.is_empty(), "kill {kills}: the child acknowledged nothing in 10 s");
        all_acknowledged.extend(report.acknowledged);

        // Reopen: the store recovers, the log re-checks chains and signatures and the last
        // durable checkpoint (open fails if the store no longer holds it).
        let (store, log) =
            open_log(directory.path()).await.unwrap_or_else(|e| panic!("kill {kills}: reopen failed: {e}"));
        let size = log.size();
        let root = log.root().expect("root");
        for (leaf_index, event_hash) in &all_acknowledged {
            assert!(*leaf_index < size, "kill {kills}: acknowledged index {leaf_index} lost (log size {size})");
            let envelope = log.event_at(*leaf_index).await.expect("event");
            assert_eq!(envelope.event_hash(), *event_hash, "kill {kills}: event at {leaf_index} changed");
        }
        let (last_index, last_hash) = *all_acknowledged.iter().max_by_key(|(i, _)| *i).expect("one ack");
        let proof = log.inclusion_proof(last_index, size).expect("proof");
        verify_inclusion(last_index, size, &leaf_hash(&last_hash.0), &proof, &root).expect("Merkle root verifies");
        if let Some(&checkpoint_size) = report.checkpoint_sizes.last() {
            assert!(checkpoint_size <= size, "kill {kills}: a durable checkpoint is ahead of the log");
        }
        drop(log);
        store.close().await;
    }

    // Appending continues after the last crash, on top of everything recovered.
    let (_store, log) = open_log(directory.path()).await.expect("reopen");
    let before = log.size();
    let appended = log
        .append(signed_event(&key("after"), "after-crashes", 1), ExpectedRevision::NoStream, 1)
        .await
        .expect("append");
    assert_eq!(appended.leaf_index, before);
    println!("{kills} kills, {} acknowledged events checked, final log size {}", all_acknowledged.len(), before + 1);
}
