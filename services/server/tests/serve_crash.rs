//! `klero serve` killed with SIGKILL at random moments while writers append and readers ask for
//! checkpoints and proof bundles: it always starts again, its kept checkpoint always verifies
//! and is a prefix of the log, and no acknowledged event is lost (issue 12).

mod common;

use common::*;
use klero_client::{Author, KleroClient};
use klero_ledger::bundle::ProofBundle;
use klero_ledger::merkle::verify_consistency;
use klero_ledger::Hash256;
use klero_proto as pb;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KILLS: usize = 8;
const TEST_TIME_MAX: Duration = Duration::from_secs(150);
const LOG_NAME: &str = "klero.test/serve-crash";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_reopens_with_a_checkpoint_that_verifies() {
    let directory = tempfile::tempdir().expect("temp dir");
    write_key_files(directory.path(), LOG_NAME);
    let verifier = log_verifier(LOG_NAME);
    let mut random = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
    println!("seed {random}");
    let mut next_random = move |bound: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % bound
    };
    let council = Author::new(key("council"));
    let facilitator = Arc::new(Author::new(key("facilitator")));
    let started = Instant::now();
    let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    let mut kills = 0;
    let mut last_checkpoint: Option<(u64, Hash256)> = None;
    while kills < KILLS && started.elapsed() < TEST_TIME_MAX {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        // Every third start verifies the whole log; the others take up the snapshot.
        let mode = if kills % 3 == 2 { "full" } else { "snapshot" };
        let listen = format!("127.0.0.1:{port}");
        let mut child = serve(directory.path(), &["--data-dir", "data", "--listen", &listen, "--verify-on-open", mode]);
        let mut client = connect(&url, &mut child).await;

        // What survived the last kill: the kept checkpoint verifies, extends the one before,
        // and every event acknowledged so far is still there, byte for byte.
        let kept = std::fs::read_to_string(directory.path().join("data/checkpoint")).expect("a kept checkpoint");
        let kept = verifier.verify(&kept).expect("the kept checkpoint verifies");
        let current = verifier.verify(&client.checkpoint().await.expect("checkpoint").signed_note).expect("verifies");
        let (size, root) = (current.checkpoint().tree_size, current.checkpoint().root_hash);
        assert!(kept.checkpoint().tree_size <= size, "the kept checkpoint is a prefix of the log");
        for (old_size, old_root) in
            [Some((kept.checkpoint().tree_size, kept.checkpoint().root_hash)), last_checkpoint].into_iter().flatten()
        {
            let proof = client.consistency_proof(old_size, size).await.expect("proof");
            verify_consistency(old_size, size, &old_root, &root, &proof).expect("no checkpoint forked or went back");
        }
        let so_far: Vec<Acknowledged> = acknowledged.lock().expect("acks").clone();
        for (index, hash) in &so_far {
            assert!(*index < size, "acknowledged event {index} lost (log size {size})");
            assert_eq!(&event_hash_at(&mut client, *index).await, hash, "acknowledged event {index} changed");
        }
        last_checkpoint = Some((size, root));
        if kills == 0 {
            for grant in [pb::registry::Role::Facilitator, pb::registry::Role::Convenor] {
                let granted = pb::registry::KeyGranted {
                    public_key: if grant == pb::registry::Role::Facilitator {
                        facilitator.public_key()
                    } else {
                        council.public_key()
                    }
                    .to_vec(),
                    role: grant as i32,
                    scope: "*".into(),
                    holder_title: "officer".into(),
                };
                client.append(&council.sign("", &granted).expect("sign"), None).await.expect("grant");
            }
            let convened = pb::assembly::AssemblyConvened {
                assembly_id: "crash".into(),
                council: "Council".into(),
                remit_question: "Does it survive?".into(),
                area: "Loopback".into(),
                starts_on: "2026-01-01".into(),
                ends_on: "2026-12-31".into(),
                panel_size: 10,
                adoption_threshold_percent: 60,
                response_deadline_days: 56,
            };
            client.append(&council.sign("crash", &convened).expect("sign"), None).await.expect("convene");
        }

        // Load, then a kill at a random moment within it.
        let stop_at = Instant::now() + Duration::from_millis(100 + next_random(500));
        let mut tasks = Vec::new();
        for writer in 0..8 {
            let (url, facilitator, acknowledged) = (url.clone(), facilitator.clone(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(client) = KleroClient::connect(&url).await else { return };
                // The server will be killed: a call then fails at once rather than retrying.
                let mut client = client.with_retry_deadline(Duration::from_millis(200));
                for n in 0.. {
                    let submission = pb::deliberation::PublicSubmissionReceived {
                        submitter_id: format!("k{kills}w{writer}n{n}"),
                        content_hash: Hash256::of(format!("{kills} {writer} {n}").as_bytes()).0.to_vec(),
                        received_on: "2026-06-01".into(),
                        sealed_text: None,
                    };
                    match client.append(&facilitator.sign("crash", &submission).expect("sign"), None).await {
                        Ok(appended) => {
                            acknowledged.lock().expect("acks").push((appended.log_index, appended.event_hash))
                        }
                        Err(_) => return, // the server was killed
                    }
                }
            }));
        }
        for reader in 0..8u64 {
            let (url, verifier) = (url.clone(), verifier.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(client) = KleroClient::connect(&url).await else { return };
                // The server will be killed: a call then fails at once rather than retrying.
                let mut client = client.with_retry_deadline(Duration::from_millis(200));
                let mut last = 0;
                for n in 0u64.. {
                    if reader % 2 == 0 {
                        let Ok(response) = client.checkpoint().await else { return };
                        let size = verifier.verify(&response.signed_note).expect("verifies").checkpoint().tree_size;
                        assert!(size >= last, "a reader saw the tree shrink");
                        last = size;
                    } else if last > 0 {
                        let Ok(bundle) = client.proof_bundle((n * 31 + reader) % last).await else { return };
                        ProofBundle::parse(&bundle).expect("parses").verify(&verifier).expect("the bundle verifies");
                    } else {
                        let Ok(response) = client.checkpoint().await else { return };
                        last = response.tree_size;
                    }
                }
            }));
        }
        tokio::time::sleep_until(stop_at.into()).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
        for task in tasks {
            task.await.expect("a load task failed");
        }
    }
    assert!(kills >= 3, "only {kills} kills within the time limit");
    let acknowledged = acknowledged.lock().expect("acks").len();
    println!("{kills} kills, {acknowledged} acknowledged events, all present after every restart");
    assert!(acknowledged > 0, "the writers appended");
}
