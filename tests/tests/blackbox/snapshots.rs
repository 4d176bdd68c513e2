//! Snapshots: a restart takes up the fold from the latest valid snapshot, checks that the
//! stored events still give the root it was bound to, and verifies in full only what came
//! after. Anything that does not match is refused, and the whole log is verified instead; the
//! server answers the same either way.

use klero_proto as pb;
use klero_tests::*;

/// Every view of `assembly` as served, with its digest.
async fn served_views(client: &mut klero_client::KleroClient, assembly: &str) -> Vec<(String, Vec<u8>)> {
    let mut views = Vec::new();
    for name in klero_projections::ViewName::ALL {
        let view = client
            .query()
            .get_view(pb::query::GetViewRequest {
                view: name.as_str().into(),
                assembly_id: assembly.into(),
                digest_only: false,
            })
            .await
            .expect("view")
            .into_inner();
        views.push((view.json, view.digest));
    }
    views
}

async fn assembly_with_recommendations(server: &TestServer, assembly: &str) -> Cast {
    let cast = Cast::new(assembly);
    let mut client = server.client().await;
    assembly_with_panel(&mut client, &cast, assembly).await;
    for id in ["R1", "R2"] {
        let adopted = adopted_recommendation(&mut client, &cast, assembly, id).await;
        append(
            &mut client,
            &cast.decision_maker,
            assembly,
            &response(&adopted.event_hash, pb::response::Decision::Accepted),
        )
        .await;
    }
    cast
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_takes_up_the_snapshot_and_serves_the_same_record() {
    let mut server = TestServer::start().await;
    assert_eq!(server.snapshot_taken_up(), None, "a new log has no snapshot");
    let cast = assembly_with_recommendations(&server, "snap").await;
    let size = server.log_size().await;
    let before = served_views(&mut server.client().await, "snap").await;
    server.restart().await;
    assert_eq!(server.snapshot_taken_up(), Some(size), "the clean stop left a snapshot of the whole log");
    let mut client = server.client().await;
    assert_eq!(served_views(&mut client, "snap").await, before, "the same views, byte for byte");
    assert_served_views_equal_a_rebuild(&mut client, "snap").await;
    // The state came back whole: rules that need earlier events still pass.
    append(&mut client, &cast.facilitator, "snap", &submission("after-restart")).await;
    let export = klero_client::export::export_from_server(&mut client).await.expect("export");
    let report = klero_verifier::verify_export(&export, &mut |_, _| {});
    assert!(report.ok(), "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_snapshot_is_refused_and_the_whole_log_verified() {
    let mut server = TestServer::start().await;
    assembly_with_recommendations(&server, "tamper").await;
    let before = served_views(&mut server.client().await, "tamper").await;
    server
        .restart_after(|directory| {
            let path = directory.join("snapshot");
            let mut bytes = std::fs::read(&path).expect("a snapshot was written on stop");
            // A grant's holder title inside the fold's JSON, changed in place.
            let at = bytes.windows(7).position(|w| w == b"officer").expect("a holder title");
            bytes[at] = b'O';
            std::fs::write(&path, bytes).expect("write");
        })
        .await;
    assert_eq!(server.snapshot_taken_up(), None, "a snapshot the log key did not sign is refused");
    let mut client = server.client().await;
    assert_eq!(served_views(&mut client, "tamper").await, before);
    assert_served_views_equal_a_rebuild(&mut client, "tamper").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_history_is_refused() {
    // Two logs under the same log key: the snapshot of one is validly signed, but its root is
    // not the other's.
    let mut other = TestServer::start().await;
    assembly_with_recommendations(&other, "other").await;
    other.restart().await;
    let foreign = std::fs::read(other.directory.path().join("snapshot")).expect("snapshot");
    let mut server = TestServer::start().await;
    let cast = assembly_with_recommendations(&server, "mine").await;
    let mut client = server.client().await;
    for n in 0..5 {
        append(&mut client, &cast.facilitator, "mine", &submission(format!("s{n}"))).await;
    }
    let before = served_views(&mut client, "mine").await;
    server.restart_after(|directory| std::fs::write(directory.join("snapshot"), &foreign).expect("write")).await;
    assert_eq!(server.snapshot_taken_up(), None, "the stored events do not give the snapshot's root");
    assert_eq!(served_views(&mut server.client().await, "mine").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_after_the_snapshot_are_verified_and_folded_on_start() {
    let mut server = TestServer::start().await;
    let cast = assembly_with_recommendations(&server, "tail").await;
    server.restart().await;
    let covered = server.snapshot_taken_up().expect("snapshot");
    let older = std::fs::read(server.directory.path().join("snapshot")).expect("snapshot");
    let mut client = server.client().await;
    for n in 0..7 {
        append(&mut client, &cast.facilitator, "tail", &submission(format!("late-{n}"))).await;
    }
    let before = served_views(&mut client, "tail").await;
    // As after a crash: the newest snapshot is lost, an older one is all there is.
    server.restart_after(|directory| std::fs::write(directory.join("snapshot"), &older).expect("write")).await;
    assert_eq!(server.snapshot_taken_up(), Some(covered), "the older snapshot is taken up");
    let mut client = server.client().await;
    assert_eq!(served_views(&mut client, "tail").await, before, "the seven events after it were folded in");
    assert_served_views_equal_a_rebuild(&mut client, "tail").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaf_file_is_taken_up_when_whole_and_rebuilt_when_lost() {
    let mut server = TestServer::start().await;
    let cast = assembly_with_recommendations(&server, "leaves").await;
    let mut client = server.client().await;
    // Enough events for whole blocks of leaves in the file.
    for n in 0..40 {
        append(&mut client, &cast.facilitator, "leaves", &submission(format!("s{n}"))).await;
    }
    let size = server.log_size().await;
    let before = served_views(&mut client, "leaves").await;
    // Lost: the prefix's leaf hashes are computed again from the stored events; the root holds.
    server
        .restart_after(|directory| std::fs::remove_file(directory.join(klero_log::TREE_LEAVES_FILE)).expect("remove"))
        .await;
    assert_eq!(server.snapshot_taken_up(), Some(size));
    assert_eq!(served_views(&mut server.client().await, "leaves").await, before);
    // Damaged: the root no longer holds, so the snapshot is refused and everything verified.
    server
        .restart_after(|directory| {
            let path = directory.join(klero_log::TREE_LEAVES_FILE);
            let mut bytes = std::fs::read(&path).expect("a leaf file");
            assert!(bytes.len() >= 32 * 16, "whole blocks were written");
            bytes[100] ^= 1;
            std::fs::write(&path, bytes).expect("write");
        })
        .await;
    assert_eq!(server.snapshot_taken_up(), None, "a leaf file that changed is refused with the snapshot");
    let mut client = server.client().await;
    assert_eq!(served_views(&mut client, "leaves").await, before);
    assert_served_views_equal_a_rebuild(&mut client, "leaves").await;
}

/// The block hashes kept beside the leaf file (FORMAT.md §6.1) spare a start hashing every
/// leaf. A leaf changed together with its block's CRC (an edit, not rot, which the CRC would
/// find) still gives the snapshot's root, so the snapshot is taken up; but no proof is ever
/// served from it: the first read of its block hashes the leaves and refuses them, while the
/// other blocks still prove.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_changed_under_its_kept_block_hash_is_never_served() {
    let mut server = TestServer::start().await;
    let cast = assembly_with_recommendations(&server, "blocks").await;
    let mut client = server.client().await;
    for n in 0..40 {
        append(&mut client, &cast.facilitator, "blocks", &submission(format!("s{n}"))).await;
    }
    server.restart().await;
    let size = server.snapshot_taken_up().expect("snapshot");
    server
        .restart_after(|directory| {
            let leaves_path = directory.join(klero_log::TREE_LEAVES_FILE);
            let mut leaves = std::fs::read(&leaves_path).expect("a leaf file");
            leaves[20 * 32] ^= 1;
            std::fs::write(&leaves_path, &leaves).expect("write");
            // Block 1 (leaves 16..32): its record is its hash, then the CRC of its leaves.
            let blocks_path = leaves_path.with_extension("blocks");
            let mut blocks = std::fs::read(&blocks_path).expect("a blocks file");
            assert!(blocks.len() >= 3 * 36, "whole blocks were kept");
            blocks[36 + 32..2 * 36].copy_from_slice(&crc32c::crc32c(&leaves[16 * 32..32 * 32]).to_be_bytes());
            std::fs::write(&blocks_path, &blocks).expect("write");
        })
        .await;
    assert_eq!(server.snapshot_taken_up(), Some(size), "the kept block hashes give the root");
    let mut client = server.client().await;
    for _ in 0..2 {
        assert!(client.inclusion_proof(20, size).await.is_err(), "no proof from a changed leaf");
        assert!(client.inclusion_proof(17, size).await.is_err(), "nor from its block");
    }
    let checkpoint = client.checkpoint().await.expect("checkpoint");
    let verifier = klero_ledger::checkpoint::LogVerifierKey::parse_vkey(&checkpoint.verifier_key).expect("vkey");
    let signed = verifier.verify(&checkpoint.signed_note).expect("checkpoint verifies");
    let tree_size = signed.checkpoint().tree_size;
    let proof = client.inclusion_proof(40, tree_size).await.expect("another block still proves");
    let event = client
        .ledger()
        .read_log(pb::ledger::ReadLogRequest { from_log_index: 40, max_count: 1 })
        .await
        .expect("read")
        .into_inner()
        .events
        .remove(0);
    let hash = klero_ledger::Hash256(event.event_hash.as_slice().try_into().expect("32 bytes"));
    klero_ledger::merkle::verify_inclusion(
        40,
        tree_size,
        &klero_ledger::merkle::leaf_hash(&hash.0),
        &proof,
        &signed.checkpoint().root_hash,
    )
    .expect("and verifies");
}

/// Issue 29: the domain's tables are rows kept beside the snapshot (FORMAT.md §6.1), so a
/// snapshot's own bytes do not grow with submissions and each snapshot writes only the rows
/// added since the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_keeps_only_the_new_rows_and_its_own_bytes_do_not_grow_with_submissions() {
    let mut server = TestServer::start().await;
    let cast = assembly_with_recommendations(&server, "rows").await;
    let sizes = |directory: &std::path::Path| {
        let length = |name: &str| std::fs::metadata(directory.join(name)).map_or(0, |m| m.len());
        (length("snapshot"), length("snapshot-rows/inputs"))
    };
    server.restart().await;
    let (snapshot_before, inputs_before) = sizes(server.directory.path());
    let mut client = server.client().await;
    const MORE: u64 = 200;
    for n in 0..MORE {
        append(&mut client, &cast.facilitator, "rows", &submission(format!("more-{n}"))).await;
    }
    let before = served_views(&mut client, "rows").await;
    server.restart().await;
    let (snapshot_after, inputs_after) = sizes(server.directory.path());
    assert_eq!(inputs_after - inputs_before, MORE * 85, "one row of 85 bytes an input");
    assert!(
        snapshot_after.abs_diff(snapshot_before) < MORE,
        "the snapshot's own bytes went from {snapshot_before} to {snapshot_after} for {MORE} submissions"
    );
    assert!(server.snapshot_taken_up().is_some());
    let mut client = server.client().await;
    assert_eq!(served_views(&mut client, "rows").await, before);
    assert_served_views_equal_a_rebuild(&mut client, "rows").await;
}

/// Issue 29: the snapshot's signature covers the rows kept beside it. A changed row, rows cut
/// short, or rows of another log are refused, and the whole log is verified instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_beside_a_snapshot_that_are_not_the_signed_ones_are_refused() {
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 3] = [
        ("a changed row", |path| {
            let mut bytes = std::fs::read(path).expect("rows");
            bytes[10] ^= 1;
            std::fs::write(path, bytes).expect("write");
        }),
        ("rows cut short", |path| {
            let bytes = std::fs::read(path).expect("rows");
            std::fs::write(path, &bytes[..bytes.len() - 1]).expect("write");
        }),
        ("no rows", |path| std::fs::remove_file(path).expect("remove")),
    ];
    for (damage, apply) in damages {
        let mut server = TestServer::start().await;
        assembly_with_recommendations(&server, "rowdamage").await;
        append(&mut server.client().await, &Cast::new("rowdamage").facilitator, "rowdamage", &submission("one")).await;
        let before = served_views(&mut server.client().await, "rowdamage").await;
        server.restart_after(|directory| apply(&directory.join("snapshot-rows/inputs"))).await;
        assert_eq!(server.snapshot_taken_up(), None, "{damage}: refused");
        let mut client = server.client().await;
        assert_eq!(served_views(&mut client, "rowdamage").await, before, "{damage}: the same record");
        assert_served_views_equal_a_rebuild(&mut client, "rowdamage").await;
    }
}
