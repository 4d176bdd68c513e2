//! Checkpoints come from one publisher. Readers never sign or write, so a crowd of readers
//! among a crowd of writers never collides, and the sizes they see never go backwards
//! (issue 12: 83 of 32 readers' calls failed with "writing data/checkpoint: No such file").

use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::merkle::verify_consistency;
use klero_proto as pb;
use klero_store::EventStore;
use klero_tests::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 64;
const READERS: usize = 64;
const ASSEMBLIES: usize = 8;
/// Each writer stops after this many appends, and everyone stops after the time below.
const APPENDS_PER_WRITER_MAX: usize = 40;
const LOAD_TIME_MAX: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_and_bundles_read_among_writers_never_fail_and_never_shrink() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let casts: Vec<Arc<Cast>> = (0..ASSEMBLIES).map(|a| Arc::new(Cast::new(&format!("checkpoints-{a}")))).collect();
    for (a, cast) in casts.iter().enumerate() {
        assembly_with_panel(&mut client, cast, &format!("checkpoints-{a}")).await;
    }
    let verifier =
        LogVerifierKey::parse_vkey(&client.checkpoint().await.expect("checkpoint").verifier_key).expect("verifier key");
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (url, cast) = (server.url(), casts[writer % ASSEMBLIES].clone());
        writers.push(tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            let assembly = format!("checkpoints-{}", writer % ASSEMBLIES);
            let mut appended = 0;
            while appended < APPENDS_PER_WRITER_MAX && started.elapsed() < LOAD_TIME_MAX {
                let submission = submission(format!("w{writer}n{appended}"));
                client.append(&sign(&cast.facilitator, &assembly, &submission), None).await.expect("append");
                appended += 1;
            }
            appended
        }));
    }
    let mut readers = Vec::new();
    for reader in 0..READERS {
        let (url, verifier) = (server.url(), verifier.clone());
        readers.push(tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            let (mut calls, mut failures, mut last_size, mut first) = (0u64, Vec::new(), 0u64, None);
            while started.elapsed() < LOAD_TIME_MAX {
                if reader % 2 == 0 {
                    match client.checkpoint().await {
                        Ok(response) => {
                            let signed = verifier.verify(&response.signed_note).expect("the checkpoint verifies");
                            let size = signed.checkpoint().tree_size;
                            assert!(
                                size >= last_size,
                                "reader {reader} saw the tree shrink from {last_size} to {size}"
                            );
                            last_size = size;
                            first.get_or_insert((size, signed.checkpoint().root_hash));
                        }
                        Err(error) => failures.push(error.to_string()),
                    }
                } else {
                    let index = (calls * 7919 + reader as u64) % last_size.max(1);
                    match client.proof_bundle(index).await {
                        Ok(bundle) => {
                            let checked = ProofBundle::parse(&bundle)
                                .expect("bundle parses")
                                .verify(&verifier)
                                .expect("the bundle verifies");
                            let size = checked.checkpoint.checkpoint().tree_size;
                            assert!(
                                size >= last_size,
                                "reader {reader} saw the tree shrink from {last_size} to {size}"
                            );
                            last_size = size.max(index + 1);
                        }
                        Err(error) => failures.push(error.to_string()),
                    }
                }
                calls += 1;
            }
            (calls, failures, first)
        }));
    }
    let mut appends = 0;
    for writer in writers {
        appends += writer.await.expect("writer");
    }
    let (mut calls, mut failures, mut earliest) = (0, Vec::new(), Vec::new());
    for reader in readers {
        let (reader_calls, reader_failures, first) = reader.await.expect("reader");
        calls += reader_calls;
        failures.extend(reader_failures);
        earliest.extend(first);
    }
    println!("{appends} appends, {calls} checkpoint and bundle calls, {} failures", failures.len());
    assert!(failures.is_empty(), "{} of {calls} reads failed, first: {}", failures.len(), failures[0]);
    assert!(appends >= WRITERS, "every writer appended");
    assert!(calls >= READERS as u64, "every reader read");
    // Every checkpoint any reader saw is a prefix of the final log.
    let last = client.checkpoint().await.expect("checkpoint");
    let last = verifier.verify(&last.signed_note).expect("verifies");
    for (size, root) in earliest {
        let proof = client.consistency_proof(size, last.checkpoint().tree_size).await.expect("proof");
        verify_consistency(size, last.checkpoint().tree_size, &root, &last.checkpoint().root_hash, &proof)
            .expect("every published checkpoint extends into the last");
    }
    let log_size = client
        .ledger()
        .read_log(pb::ledger::ReadLogRequest { from_log_index: 0, max_count: 1 })
        .await
        .expect("read")
        .into_inner()
        .log_size;
    assert_eq!(last.checkpoint().tree_size, log_size, "a fresh checkpoint covers the whole log");
}

/// A clean stop leaves a checkpoint of the whole log, even of appends that the front ends were
/// still finishing when the stop signal came (issue 27: the last checkpoint was signed at the
/// signal, before they drained).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_checkpoints_every_append_it_finished() {
    const STOPPING_WRITERS: usize = 48;
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Arc::new(Cast::new("clean-stop"));
    assembly_with_panel(&mut client, &cast, "clean-stop").await;
    let verifier =
        LogVerifierKey::parse_vkey(&client.checkpoint().await.expect("checkpoint").verifier_key).expect("verifier key");
    let acknowledged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..STOPPING_WRITERS {
        let (url, cast, acknowledged, stopping) = (server.url(), cast.clone(), acknowledged.clone(), stopping.clone());
        writers.push(tokio::spawn(async move {
            let Ok(mut client) = klero_client::KleroClient::connect(&url).await else { return };
            // Those in flight when the stop comes go on; none starts after it.
            for n in 0.. {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let submission = submission(format!("w{writer}n{n}"));
                // Appends fail once the server stops; those acknowledged must be covered.
                if client.append(&sign(&cast.facilitator, "clean-stop", &submission), None).await.is_err() {
                    return;
                }
                acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    server.server.take().expect("running").stop().await;
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(acknowledged.load(std::sync::atomic::Ordering::SeqCst) > 0, "the load appended nothing");

    let store = klero_store_embedded::EmbeddedStore::open(server.directory.path(), Default::default())
        .await
        .expect("the store opens");
    let events = store.recovery_report().events;
    let kept = store.load_checkpoint().await.expect("read").expect("a checkpoint is kept");
    let kept = verifier.verify(std::str::from_utf8(&kept).expect("a note")).expect("the kept checkpoint verifies");
    assert_eq!(
        kept.checkpoint().tree_size,
        events,
        "the checkpoint kept at a clean stop covers {} of the {events} events",
        kept.checkpoint().tree_size
    );
}
