//! Issue 19: personal text sealed under a key of its own, opened by the server, erased by
//! destroying the key, with every proof intact before and after, and nothing left on disk
//! that gives the text back.

use klero_client::{ClientError, KleroClient, SignedEvent};
use klero_domain::personal::{self, DataKey};
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_tests::*;
use klero_verifier::{verify_export, Export};
use std::path::Path;
use tonic::Code;

/// A text no other part of the system could write by chance.
const DISTINCTIVE: &str = "Quokka-Zebra 4417: I live at 9 Mill Lane and my asthma is worse near the school gates.";
/// A version 1 submission's text, kept as a personal document.
const DOCUMENT_TEXT: &str = "Ptarmigan-Okapi 2231: my daughter walks past the depot at 8am.";
const DATA_KEY: [u8; 32] = [0x5a; 32];

fn refused(error: ClientError) -> tonic::Status {
    match error {
        ClientError::Refused(status) | ClientError::Conflict { status, .. } => status,
        other => panic!("expected a refusal, got {other}"),
    }
}

/// A version 2 submission of `text`, sealed under `key` with fixed nonce and salt, signed by
/// the facilitator; the returned event carries the data key to send beside it.
fn sealed_submission(cast: &Cast, assembly: &str, text: &str, key: Option<DataKey>) -> SignedEvent {
    let event_id = klero_client::new_event_id();
    let sealing_key = DataKey(DATA_KEY);
    let sealed = personal::seal(&sealing_key, [7; 24], [8; 32], &event_id.0, "sealed_text", text);
    let payload = pb::deliberation::PublicSubmissionReceived {
        submitter_id: "resident-9".into(),
        content_hash: Vec::new(),
        received_on: "2026-01-21".into(),
        sealed_text: Some(klero_catalogue::sealed_text_message(&sealed)),
    };
    let stream = klero_client::stream_name(klero_domain::StreamKind::Deliberation, assembly).expect("stream");
    let now = klero_application::system_clock()();
    let mut signed = cast.facilitator.sign_with(stream, event_id, now, &payload).expect("sign");
    signed.data_key = key;
    signed
}

/// Every file under `directory`, with its bytes.
fn every_file(directory: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.push((path, bytes));
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The files under `directory` that hold `needle`.
fn files_holding(directory: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    every_file(directory).into_iter().filter(|(_, bytes)| contains(bytes, needle)).map(|(path, _)| path).collect()
}

async fn open(client: &mut KleroClient, assembly: &str, event_hash: &[u8]) -> pb::query::OpenPersonalTextResponse {
    client
        .query()
        .open_personal_text(pb::query::OpenPersonalTextRequest {
            assembly_id: assembly.into(),
            event_hash: event_hash.to_vec(),
        })
        .await
        .expect("open")
        .into_inner()
}

async fn export_text(client: &mut KleroClient) -> String {
    let export = klero_client::export::export_from_server(client).await.expect("export");
    let report = verify_export(&export, &mut |_, _| {});
    assert!(report.complete(), "{}", report.to_text());
    export.encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_text_is_sealed_opened_erased_and_gone_from_every_file_while_every_proof_holds() {
    let assembly = "privacy";
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new(assembly);
    assembly_with_panel(&mut client, &cast, assembly).await;
    let officer = klero_client::Author::new(key("privacy: data protection officer"));
    let grant = data_protection_officer_grant(&officer, assembly);
    append(&mut client, &cast.council, assembly, &grant).await;

    // Bad input appends nothing and names the field: no key, a wrong key, a key for plain text.
    let size = server.log_size().await;
    let missing =
        refused(client.append(&sealed_submission(&cast, assembly, DISTINCTIVE, None), None).await.unwrap_err());
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(missing.message().contains("data_key") && missing.message().contains("required"), "{missing:?}");
    let wrong = sealed_submission(&cast, assembly, DISTINCTIVE, Some(DataKey([1; 32])));
    let wrong = refused(client.append(&wrong, None).await.unwrap_err());
    assert!(wrong.message().contains("does not open sealed_text"), "{wrong:?}");
    let mut plain = sign(&cast.facilitator, assembly, &submission("resident-2"));
    plain.data_key = Some(DataKey(DATA_KEY));
    let plain = refused(client.append(&plain, None).await.unwrap_err());
    assert!(plain.message().contains("no sealed text"), "{plain:?}");
    assert_eq!(server.log_size().await, size, "refused appends changed the log");

    // Written sealed, read back opened and checked against the signed commitment.
    let sealed = client
        .append(&sealed_submission(&cast, assembly, DISTINCTIVE, Some(DataKey(DATA_KEY))), None)
        .await
        .expect("sealed append");
    let opened = open(&mut client, assembly, &sealed.event_hash).await;
    let field = &opened.fields[0];
    assert_eq!((field.field.as_str(), field.text.as_str()), ("sealed_text", DISTINCTIVE));
    let salt: [u8; 32] = field.salt.as_slice().try_into().expect("salt");
    personal::check_opening(&salt, &field.text, &Hash256(field.commitment.as_slice().try_into().expect("hash")))
        .expect("the opening matches the commitment");
    // A version 1 submission whose document is personal data.
    let document =
        client.upload_document(DOCUMENT_TEXT.as_bytes(), "text/plain; charset=utf-8", true).await.expect("upload");
    let mut with_document = submission("resident-3");
    with_document.content_hash = document.0.to_vec();
    let with_document = append(&mut client, &cast.facilitator, assembly, &with_document).await;
    // The plaintext is nowhere in the data directory, even before the erasure; the key is.
    assert_eq!(files_holding(server.directory.path(), DISTINCTIVE.as_bytes()), Vec::<std::path::PathBuf>::new());
    assert!(!files_holding(server.directory.path(), &DATA_KEY).is_empty(), "the key store keeps the key");
    let before = export_text(&mut client).await;

    // Erased: the key is destroyed and the document deleted once the erasure is durable.
    for (target, reason) in [(&sealed, "UK GDPR Art. 17(1)(b): consent withdrawn"), (&with_document, "Art. 17(1)(a)")] {
        let erasure = pb::privacy::ContentErased {
            event_hash: target.event_hash.clone(),
            legal_basis: reason.into(),
            erased_on: "2026-12-01".into(),
        };
        append(&mut client, &officer, assembly, &erasure).await;
    }
    let erased = open(&mut client, assembly, &sealed.event_hash).await;
    assert_eq!((erased.erased_on.as_str(), erased.fields[0].text.as_str()), ("2026-12-01", ""));
    assert!(erased.erasure_reason.contains("consent withdrawn"));
    let gone = client.download_document(&document).await.expect_err("the personal document is deleted");
    assert_eq!(refused(gone).code(), Code::NotFound);
    let trace = client
        .query()
        .get_view(pb::query::GetViewRequest {
            view: "input-trace".into(),
            assembly_id: assembly.into(),
            digest_only: false,
        })
        .await
        .expect("view")
        .into_inner();
    assert_eq!(trace.json.matches("\"erased_on\":\"2026-12-01\"").count(), 2, "{}", trace.json);
    assert_served_views_equal_a_rebuild(&mut client, assembly).await;

    // Restart, export and verify: the export taken before the erasure and the one after both
    // verify, and nothing written since holds the text, the key, or the document.
    server.restart().await;
    let mut client = server.client().await;
    assert_eq!(open(&mut client, assembly, &sealed.event_hash).await.erased_on, "2026-12-01");
    let after = export_text(&mut client).await;
    let reread = Export::parse(&before).expect("the export from before reads back");
    assert!(verify_export(&reread, &mut |_, _| {}).complete(), "the export from before the erasure still verifies");
    let exports = tempfile::tempdir().expect("temp dir");
    std::fs::write(exports.path().join("after.export"), &after).expect("write");
    for root in [server.directory.path(), exports.path()] {
        for needle in [DISTINCTIVE.as_bytes(), DOCUMENT_TEXT.as_bytes(), &DATA_KEY] {
            assert_eq!(files_holding(root, needle), Vec::<std::path::PathBuf>::new(), "{}", root.display());
        }
    }
    // And nothing in them decrypts it: every 32-byte window of every file is tried as the key.
    let event = Export::parse(&after).expect("parse").events.into_iter().find_map(|bytes| {
        let envelope = klero_ledger::envelope::Envelope::parse(bytes).ok()?;
        (envelope.event_hash().0.as_slice() == sealed.event_hash.as_slice()).then_some(envelope)
    });
    let event = event.expect("the sealed event is still in the log");
    let decoded = klero_fold::LogFold::decode(&event).expect("decodes");
    let (field, sealed_text) = decoded.sealed_fields()[0];
    // Each distinct window once; the zeros written ahead of a segment's records are one.
    let mut candidates = std::collections::HashMap::new();
    for (path, bytes) in every_file(server.directory.path()) {
        for window in bytes.windows(32) {
            candidates.entry(<[u8; 32]>::try_from(window).expect("32 bytes")).or_insert_with(|| path.clone());
        }
    }
    for (candidate, path) in &candidates {
        let opened = personal::open(&DataKey(*candidate), &event.author().event_id.0, field, sealed_text);
        assert!(opened.is_err(), "{} holds a key that opens the erased text", path.display());
    }
    assert!(candidates.len() > 1_000, "every file of the data directory was searched ({} windows)", candidates.len());
}

/// A sealed submission in its own assembly, appended on `server`: (cast, data protection
/// officer, the submission as recorded, its event id).
async fn sealed_item(
    client: &mut KleroClient,
    assembly: &str,
) -> (Cast, klero_client::Author, pb::ledger::AppendedEvent, klero_ledger::envelope::EventId) {
    let cast = Cast::new(assembly);
    assembly_with_panel(client, &cast, assembly).await;
    let officer = klero_client::Author::new(key("crash: data protection officer"));
    let grant = data_protection_officer_grant(&officer, assembly);
    append(client, &cast.council, assembly, &grant).await;
    let signed = sealed_submission(&cast, assembly, DISTINCTIVE, Some(DataKey(DATA_KEY)));
    let event_id = signed.event_id;
    let appended = client.append(&signed, None).await.expect("sealed append");
    (cast, officer, appended, event_id)
}

fn erasure_of(appended: &pb::ledger::AppendedEvent) -> pb::privacy::ContentErased {
    pb::privacy::ContentErased {
        event_hash: appended.event_hash.clone(),
        legal_basis: "UK GDPR Art. 17(1)(b)".into(),
        erased_on: "2026-12-01".into(),
    }
}

/// Whether the log in `store` holds a `ContentErased`.
async fn log_holds_an_erasure(store: &klero_store_embedded::EmbeddedStore) -> bool {
    use klero_store::EventStore;
    let events = store.read_all(klero_store::LogPosition(0), 10_000).await.expect("read");
    events.iter().any(|event| {
        klero_ledger::envelope::Envelope::parse(event.data.clone())
            .is_ok_and(|envelope| envelope.author().event_type == "klero.privacy.v1.ContentErased")
    })
}

/// Issue 19: the key is destroyed only after the `ContentErased` that orders it is durable,
/// and a restart finishes an erasure a crash interrupted. Every file operation from the
/// sealed event's acknowledgement to the end is a crash point (writes also torn): after each,
/// the key store may hold the key destroyed only if the log holds the erasure, and a server
/// started on the files destroys it exactly when the log does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_survives_a_crash_at_every_file_operation() {
    use klero_store::{DataKeyState, EventStore};
    use klero_store_embedded::disk::{Disk, FaultyDisk, RecordedOperation};
    let work = tempfile::tempdir().expect("temp dir");
    let trust_root = key("trust root");
    let disk = FaultyDisk::recording();
    let (event_id, from) = {
        let server =
            start_server_on_disk(work.path(), trust_root.verifying_key().to_bytes(), Disk::with_hook(disk.clone()))
                .await;
        let mut client = KleroClient::connect(&server.url).await.expect("connect");
        let (_, officer, sealed, event_id) = sealed_item(&mut client, "crash").await;
        let from = disk.recorded().len();
        append(&mut client, &officer, "crash", &erasure_of(&sealed)).await;
        server.stop().await;
        (event_id, from)
    };
    let operations = disk.recorded();
    let keys_path = |path: &Path| path.file_name().is_some_and(|name| name == "keys");
    // The destruction is a write of the key file after the erasure's append; a segment sync
    // comes after the last segment write before it, so the erasure was durable first.
    let destroy = (from..operations.len())
        .find(|&i| matches!(&operations[i], RecordedOperation::Write { path, .. } if keys_path(path)))
        .expect("the erasure overwrote the key's record");
    let last_segment_write = (0..destroy)
        .rev()
        .find(|&i| matches!(&operations[i], RecordedOperation::Write { path, .. } if path.to_string_lossy().contains("segments")))
        .expect("the erasure was written");
    assert!(
        (last_segment_write..destroy).any(|i| matches!(&operations[i], RecordedOperation::SyncData { path } if path.to_string_lossy().contains("segments"))),
        "the key was destroyed before the erasure was synced: {:?}",
        &operations[last_segment_write..=destroy]
    );

    let done = tempfile::tempdir().expect("temp dir");
    for operation in &operations[..from] {
        operation.replay(work.path(), done.path(), None).expect("replay");
    }
    let mut crash_points = 0;
    let mut erased_states = 0;
    for crashed_at in from..=operations.len() {
        let operation = operations.get(crashed_at);
        let mut tears = vec![None];
        if let Some(RecordedOperation::Write { bytes, .. }) = operation {
            tears.extend(
                [1, bytes.len() / 2, bytes.len().saturating_sub(1)]
                    .into_iter()
                    .filter(|t| *t > 0 && *t < bytes.len())
                    .map(Some),
            );
        }
        for torn in tears {
            let directory = tempfile::tempdir().expect("temp dir");
            copy_directory(done.path(), directory.path());
            if let (Some(operation), Some(torn)) = (operation, torn) {
                operation.replay(work.path(), directory.path(), Some(torn)).expect("replay torn");
            }
            let what = format!("crash after {crashed_at} operations, torn at {torn:?}");
            {
                let store = klero_store_embedded::EmbeddedStore::open(directory.path(), Default::default())
                    .await
                    .unwrap_or_else(|e| panic!("{what}: the store does not open: {e}"));
                let state = store.read_data_key(&event_id).await.expect("read key");
                assert!(
                    state != DataKeyState::Destroyed || log_holds_an_erasure(&store).await,
                    "{what}: the key was destroyed, the erasure is not in the log"
                );
                store.close().await;
            }
            let server = start_server(
                directory.path(),
                trust_root.verifying_key().to_bytes(),
                klero_application::system_clock(),
            )
            .await;
            let erased = log_holds_an_erasure(&server.store).await;
            let state = server.store.read_data_key(&event_id).await.expect("read key");
            let expected = if erased { DataKeyState::Destroyed } else { DataKeyState::Live(DATA_KEY) };
            assert_eq!(state, expected, "{what}: after a restart");
            erased_states += usize::from(erased);
            server.stop().await;
            crash_points += 1;
        }
        if let Some(operation) = operation {
            operation.replay(work.path(), done.path(), None).expect("replay");
        }
    }
    println!(
        "{crash_points} crash points around an erasure, {erased_states} with the erasure recorded: every one held"
    );
    assert!(erased_states > 0 && erased_states < crash_points, "crash points fall both before and after the erasure");
}

fn copy_directory(from: &Path, to: &Path) {
    for (path, bytes) in every_file(from) {
        let target = to.join(path.strip_prefix(from).expect("under from"));
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("write");
    }
}

/// Issue 19: a key whose destruction fails (an I/O error on the key file) stops writes, and
/// the next start finishes the erasure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_key_destruction_is_finished_by_the_next_start() {
    use klero_store::{DataKeyState, EventStore};
    use klero_store_embedded::disk::{Disk, Fault, FaultyDisk, OperationKind, EIO};
    let data = tempfile::tempdir().expect("temp dir");
    let trust_root = key("trust root").verifying_key().to_bytes();
    let disk = std::sync::Arc::new(FaultyDisk::default());
    let server = start_server_on_disk(data.path(), trust_root, Disk::with_hook(disk.clone())).await;
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    let (_, officer, sealed, event_id) = sealed_item(&mut client, "faulty").await;
    // The next write of the key file is the erasure's (a fault counts from its injection).
    disk.inject(Fault { kind: OperationKind::Write, path_contains: "/keys".into(), skip: 0, errno: EIO });
    let refused = client.append(&officer.sign("faulty", &erasure_of(&sealed)).expect("sign"), None).await;
    let status = refused.expect_err("the key could not be destroyed: the append is not acknowledged");
    assert!(status.to_string().contains("storage failed"), "{status}");
    assert_eq!(disk.injected().len(), 1, "{:?}", disk.injected());
    // The erasure itself is durable, and the key still there.
    assert!(log_holds_an_erasure(&server.store).await);
    assert_eq!(server.store.read_data_key(&event_id).await.expect("read"), DataKeyState::Live(DATA_KEY));
    server.stop().await;
    let server = start_server(data.path(), trust_root, klero_application::system_clock()).await;
    assert_eq!(server.store.read_data_key(&event_id).await.expect("read"), DataKeyState::Destroyed);
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    assert_eq!(open(&mut client, "faulty", &sealed.event_hash).await.erased_on, "2026-12-01");
    server.stop().await;
}

/// Issue 19: an assembly's retention period makes each item's erasure due that many days after
/// it was recorded; the server lists the overdue items, and erasing them empties the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_erasures_are_listed_once_the_retention_period_ends() {
    let assembly = "retention";
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let (_, officer, sealed, _) = sealed_item(&mut client, assembly).await;
    let overdue = |client: &mut KleroClient| {
        let mut client = client.clone();
        async move {
            client
                .query()
                .list_overdue_erasures(pb::query::ListOverdueErasuresRequest { assembly_id: assembly.into() })
                .await
                .expect("list")
                .into_inner()
        }
    };
    let listed = overdue(&mut client).await;
    assert_eq!((listed.retention_days, listed.overdue.len()), (0, 0), "no period set, nothing is due");
    let period = pb::privacy::PersonalDataRetentionSet { retention_days: 30 };
    client.append(&server.sign_now(&officer, assembly, &period), None).await.expect("retention");
    assert_eq!(overdue(&mut client).await.overdue.len(), 0, "not due before 30 days");
    server.advance_clock(31 * 86_400_000);
    let listed = overdue(&mut client).await;
    assert_eq!(listed.retention_days, 30);
    assert_eq!(listed.overdue.len(), 1, "{listed:?}");
    assert_eq!(listed.overdue[0].event_hash, sealed.event_hash);
    assert_eq!(listed.overdue[0].due_at_unix_ms, listed.overdue[0].recorded_at_unix_ms + 30 * 86_400_000);
    client.append(&server.sign_now(&officer, assembly, &erasure_of(&sealed)), None).await.expect("erase");
    assert_eq!(overdue(&mut client).await.overdue.len(), 0, "an erased item is no longer due");
}
