//! Issue 14: documents beside the log, citations, the trace views and receipts, over gRPC.

use klero_client::{ClientError, KleroClient};
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_tests::*;
use std::sync::Arc;
use tonic::Code;

const TEXT: &str = "text/plain; charset=utf-8";

fn refused(error: ClientError) -> tonic::Status {
    match error {
        ClientError::Refused(status) | ClientError::Conflict { status, .. } => status,
        other => panic!("expected a refusal, got {other}"),
    }
}

fn citation(input: &[u8], note: &str) -> pb::deliberation::InputCitation {
    pb::deliberation::InputCitation { input_event_hash: input.to_vec(), note: note.into() }
}

/// An assembly with a held session, an evidence document and a public submission, both
/// uploaded: (server, client, cast, evidence event, submission event, submission text hash).
async fn with_inputs(
    label: &str,
) -> (TestServer, KleroClient, Cast, pb::ledger::AppendedEvent, pb::ledger::AppendedEvent, Hash256) {
    with_inputs_on(TestServer::start().await, label).await
}

async fn with_inputs_on(
    server: TestServer,
    label: &str,
) -> (TestServer, KleroClient, Cast, pb::ledger::AppendedEvent, pb::ledger::AppendedEvent, Hash256) {
    let mut client = server.client().await;
    let cast = Cast::new(label);
    assembly_with_panel(&mut client, &cast, label).await;
    append(
        &mut client,
        &cast.facilitator,
        label,
        &pb::deliberation::SessionHeld {
            session_number: 1,
            held_on: "2026-01-20".into(),
            agenda: "a".into(),
            attendance_count: 4,
        },
    )
    .await;
    let evidence_text =
        client.upload_document(b"Bus use fell 12% after the 7pm cut.", TEXT, false).await.expect("upload");
    let evidence = append(
        &mut client,
        &cast.facilitator,
        label,
        &pb::deliberation::EvidencePresented {
            session_number: 1,
            speaker_role: "transport researcher".into(),
            title: "Evening services".into(),
            content_hash: evidence_text.0.to_vec(),
            media_type: TEXT.into(),
            sealed_title: None,
        },
    )
    .await;
    let submission_text =
        client.upload_document(b"I cannot get home from my evening shift.", TEXT, false).await.expect("upload");
    let submission = append(
        &mut client,
        &cast.facilitator,
        label,
        &pb::deliberation::PublicSubmissionReceived {
            submitter_id: "resident-1".into(),
            content_hash: submission_text.0.to_vec(),
            received_on: "2026-01-21".into(),
            sealed_text: None,
        },
    )
    .await;
    (server, client, cast, evidence, submission, submission_text)
}

/// Uploads `text` and drafts recommendation R1 with it; returns the text's hash.
async fn drafted(client: &mut KleroClient, cast: &Cast, assembly: &str, text: &str) -> Hash256 {
    let hash = client.upload_document(text.as_bytes(), TEXT, false).await.expect("upload");
    let draft = pb::recommendation::RecommendationDrafted {
        recommendation_id: "R1".into(),
        title: "Late buses".into(),
        text_hash: hash.0.to_vec(),
    };
    append(client, &cast.secretary, assembly, &draft).await;
    hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_cite_respond_trace_export_and_verify() {
    let (server, mut client, cast, evidence, submission, submission_text) = with_inputs("docs").await;
    // The recommendation's text, cited inputs, adoption, response with a letter.
    let text = drafted(&mut client, &cast, "docs", "R1. Run buses until 11pm.").await;
    let cited = append(
        &mut client,
        &cast.secretary,
        "docs",
        &pb::recommendation::RecommendationInputsCited {
            recommendation_id: "R1".into(),
            text_hash: text.0.to_vec(),
            citations: vec![
                citation(&evidence.event_hash, "the ridership data"),
                citation(&submission.event_hash, "a shift worker"),
            ],
        },
    )
    .await;
    append(
        &mut client,
        &cast.secretary,
        "docs",
        &pb::recommendation::VoteRecorded { recommendation_id: "R1".into(), in_favour: 3, against: 1, abstaining: 0 },
    )
    .await;
    let adopted = append(
        &mut client,
        &cast.secretary,
        "docs",
        &pb::recommendation::RecommendationAdopted {
            recommendation_id: "R1".into(),
            final_text_hash: text.0.to_vec(),
            in_favour: 3,
            against: 1,
            abstaining: 0,
        },
    )
    .await;
    let answer = append(
        &mut client,
        &cast.decision_maker,
        "docs",
        &response(&adopted.event_hash, pb::response::Decision::Accepted),
    )
    .await;
    let letter =
        client.upload_document(b"Dear residents, buses will run until 11pm.", TEXT, false).await.expect("upload");
    let considered = append(
        &mut client,
        &cast.decision_maker,
        "docs",
        &pb::response::ResponseInputsConsidered {
            recommendation_event_hash: adopted.event_hash.clone(),
            citations: vec![citation(&submission.event_hash, "evening shifts")],
            letter_hash: letter.0.to_vec(),
        },
    )
    .await;

    // Downloads: the bytes, checked; a submission is personal data whatever its upload said.
    let downloaded = client.download_document(&submission_text).await.expect("download");
    assert_eq!(downloaded.bytes, b"I cannot get home from my evening shift.");
    assert!(downloaded.info.personal_data, "a public submission's document is personal data");
    assert_eq!(downloaded.info.committed_as, "public_submission");
    assert_eq!(downloaded.info.committed_at_log_index, submission.log_index);
    assert_eq!(client.download_document(&letter).await.expect("letter").info.committed_as, "response_letter");

    // The trace of the submission reaches the council's answer.
    let view = client
        .query()
        .get_view(pb::query::GetViewRequest {
            view: "input-trace".into(),
            assembly_id: "docs".into(),
            digest_only: false,
        })
        .await
        .expect("view")
        .into_inner();
    let trace: serde_json::Value = serde_json::from_str(&view.json).expect("json");
    let inputs = trace["body"]["inputs"].as_array().expect("inputs");
    assert_eq!(inputs.len(), 2, "the evidence and the submission");
    let entry = inputs
        .iter()
        .find(|i| i["event_hash"] == Hash256(submission.event_hash.clone().try_into().expect("32")).to_hex())
        .expect("the submission");
    assert_eq!(entry["kind"], "public_submission");
    assert_eq!(entry["cited_by"][0]["recommendation_id"], "R1");
    assert_eq!(entry["cited_by"][0]["log_index"], cited.log_index);
    assert_eq!(entry["considered_in"][0]["log_index"], considered.log_index);
    assert_eq!(entry["outcomes"][0]["response"]["decision"], "accepted");
    assert_eq!(entry["outcomes"][0]["response"]["log_index"], answer.log_index);
    let responses = client
        .query()
        .get_view(pb::query::GetViewRequest {
            view: "response-trace".into(),
            assembly_id: "docs".into(),
            digest_only: false,
        })
        .await
        .expect("view")
        .into_inner();
    let responses: serde_json::Value = serde_json::from_str(&responses.json).expect("json");
    let first = &responses["body"]["responses"][0];
    assert_eq!(first["recommendation_cited"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["considered"][0]["kind"], "public_submission");
    assert_eq!(first["letters"][0]["letter_hash"], letter.to_hex());

    // The receipt, taken now, follows the submission to the answer.
    let receipt = client.proof_bundle(submission.log_index).await.expect("receipt");
    let followed =
        klero_client::trace::follow_receipt(&mut client, &receipt, None).await.expect("the receipt checks out");
    assert_eq!(followed.log_index, submission.log_index);
    assert_eq!(followed.entry.as_ref().expect("an input")["outcomes"][0]["recommendation_id"], "R1");

    // Export with the documents, then verify both; a changed document is caught.
    let export = klero_client::export::export_from_server(&mut client).await.expect("export");
    let options = klero_verifier::VerifyOptions { collect_committed_documents: true, ..Default::default() };
    let mut report = klero_verifier::verify_export_with(&export, &options, &mut |_, _| {});
    assert!(report.complete(), "{}", report.to_text());
    let mut documents = Vec::new();
    let mut after = Vec::new();
    loop {
        let page = client
            .documents()
            .list_documents(pb::documents::ListDocumentsRequest { after_sha256: after.clone(), max_count: 2 })
            .await
            .expect("list")
            .into_inner()
            .documents;
        let Some(last) = page.last() else { break };
        after = last.sha256.clone();
        for info in page {
            let hash = Hash256(info.sha256.try_into().expect("32"));
            documents.push((hash.to_hex(), client.download_document(&hash).await.expect("download").bytes));
        }
    }
    assert_eq!(documents.len(), 4, "evidence, submission, recommendation text, letter");
    let mut changed = report.clone();
    let mut with_stranger = report.clone();
    documents.sort();
    klero_verifier::check_documents(&mut report, documents.clone());
    assert!(report.ok(), "{}", report.to_text());
    assert_eq!((report.documents_checked, report.documents_missing, report.documents_uncommitted), (4, 0, 0));
    assert!(
        report.to_text().contains("documents: 4 checked against their names (0 of them committed to by no event), 0 committed to but not included"),
        "a verification with documents reports their counts:\n{}",
        report.to_text()
    );
    assert_eq!(report.to_json()["documents_uncommitted"], 0);
    // A file no event commits to is counted, not vouched for; one committed document left out
    // is counted as missing.
    let stranger = b"a file the record knows nothing of".to_vec();
    let mut extra = documents[1..].to_vec();
    extra.push((Hash256::of(&stranger).to_hex(), stranger));
    extra.sort();
    klero_verifier::check_documents(&mut with_stranger, extra);
    assert!(with_stranger.ok(), "{}", with_stranger.to_text());
    assert_eq!(
        (with_stranger.documents_checked, with_stranger.documents_missing, with_stranger.documents_uncommitted),
        (4, 1, 1)
    );
    documents[1].1.push(b'!');
    klero_verifier::check_documents(&mut changed, documents);
    let failure = changed.first_failure.expect("a changed document fails");
    assert_eq!(failure.class, klero_verifier::FailureClass::Document);

    // Documents survive a restart.
    let mut server = server;
    server.restart().await;
    let mut client = server.client().await;
    assert_eq!(
        client.download_document(&letter).await.expect("after restart").bytes,
        b"Dear residents, buses will run until 11pm."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citation_of_an_unknown_input_is_refused_with_its_rule() {
    let (server, mut client, cast, evidence, _, _) = with_inputs("cite").await;
    let text = drafted(&mut client, &cast, "cite", "R1 text").await;
    let before = server.log_size().await;
    let unknown = sha("never recorded");
    // Inputs never recorded break the rule; the same input twice, or none, break field rules.
    let cases = [
        (vec![citation(&unknown, "")], Code::FailedPrecondition, "citation.names_recorded_input"),
        (
            vec![citation(&evidence.event_hash, ""), citation(&unknown, "")],
            Code::FailedPrecondition,
            "citation.names_recorded_input",
        ),
        (
            vec![citation(&evidence.event_hash, ""), citation(&evidence.event_hash, "")],
            Code::InvalidArgument,
            "citations[1].input_event_hash",
        ),
        (vec![], Code::InvalidArgument, "citations"),
    ];
    for (citations, code, named) in cases {
        let cited = pb::recommendation::RecommendationInputsCited {
            recommendation_id: "R1".into(),
            text_hash: text.0.to_vec(),
            citations,
        };
        let status = refused(client.append(&sign(&cast.secretary, "cite", &cited), None).await.expect_err("refused"));
        assert_eq!(status.code(), code, "{named}");
        assert!(status.message().contains(named), "{named}: {}", status.message());
    }
    assert_eq!(server.log_size().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_does_not_match_its_hash_or_a_limit_is_refused() {
    use pb::documents::{upload_request::Part, UploadHeader, UploadRequest};
    let server = TestServer::start_configured(Some(Arc::new(|config| config.documents.uncommitted_max = 3))).await;
    let mut client = server.client().await;
    let upload = |header: UploadHeader, chunks: Vec<Vec<u8>>| {
        let mut messages = vec![UploadRequest { part: Some(Part::Header(header)) }];
        messages.extend(chunks.into_iter().map(|c| UploadRequest { part: Some(Part::Chunk(c.into())) }));
        tonic::codegen::tokio_stream::iter(messages)
    };
    let header = |sha256: Vec<u8>, media_type: &str, size: u64| UploadHeader {
        sha256,
        media_type: media_type.into(),
        size,
        personal_data: false,
    };
    let bytes = b"some text".to_vec();
    // Bytes that do not hash to the declared hash.
    let status = client
        .documents()
        .upload(upload(header(sha("other text"), TEXT, 9), vec![bytes.clone()]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("header.sha256"), "{}", status.message());
    // A size over the limit is refused from the header alone; so is a media type not allowed.
    let status = client
        .documents()
        .upload(upload(header(sha("x"), TEXT, 16 * 1024 * 1024 + 1), vec![]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("document bytes"), "{}", status.message());
    let status = client
        .documents()
        .upload(upload(header(sha("x"), "text/html", 1), vec![b"x".to_vec()]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("media_type"), "{}", status.message());
    // More bytes than declared.
    let status = client
        .documents()
        .upload(upload(header(Hash256::of(&bytes).0.to_vec(), TEXT, 4), vec![bytes.clone()]))
        .await
        .expect_err("refused");
    assert!(status.message().contains("header.size"), "{}", status.message());
    // Nothing was kept, so nothing can be downloaded.
    let status = refused(client.download_document(&Hash256::of(&bytes)).await.expect_err("nothing"));
    assert_eq!(status.code(), Code::NotFound);

    // At most three uncommitted documents; a fourth is refused until one is committed.
    let mut kept = Vec::new();
    for n in 0..3 {
        kept.push(
            client.upload_document(format!("draft {n}").as_bytes(), TEXT, false).await.expect("within the limit"),
        );
    }
    let status = refused(client.upload_document(b"draft 3", TEXT, false).await.expect_err("over"));
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("documents no event commits to"), "{}", status.message());
    // An uncommitted document is not served.
    let status = refused(client.download_document(&kept[0]).await.expect_err("uncommitted"));
    assert_eq!(status.code(), Code::NotFound);
    // Uploading a kept document again changes nothing.
    assert_eq!(client.upload_document(b"draft 0", TEXT, false).await.expect("again"), kept[0]);
    let cast = Cast::new("limits");
    assembly_with_panel(&mut client, &cast, "limits").await;
    append(
        &mut client,
        &cast.facilitator,
        "limits",
        &pb::deliberation::PublicSubmissionReceived {
            submitter_id: "r1".into(),
            content_hash: kept[0].0.to_vec(),
            received_on: "2026-01-21".into(),
            sealed_text: None,
        },
    )
    .await;
    client.upload_document(b"draft 3", TEXT, false).await.expect("room once one is committed");
    assert!(client.download_document(&kept[0]).await.expect("committed now").info.personal_data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncommitted_documents_are_collected_after_their_grace_period() {
    let server = TestServer::start_configured(Some(Arc::new(|config| {
        config.documents.grace = std::time::Duration::from_secs(3600);
    })))
    .await;
    let (server, mut client, _, _, _, submission_text) = with_inputs_on(server, "gc").await;
    let stray = client.upload_document(b"never committed", TEXT, false).await.expect("upload");
    let application = server.server.as_ref().expect("running").running.application().clone();
    let collected = application.collect_uncommitted_documents().await.expect("collect");
    assert_eq!(collected, klero_application::Collected { deleted: 0, waiting: 1 }, "within its grace period");
    server.advance_clock(3600 * 1000 + 1);
    let collected = application.collect_uncommitted_documents().await.expect("collect");
    assert_eq!(collected, klero_application::Collected { deleted: 1, waiting: 0 });
    let infos = server.server.as_ref().expect("running").store.clone();
    let held: Vec<[u8; 32]> =
        klero_store::EventStore::document_infos(&*infos).await.expect("infos").into_iter().map(|i| i.sha256).collect();
    assert!(!held.contains(&stray.0), "the stray document is gone");
    assert!(held.contains(&submission_text.0), "a committed document stays");
    client.download_document(&submission_text).await.expect("still served");
}

/// At most 16 uploads at once (each may hold 16 MiB): the 17th is refused by name, and a slot
/// frees when an upload ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_in_progress_are_limited() {
    use pb::documents::{upload_request::Part, UploadHeader, UploadRequest};
    let server = TestServer::start().await;
    let client = server.client().await;
    let header = || UploadRequest {
        part: Some(Part::Header(UploadHeader {
            sha256: sha("held open"),
            media_type: TEXT.into(),
            size: 10,
            personal_data: false,
        })),
    };
    // Sixteen uploads send their header and then hold their stream open.
    let mut held = Vec::new();
    for _ in 0..klero_api::documents::TRANSFERS_IN_PROGRESS_MAX {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        sender.send(header()).await.expect("header");
        let mut documents = client.clone();
        let call = tokio::spawn(async move {
            documents
                .documents()
                .upload(tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(receiver))
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        });
        held.push((sender, call));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut extra = client.clone();
    let status = refused(extra.upload_document(b"one too many", TEXT, false).await.expect_err("over the limit"));
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("uploads in progress"), "{}", status.message());
    // Ending the held uploads (their bytes never came) frees the slots.
    for (sender, call) in held {
        drop(sender);
        assert_eq!(call.await.expect("join"), Err(Code::InvalidArgument), "declared 10 bytes, sent none");
    }
    extra.upload_document(b"room again", TEXT, false).await.expect("a slot is free");
}

/// Issue 29: a server whose tables keep only their newest rows in memory (1,024 here; the
/// rest in scratch files, found through sorted runs) decides, serves and restarts as one that
/// keeps them all: inputs that left memory are cited and their documents found, a transplanted
/// citation is still refused, and after a restart from the snapshot the views equal a rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_that_left_memory_are_cited_found_and_taken_up_again() {
    let scratch = tempfile::tempdir().expect("scratch");
    let files = Arc::new(klero_wiring::scratch::ScratchDirectory::new(scratch.path().into()).with_rows_in_memory(1024));
    let spill = files.clone();
    let configure: Configure = Arc::new(move |config| config.table_spill = Some(spill.clone()));
    let (mut server, mut client, cast, evidence, early, early_text) =
        with_inputs_on(TestServer::start_configured(Some(configure)).await, "spill").await;
    let other = Cast::new("spill-other");
    assembly_with_panel(&mut client, &other, "spill-other").await;
    let elsewhere = append(&mut client, &other.facilitator, "spill-other", &submission("elsewhere")).await;
    let kind = <pb::deliberation::PublicSubmissionReceived as klero_catalogue::EventMessage>::STREAM_KIND;
    let stream = klero_client::stream_name(kind, "spill").expect("stream");
    let mut later = Vec::new();
    for batch in 0..25 {
        let events: Vec<_> =
            (0..100).map(|n| sign(&cast.facilitator, "spill", &submission(format!("s{batch}-{n}")))).collect();
        later.extend(client.append_batch(&stream, &events, None).await.expect("batch"));
    }
    let text = drafted(&mut client, &cast, "spill", "R1. Keep the late bus.").await;
    let cite = |inputs: &[&[u8]]| pb::recommendation::RecommendationInputsCited {
        recommendation_id: "R1".into(),
        text_hash: text.0.to_vec(),
        citations: inputs.iter().map(|hash| citation(hash, "")).collect(),
    };
    let transplanted = sign(&cast.secretary, "spill", &cite(&[&elsewhere.event_hash]));
    let refuse_transplant = |status: tonic::Status| {
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("citation.names_recorded_input"), "{}", status.message());
    };
    refuse_transplant(refused(client.append(&transplanted, None).await.expect_err("another assembly's input")));
    // The first inputs left memory long ago; the last is still in it.
    append(
        &mut client,
        &cast.secretary,
        "spill",
        &cite(&[&evidence.event_hash, &early.event_hash, &later[2499].event_hash]),
    )
    .await;
    let downloaded = client.download_document(&early_text).await.expect("download");
    assert_eq!(downloaded.bytes, b"I cannot get home from my evening shift.");
    assert_eq!(downloaded.info.committed_at_log_index, early.log_index, "its earliest input, spilled");
    assert_served_views_equal_a_rebuild(&mut client, "spill").await;
    // Two spills of the inputs: a file of rows and runs for each index, written and merged.
    assert!(files.files_made() >= 6, "{} scratch files", files.files_made());
    let made = files.files_made();

    server.restart().await;
    assert!(files.files_made() > made, "taking the rows up again spilled them again");
    assert!(server.snapshot_taken_up().is_some(), "taken up from the snapshot and its rows");
    let mut client = server.client().await;
    assert_served_views_equal_a_rebuild(&mut client, "spill").await;
    append(&mut client, &cast.secretary, "spill", &cite(&[&later[10].event_hash])).await;
    let transplanted = sign(&cast.secretary, "spill", &cite(&[&elsewhere.event_hash]));
    refuse_transplant(refused(client.append(&transplanted, None).await.expect_err("still another assembly's")));

    // That start read the older rows in place, in the store's file of kept rows (FORMAT.md
    // §6.1). The server never writes those bytes again: its next snapshot's rows go after
    // them, and a second start reads both, with rows spilled since in a file of its own.
    let kept_rows = server.directory.path().join("snapshot-rows").join("inputs");
    let before = std::fs::read(&kept_rows).expect("kept rows");
    let mut more = Vec::new();
    for batch in 0..15 {
        let events: Vec<_> =
            (0..100).map(|n| sign(&cast.facilitator, "spill", &submission(format!("t{batch}-{n}")))).collect();
        more.extend(client.append_batch(&stream, &events, None).await.expect("batch"));
    }
    server.restart().await;
    let after = std::fs::read(&kept_rows).expect("kept rows");
    assert!(after.len() > before.len(), "the second snapshot's rows were kept after the first's");
    assert!(after[..before.len()] == before[..], "rows a snapshot named, read in place, were written again");
    assert!(server.snapshot_taken_up().is_some(), "taken up again from the snapshot and its rows");
    let mut client = server.client().await;
    assert_served_views_equal_a_rebuild(&mut client, "spill").await;
    let hashes = [&later[20].event_hash, &more[0].event_hash, &more[1499].event_hash];
    append(&mut client, &cast.secretary, "spill", &cite(&hashes.map(|hash| hash.as_slice()))).await;
    refuse_transplant(refused(client.append(&transplanted, None).await.expect_err("another assembly's, again")));
    let named: Vec<_> = std::fs::read_dir(scratch.path()).expect("scratch").collect();
    assert!(named.is_empty(), "scratch files have no names: {named:?}");
}
