//! `klero` on the PostgreSQL store, as processes, with a real PostgreSQL server the test starts
//! itself (issue 16): the demonstration runs on it; two `klero serve` share one database, one
//! writing and the other naming the writer; the writer killed with SIGKILL under load is
//! replaced by the other, which takes over at its next append; nothing acknowledged is lost,
//! no checkpoint forks, and the log exports and verifies.

mod common;

use common::*;
use klero_client::{Author, KleroClient};
use klero_ledger::checkpoint::{LogVerifierKey, SignedCheckpoint};
use klero_ledger::merkle::verify_consistency;
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_store_postgres::test_cluster::TestCluster;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LOG_NAME: &str = "klero.test/postgres";

#[test]
fn the_demonstration_runs_on_postgres() {
    let cluster = TestCluster::start();
    let url = cluster.create_database("demo");
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = Command::new(env!("CARGO_BIN_EXE_klero"))
        .args(["demo", "--store", &url])
        .current_dir(dir.path())
        .output()
        .expect("klero demo runs");
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(demo.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&demo.stderr));
    assert!(stdout.contains("offline proof bundle for log index"), "the demo audited its record: {stdout}");
    assert!(stdout.contains("what became of submission s0000"), "{stdout}");
}

/// `klero serve` on the PostgreSQL store `store`, with its own data directory `data` and the
/// key-encryption keys every server of the database shares.
fn serve_on(directory: &Path, data: &str, port: u16, store: &str) -> Child {
    serve(
        directory,
        &[
            "--data-dir",
            data,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store",
            store,
            "--key-encryption-keys",
            "shared-key-encryption-keys",
        ],
    )
}

/// The trust root grants a facilitator and itself as convenor, for every assembly, and
/// convenes `assembly`; returns (council, facilitator).
async fn grant_and_convene(client: &mut KleroClient, assembly: &str, question: &str) -> (Author, Arc<Author>) {
    let council = Author::new(key("council"));
    let facilitator = Arc::new(Author::new(key("facilitator")));
    for (who, role) in [(&*facilitator, pb::registry::Role::Facilitator), (&council, pb::registry::Role::Convenor)] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: "*".into(),
            holder_title: "officer".into(),
        };
        client.append(&council.sign("", &grant).expect("sign"), None).await.expect("grant");
    }
    let convened = pb::assembly::AssemblyConvened {
        assembly_id: assembly.into(),
        council: "Council".into(),
        remit_question: question.into(),
        area: "Loopback".into(),
        starts_on: "2026-01-01".into(),
        ends_on: "2026-12-31".into(),
        panel_size: 10,
        adoption_threshold_percent: 60,
        response_deadline_days: 56,
    };
    client.append(&council.sign(assembly, &convened).expect("sign"), None).await.expect("convene");
    (council, facilitator)
}

/// After a failover: the checkpoint extends `before`; every acknowledged event is there,
/// unchanged; and the whole log exports and verifies, pinned to the log key and trust root.
async fn assert_nothing_lost(
    client: &mut KleroClient,
    url: &str,
    directory: &Path,
    verifier: &LogVerifierKey,
    before: &SignedCheckpoint,
    acknowledged: &[Acknowledged],
) {
    let after = verifier.verify(&client.checkpoint().await.expect("checkpoint").signed_note).expect("verifies");
    let (size, root) = (after.checkpoint().tree_size, after.checkpoint().root_hash);
    let proof = client.consistency_proof(before.checkpoint().tree_size, size).await.expect("proof");
    verify_consistency(before.checkpoint().tree_size, size, &before.checkpoint().root_hash, &root, &proof)
        .expect("the checkpoint after the failover extends the one before");
    for (index, hash) in acknowledged {
        assert_eq!(&event_hash_at(client, *index).await, hash, "acknowledged event {index} is there, unchanged");
    }
    let export = Command::new(env!("CARGO_BIN_EXE_klero"))
        .args(["export", "--server", url, "--out", "log.export"])
        .current_dir(directory)
        .output()
        .expect("export");
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let verified = Command::new(env!("CARGO_BIN_EXE_klero"))
        .args(["verify", "log.export", "--log-key", &verifier.to_vkey_string()])
        .args(["--trust-root", &hex(&key("council").verifying_key().to_bytes())])
        .current_dir(directory)
        .output()
        .expect("verify");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

fn submission(tag: &str) -> pb::deliberation::PublicSubmissionReceived {
    pb::deliberation::PublicSubmissionReceived {
        submitter_id: tag.into(),
        content_hash: Hash256::of(tag.as_bytes()).0.to_vec(),
        received_on: "2026-06-01".into(),
        sealed_text: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_is_replaced_and_nothing_acknowledged_is_lost() {
    let cluster = TestCluster::start();
    let store = cluster.create_database("failover");
    let directory = tempfile::tempdir().expect("temp dir");
    write_key_files(directory.path(), LOG_NAME);
    let verifier = log_verifier(LOG_NAME);
    let (port_a, port_b) = (free_port(), free_port());
    let (url_a, url_b) = (format!("http://127.0.0.1:{port_a}"), format!("http://127.0.0.1:{port_b}"));
    let mut a = serve_on(directory.path(), "data-a", port_a, &store);
    let mut client_a = connect(&url_a, &mut a).await;
    let mut b = serve_on(directory.path(), "data-b", port_b, &store);
    let mut client_b = connect(&url_b, &mut b).await;

    // A is the writer.
    let (_, facilitator) = grant_and_convene(&mut client_a, "failover", "Does it fail over?").await;
    // B is not the writer: it says so, and names A by its URL, which a client follows.
    let to_b = facilitator.sign("failover", &submission("to-b")).expect("sign");
    let request =
        pb::ledger::AppendRequest { event: Some(to_b.wire.clone()), expected_revision: None, data_key: vec![] };
    let refused = client_b.ledger().append(request).await.expect_err("B is not the writer");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains(&format!("not the log's writer: append to {url_a} ")), "{}", refused.message());
    let mut following = KleroClient::connect(&url_b).await.expect("connect to B");
    following.append(&to_b, None).await.expect("the client follows B's answer to the writer, A");
    assert_eq!(following.server(), url_a);
    let before = verifier.verify(&client_b.checkpoint().await.expect("checkpoint").signed_note).expect("verifies");

    // Load on A; A is killed; every writer moves to B and retries what was not acknowledged.
    let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let first_on_b: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (facilitator, acknowledged) = (facilitator.clone(), acknowledged.clone());
        let (url_a, url_b, killed_at, first_on_b) =
            (url_a.clone(), url_b.clone(), killed_at.clone(), first_on_b.clone());
        writers.push(tokio::spawn(async move {
            // Both servers, as an operator would give them: the client moves to B by itself,
            // retrying each append with the same bytes.
            let mut client = KleroClient::connect(&format!("{url_a},{url_b}")).await.expect("connect");
            for n in 0..60 {
                let event = facilitator.sign("failover", &submission(&format!("w{writer}n{n}"))).expect("sign");
                let appended = client.append(&event, None).await.expect("the client fails over within its deadline");
                if client.server() == url_b && killed_at.lock().expect("lock").is_some() {
                    first_on_b.lock().expect("lock").get_or_insert_with(Instant::now);
                }
                acknowledged.lock().expect("lock").push((appended.log_index, appended.event_hash));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    *killed_at.lock().expect("lock") = Some(Instant::now());
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    for writer in writers {
        writer.await.expect("writer");
    }
    let takeover = first_on_b.lock().expect("lock").zip(*killed_at.lock().expect("lock")).map(|(b, k)| b - k);
    let takeover = takeover.expect("B appended after A was killed");
    println!("time from SIGKILL of the writer to the first append acknowledged by the other server: {takeover:?}");
    assert!(takeover < Duration::from_secs(10), "takeover took {takeover:?}");

    // Nothing acknowledged is lost or changed; no checkpoint forked or went back.
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert_eq!(acknowledged.len(), 8 * 60, "every append was acknowledged once, by A or by B");
    assert_nothing_lost(&mut client_b, &url_b, directory.path(), &verifier, &before, &acknowledged).await;
    let _ = b.kill();
    let _ = b.wait();
}

/// The LSN a standby has received, in bytes.
async fn received_lsn(standby: &TestCluster, database: &str) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(&standby.url(database), tokio_postgres::NoTls).await.expect("connect to a standby");
    tokio::spawn(connection);
    client
        .query_one("SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint", &[])
        .await
        .expect("the standby's received LSN")
        .get(0)
}

/// Issue 16: a primary and two synchronous standbys (`ANY 1 (s1, s2)`). Under load the
/// primary's postmaster is killed with SIGKILL, the standby that received most is promoted,
/// and `klero serve`, given all three hosts with `target_session_attrs=read-write`, finds the
/// new primary by itself. Every acknowledged event is there; no checkpoint went back or forked;
/// the log exports and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_primary_loses_no_acknowledged_event() {
    let primary = TestCluster::start();
    let database = "replicated";
    primary.create_database(database);
    let standbys = [TestCluster::standby_of(&primary, "s1"), TestCluster::standby_of(&primary, "s2")];
    {
        let (client, connection) =
            tokio_postgres::connect(&primary.url(database), tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        // Two statements, each on its own: ALTER SYSTEM refuses a transaction block.
        client.batch_execute("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (s1, s2)'").await.expect("set");
        client.batch_execute("SELECT pg_reload_conf()").await.expect("reload");
        let started = Instant::now();
        loop {
            let quorum: i64 = client
                .query_one("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'", &[])
                .await
                .expect("replication state")
                .get(0);
            if quorum == 2 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the standbys did not become synchronous");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let store = format!(
        "postgres://klero@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
        primary.port, standbys[0].port, standbys[1].port
    );
    let directory = tempfile::tempdir().expect("temp dir");
    write_key_files(directory.path(), LOG_NAME);
    let verifier = log_verifier(LOG_NAME);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = serve_on(directory.path(), "data", port, &store);
    let mut client = connect(&url, &mut server).await;
    let (_, facilitator) = grant_and_convene(&mut client, "replicated", "Does it survive the primary?").await;
    let before = verifier.verify(&client.checkpoint().await.expect("checkpoint").signed_note).expect("verifies");

    let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (facilitator, acknowledged, url) = (facilitator.clone(), acknowledged.clone(), url.clone());
        writers.push(tokio::spawn(async move {
            let mut client = KleroClient::connect(&url).await.expect("connect");
            let deadline = Instant::now() + Duration::from_secs(60);
            for n in 0..40 {
                let event = facilitator.sign("replicated", &submission(&format!("w{writer}n{n}"))).expect("sign");
                loop {
                    assert!(Instant::now() < deadline, "appends did not resume within 60 s of the failover");
                    match client.append(&event, None).await {
                        Ok(appended) => {
                            acknowledged.lock().expect("lock").push((appended.log_index, appended.event_hash));
                            break;
                        }
                        // The primary is gone, or the store is reconnecting: the same bytes again.
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acknowledged_before_kill = acknowledged.lock().expect("lock").len();
    primary.kill_hard();
    let killed = Instant::now();
    let lsns = [received_lsn(&standbys[0], database).await, received_lsn(&standbys[1], database).await];
    let promoted = if lsns[0] >= lsns[1] { 0 } else { 1 };
    standbys[promoted].promote();
    println!("promoted s{} (received LSNs {lsns:?}) {:?} after the kill", promoted + 1, killed.elapsed());
    for writer in writers {
        writer.await.expect("writer");
    }
    println!("every append acknowledged {:?} after the kill of the primary", killed.elapsed());
    assert!(acknowledged_before_kill > 0, "the load ran before the kill");

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert_eq!(acknowledged.len(), 8 * 40);
    assert_nothing_lost(&mut client, &url, directory.path(), &verifier, &before, &acknowledged).await;
    let _ = server.kill();
    let _ = server.wait();
}

/// `klero demo --server A,B` with A, the writer, killed in the middle of the demonstration's
/// appends: the demonstration's client moves to B, which takes over, and the demonstration
/// finishes, audit included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demonstration_survives_its_writer_killed_in_the_middle() {
    let cluster = TestCluster::start();
    let store = cluster.create_database("demo_failover");
    let directory = tempfile::tempdir().expect("temp dir");
    write_key_files(directory.path(), LOG_NAME);
    std::fs::write(directory.path().join("council.key"), hex(&key("council").to_bytes())).expect("write");
    let (port_a, port_b) = (free_port(), free_port());
    let (url_a, url_b) = (format!("http://127.0.0.1:{port_a}"), format!("http://127.0.0.1:{port_b}"));
    let mut a = serve_on(directory.path(), "data-a", port_a, &store);
    let mut client_a = connect(&url_a, &mut a).await;
    let mut b = serve_on(directory.path(), "data-b", port_b, &store);
    let mut client_b = connect(&url_b, &mut b).await;
    // A appends first, so A is the writer.
    grant_and_convene(&mut client_a, "warm-up", "Who writes?").await;
    let before = client_b.checkpoint().await.expect("checkpoint").tree_size;

    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_klero"))
        .args(["demo", "--server", &format!("{url_a},{url_b}"), "--trust-root-key", "council.key"])
        .current_dir(directory.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("klero demo starts");
    // In the middle of its appends: 15 of the demonstration's events are in the log.
    let started = Instant::now();
    loop {
        let size = client_b.checkpoint().await.expect("checkpoint").tree_size;
        if size >= before + 15 {
            break;
        }
        assert!(demo.try_wait().expect("wait").is_none(), "the demonstration ended before the kill");
        assert!(started.elapsed() < Duration::from_secs(120), "the demonstration appended too little");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(demo.try_wait().expect("wait").is_none(), "the demonstration is still running when its writer dies");
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    let output = tokio::time::timeout(Duration::from_secs(180), demo.wait_with_output())
        .await
        .expect("the demonstration finishes")
        .expect("its output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("offline proof bundle for log index"), "the demonstration audited its record: {stdout}");
    let after = client_b.checkpoint().await.expect("checkpoint").tree_size;
    assert!(after > before + 15, "B appended the rest of the demonstration");
    let _ = b.kill();
    let _ = b.wait();
}

/// Every file under `root` (recursively) that holds `needle`.
fn files_holding(root: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => directories.push(path),
                Ok(kind) if kind.is_file() => {
                    if let Ok(bytes) = std::fs::read(&path) {
                        if memchr::memmem::find(&bytes, needle).is_some() {
                            found.push(path);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Erasure by design on PostgreSQL (FORMAT.md §14.3): on a primary with two synchronous
/// standbys, a sealed submission and a personal document are erased; once the key rotation
/// after the erasure has run, no file of any of the three nodes (tables, dead rows, WAL), of
/// the server's data directory or of the key directory holds the data key, the texts, or the
/// key-encryption key they were kept under. (Before key encryption, the destroyed key's bytes
/// stayed in the table file and in the WAL of every node.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_leaves_nothing_readable_on_any_node_after_the_rotation() {
    let primary = TestCluster::start();
    let database = "erasure";
    primary.create_database(database);
    let standbys = [TestCluster::standby_of(&primary, "s1"), TestCluster::standby_of(&primary, "s2")];
    primary.psql(database, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (s1, s2)'");
    primary.psql(database, "SELECT pg_reload_conf()");
    let store = format!(
        "postgres://klero@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
        primary.port, standbys[0].port, standbys[1].port
    );
    let directory = tempfile::tempdir().expect("temp dir");
    write_key_files(directory.path(), LOG_NAME);
    let (port, pages_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}");
    let pages = format!("127.0.0.1:{pages_port}");
    let mut server = serve(
        directory.path(),
        &[
            "--data-dir",
            "data",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &pages,
            "--store",
            &store,
            "--key-encryption-keys",
            "shared-key-encryption-keys",
        ],
    );
    let mut client = connect(&url, &mut server).await;
    let (council, facilitator) = grant_and_convene(&mut client, "erasure", "Is it gone?").await;
    let officer = Author::new(key("data protection officer"));
    let grant = pb::registry::KeyGranted {
        public_key: officer.public_key().to_vec(),
        role: pb::registry::Role::DataProtectionOfficer as i32,
        scope: "*".into(),
        holder_title: "Data protection officer".into(),
    };
    client.append(&council.sign("", &grant).expect("sign"), None).await.expect("grant");

    // A sealed submission, and a submission whose document is personal data.
    let sealed_text = "Flat 4, 12 Mill Lane: the night bus never stops here (marker 7f3a).";
    let sealer = klero_client::Sealer::new().expect("sealer");
    let data_key = sealer.data_key().0;
    let sealed = pb::deliberation::PublicSubmissionReceived {
        submitter_id: "s-sealed".into(),
        content_hash: Vec::new(),
        received_on: "2026-06-01".into(),
        sealed_text: Some(sealer.seal("sealed_text", sealed_text).expect("seal")),
    };
    let sealed_event = client
        .append(&facilitator.sign_sealed("erasure", &sealed, &sealer).expect("sign"), None)
        .await
        .expect("sealed");
    let letter = format!("{} (marker 9c1e)\n", "Dear council, my daughter's school run is unsafe. ".repeat(200));
    let letter_hash =
        client.upload_document(letter.as_bytes(), "text/plain; charset=utf-8", true).await.expect("upload");
    let with_document = pb::deliberation::PublicSubmissionReceived {
        submitter_id: "s-document".into(),
        content_hash: letter_hash.0.to_vec(),
        received_on: "2026-06-01".into(),
        sealed_text: None,
    };
    let document_event =
        client.append(&facilitator.sign("erasure", &with_document).expect("sign"), None).await.expect("document");
    let keys = directory.path().join("shared-key-encryption-keys");
    let old_key_encryption_key = std::fs::read(keys.join(format!("kek-{:020}", 1))).expect("generation 1");

    // Erased, both; the server rotates the key-encryption key after the erasures.
    let mut erased_at = 0;
    for event_hash in [&sealed_event.event_hash, &document_event.event_hash] {
        let erasure = pb::privacy::ContentErased {
            event_hash: event_hash.clone(),
            legal_basis: "UK GDPR Art. 17: the resident asked".into(),
            erased_on: "2026-06-02".into(),
        };
        client.append(&officer.sign("erasure", &erasure).expect("sign"), None).await.expect("erasure");
        erased_at = klero_application::system_clock()();
    }
    let started = Instant::now();
    loop {
        let listed = client
            .query()
            .list_overdue_erasures(pb::query::ListOverdueErasuresRequest { assembly_id: "erasure".into() })
            .await
            .expect("overdue")
            .into_inner();
        assert!(!listed.erasures_complete_at_once, "on PostgreSQL, an erasure completes at the next rotation");
        if listed.erasures_complete_through_unix_ms >= erased_at {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no rotation after the erasures");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!keys.join(format!("kek-{:020}", 1)).exists(), "the old key-encryption key is gone");
    // The pages say so, as the server's word: the slice states the rotation's time, and the
    // assembly page says both erasures are complete in every copy since then.
    let slice = http_get(&pages, "/api/v1/slices/assembly/erasure");
    let stated = slice
        .lines()
        .find_map(|line| line.strip_prefix("erasures-complete "))
        .and_then(|through| through.parse::<u64>().ok())
        .expect("the slice states when erasures were complete");
    assert!(stated >= erased_at, "the statement covers the erasures: {stated} < {erased_at}");
    let page = http_get(&pages, "/assemblies/erasure");
    assert!(
        page.contains("This server says these 2 erasures are complete in every copy it keeps (its tables, logs, replicas and backups) since it rotated its key-encryption key on"),
        "{page}"
    );
    // Everything on disk everywhere: a checkpoint on the primary, the standbys caught up.
    primary.psql(database, "CHECKPOINT");
    let target = primary.psql(database, "SELECT pg_current_wal_lsn()");
    for standby in &standbys {
        let started = Instant::now();
        while standby.psql(database, &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")) != "t" {
            assert!(started.elapsed() < Duration::from_secs(30), "a standby did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        standby.psql(database, "CHECKPOINT");
    }

    let places: Vec<std::path::PathBuf> = [primary.data_directory(), directory.path().to_path_buf()]
        .into_iter()
        .chain(standbys.iter().map(TestCluster::data_directory))
        .collect();
    // The search works: what the log holds in the clear is found on every node.
    for node in [&primary, &standbys[0], &standbys[1]] {
        assert!(!files_holding(&node.data_directory(), b"s-document").is_empty(), "the search reads the node's files");
    }
    for (what, needle) in [
        ("the destroyed data key", &data_key[..]),
        ("the sealed text", b"marker 7f3a".as_slice()),
        ("the personal document", b"marker 9c1e".as_slice()),
        ("the old key-encryption key", &old_key_encryption_key[..]),
    ] {
        for place in &places {
            let found = files_holding(place, needle);
            assert!(found.is_empty(), "{what} is readable in {found:?}");
        }
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// The body of `GET path` from the pages at `address` (HTTP/1.1, one request, then closed).
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("the pages listen");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}\n{body}");
    body.to_string()
}

/// Issue 29 on PostgreSQL: the platform registers two councils, each council's root grants for
/// its own assembly, another council's root is refused in its registry, and an auditor checks
/// one council's record alone with `klero verify --council` (with pinned keys); the same slice
/// with one of the council's events left out fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn councils_share_a_postgres_log_and_one_councils_record_verifies_alone() {
    let cluster = TestCluster::start();
    let database = "councils";
    cluster.create_database(database);
    let store = format!("postgres://klero@127.0.0.1:{}/{database}", cluster.port);
    let directory = tempfile::tempdir().expect("temp dir");
    write_key_files(directory.path(), LOG_NAME);
    let (port, pages_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}");
    let pages = format!("127.0.0.1:{pages_port}");
    let mut server = serve(
        directory.path(),
        &["--data-dir", "data", "--listen", &format!("127.0.0.1:{port}"), "--http", &pages, "--store", &store],
    );
    let mut client = connect(&url, &mut server).await;
    let platform = Author::new(key("council"));
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis() as u64;
    for council in ["north", "south"] {
        let root = Author::new(key(&format!("{council} root")));
        let registration = pb::registry::CouncilRegistered {
            council_id: council.into(),
            name: format!("{council} council"),
            root_public_key: root.public_key().to_vec(),
        };
        let event = platform
            .sign_with(
                klero_client::council_stream(council).expect("stream"),
                klero_client::new_event_id(),
                now(),
                &registration,
            )
            .expect("sign");
        client.append(&event, None).await.expect("registered");
        let convenor = Author::new(key(&format!("{council} convenor")));
        let grant = pb::registry::KeyGranted {
            public_key: convenor.public_key().to_vec(),
            role: pb::registry::Role::Convenor as i32,
            scope: "*".into(),
            holder_title: "officer".into(),
        };
        let assembly = format!("{council}.budget");
        client.append(&root.sign(&assembly, &grant).expect("sign"), None).await.expect("the council's own grant");
        let convened = pb::assembly::AssemblyConvened {
            assembly_id: assembly.clone(),
            council: format!("{council} council"),
            remit_question: "What should we fund?".into(),
            area: council.into(),
            starts_on: "2026-01-01".into(),
            ends_on: "2026-12-31".into(),
            panel_size: 10,
            adoption_threshold_percent: 60,
            response_deadline_days: 56,
        };
        client.append(&convenor.sign(&assembly, &convened).expect("sign"), None).await.expect("convened");
    }
    // South's root cannot grant in north's registry.
    let intruder = Author::new(key("south root"));
    let grant = pb::registry::KeyGranted {
        public_key: intruder.public_key().to_vec(),
        role: pb::registry::Role::Convenor as i32,
        scope: "*".into(),
        holder_title: "intruder".into(),
    };
    match client.append(&intruder.sign("north.budget", &grant).expect("sign"), None).await {
        Err(klero_client::ClientError::Refused(status)) => {
            assert_eq!(status.code(), tonic::Code::PermissionDenied);
            assert!(status.message().contains("registry.council_root_only"), "{}", status.message());
        }
        other => panic!("a council's root must be refused in another's registry: {other:?}"),
    }

    // The auditor's check of north alone, from the command line.
    let slice = http_get(&pages, "/api/v1/slices/council/north");
    std::fs::write(directory.path().join("north.slice"), &slice).expect("write");
    let vkey = log_verifier(LOG_NAME).to_vkey_string();
    let trust_root = hex(&key("council").verifying_key().to_bytes());
    let verify = |file: &str| {
        Command::new(env!("CARGO_BIN_EXE_klero"))
            .args(["verify", "--council", "north", file, "--log-key", &vkey, "--trust-root", &trust_root])
            .current_dir(directory.path())
            .output()
            .expect("klero verify")
    };
    let verified = verify("north.slice");
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{stdout}");
    assert!(stdout.contains("✓ council north: 3 events") || stdout.contains("✓ council north: 4 events"), "{stdout}");
    // North's convening left out: the stream heads show the record is not whole.
    let lines: Vec<&str> = slice.lines().collect();
    let events: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.starts_with("event ")).map(|(i, _)| i).collect();
    let dropped = events[events.len() - 2];
    let mut kept: Vec<String> =
        lines.iter().enumerate().filter(|(i, _)| *i != dropped).map(|(_, l)| l.to_string()).collect();
    let last = kept.len() - 1;
    kept[last] = format!("end {}", events.len() - 1);
    std::fs::write(directory.path().join("short.slice"), kept.join("\n") + "\n").expect("write");
    let short = verify("short.slice");
    assert!(!short.status.success(), "{}", String::from_utf8_lossy(&short.stdout));
    assert!(String::from_utf8_lossy(&short.stdout).contains("FAILED"), "{}", String::from_utf8_lossy(&short.stdout));
    let _ = server.kill();
    let _ = server.wait();
}
