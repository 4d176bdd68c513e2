use klero_client::{expect_exact, ClientError};
use klero_proto as pb;
use klero_tests::*;
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

async fn ready() -> (TestServer, klero_client::KleroClient, Cast) {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("errors");
    assembly_with_panel(&mut client, &cast, "errors").await;
    (server, client, cast)
}

fn status(error: ClientError) -> tonic::Status {
    match error {
        ClientError::Refused(status) | ClientError::Conflict { status, .. } => status,
        other => panic!("expected a status from the server, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fields_are_named_in_bad_request_details_and_append_nothing() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let bad = pb::deliberation::EvidencePresented {
        session_number: 0,
        speaker_role: "expert".into(),
        title: "".into(),
        content_hash: vec![1, 2, 3],
        media_type: "application/pdf".into(),
        sealed_title: None,
    };
    let error = status(client.append(&sign(&cast.facilitator, "errors", &bad), None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::InvalidArgument);
    let fields: Vec<String> = error
        .get_details_bad_request()
        .expect("BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, vec!["session_number", "title", "content_hash"]);

    // A payload with an unknown field is not canonical and is refused.
    let mut payload = submission("s1").encode_to_vec();
    payload.extend_from_slice(&[0xa0, 0x06, 0x01]); // field 100, varint 1
    let author = klero_ledger::envelope::AuthorPart {
        event_id: klero_client::new_event_id(),
        stream: "assembly/errors/deliberation".into(),
        event_type: "klero.deliberation.v1.PublicSubmissionReceived".into(),
        event_version: 1,
        author_public_key: cast.facilitator.public_key(),
        authored_at_unix_ms: 1,
        payload,
    };
    let signed = author.sign(&key("errors facilitator")).expect("sign");
    let wire =
        pb::ledger::SignedEvent { author_encoding: signed.encoding().to_vec(), signature: signed.signature().to_vec() };
    let error = client
        .ledger()
        .append(pb::ledger::AppendRequest { event: Some(wire), expected_revision: None, data_key: Vec::new() })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("canonical"), "{}", error.message());

    // Unknown event types and malformed envelopes are refused by name.
    let error = client
        .ledger()
        .append(pb::ledger::AppendRequest {
            event: Some(pb::ledger::SignedEvent { author_encoding: vec![1, 2, 3], signature: vec![0; 64] }),
            expected_revision: None,
            data_key: Vec::new(),
        })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("event.author_encoding"), "{}", error.message());
    let error = client
        .ledger()
        .append(pb::ledger::AppendRequest { event: None, expected_revision: None, data_key: Vec::new() })
        .await
        .expect_err("refused");
    assert!(error.message().contains("event is required"), "{}", error.message());
    assert_eq!(server.log_size().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_unauthenticated() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let mut event = sign(&cast.facilitator, "errors", &submission("s1"));
    event.wire.signature[10] ^= 1;
    let error = status(client.append(&event, None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::Unauthenticated);
    assert_eq!(server.log_size().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_revoked_roles_are_permission_denied() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let session = pb::deliberation::SessionHeld {
        session_number: 1,
        held_on: "2026-01-20".into(),
        agenda: "a".into(),
        attendance_count: 4,
    };
    let error = status(client.append(&sign(&cast.secretary, "errors", &session), None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(error.message().contains("authority.role_required"), "{}", error.message());
    let error = status(
        client
            .append(
                &sign(
                    &cast.convenor,
                    "errors",
                    &pb::registry::KeyGranted {
                        public_key: cast.convenor.public_key().to_vec(),
                        role: 1,
                        scope: "*".into(),
                        holder_title: "x".into(),
                    },
                ),
                None,
            )
            .await
            .expect_err("refused"),
    );
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(error.message().contains("registry.trust_root_only"), "{}", error.message());
    assert_eq!(server.log_size().await, before);

    let revoke = pb::registry::KeyRevoked {
        public_key: cast.facilitator.public_key().to_vec(),
        role: pb::registry::Role::Facilitator as i32,
        scope: "errors".into(),
        reason: "key lost".into(),
    };
    append(&mut client, &cast.council, "errors", &revoke).await;
    let after_revoke = server.log_size().await;
    let error = status(client.append(&sign(&cast.facilitator, "errors", &session), None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(error.message().contains("authority.key_revoked"), "{}", error.message());
    assert_eq!(server.log_size().await, after_revoke);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_is_a_failed_precondition_naming_the_rule() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let vote =
        pb::recommendation::VoteRecorded { recommendation_id: "R9".into(), in_favour: 3, against: 0, abstaining: 0 };
    let error = status(client.append(&sign(&cast.secretary, "errors", &vote), None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("recommendation.exists"), "{}", error.message());
    let detail = error.get_details_precondition_failure().expect("PreconditionFailure detail");
    assert_eq!(detail.violations[0].subject, "recommendation.exists");
    let answer = response(&sha("not an adoption"), pb::response::Decision::Accepted);
    let error = status(client.append(&sign(&cast.decision_maker, "errors", &answer), None).await.expect_err("refused"));
    assert!(error.message().contains("response.names_adopted_recommendation"), "{}", error.message());
    assert_eq!(server.log_size().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_expected_revision_is_aborted_with_the_current_revision() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let submission = submission("s1");
    append(&mut client, &cast.facilitator, "errors", &submission).await; // deliberation is at revision 0
    match client.append(&sign(&cast.facilitator, "errors", &submission), Some(expect_exact(5))).await {
        Err(ClientError::Conflict { current_revision, status, .. }) => {
            assert_eq!(status.code(), Code::Aborted);
            assert_eq!(current_revision, Some(0), "the conflict reports the current revision");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(server.log_size().await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_resource_exhausted_and_reused_ids_already_exist() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let submission = submission("s1");
    let events: Vec<_> = (0..1_001).map(|_| sign(&cast.facilitator, "errors", &submission)).collect();
    let error = status(client.append_batch("assembly/errors/deliberation", &events, None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert!(error.message().contains("events per batch"), "{}", error.message());
    let error = client
        .ledger()
        .read_log(pb::ledger::ReadLogRequest { from_log_index: 0, max_count: 5_000 })
        .await
        .expect_err("refused");
    assert!(error.message().contains("max_count"), "{}", error.message());

    let original = sign(&cast.facilitator, "errors", &submission);
    client.append(&original, None).await.expect("append");
    let reused = cast
        .facilitator
        .sign_with(
            original.stream.clone(),
            original.event_id,
            99,
            &pb::deliberation::PublicSubmissionReceived { submitter_id: "s2".into(), ..submission },
        )
        .expect("sign");
    let error = status(client.append(&reused, None).await.expect_err("refused"));
    assert_eq!(error.code(), Code::AlreadyExists);
    assert_eq!(server.log_size().await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_makes_appends_unavailable() {
    let (server, mut client, cast) = ready().await;
    klero_store::EventStore::close(&*server.server.as_ref().expect("running").store).await;
    let submission = submission("s1");
    let error = client
        .ledger()
        .append(pb::ledger::AppendRequest {
            event: Some(sign(&cast.facilitator, "errors", &submission).wire),
            expected_revision: None,
            data_key: Vec::new(),
        })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::Unavailable, "{}", error.message());
}

/// Version 2 is exactly the events that set a sealed field (FORMAT.md §14.1): a version 2
/// submission that sets none is refused at the edge naming `event_version`, appends nothing,
/// and fails `klero verify` as `payload` at its position when a log holds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_event_without_a_sealed_field_is_refused_and_fails_verification() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let author = klero_ledger::envelope::AuthorPart {
        event_id: klero_client::new_event_id(),
        stream: "assembly/errors/deliberation".into(),
        event_type: "klero.deliberation.v1.PublicSubmissionReceived".into(),
        event_version: 2,
        author_public_key: cast.facilitator.public_key(),
        authored_at_unix_ms: klero_application::system_clock()(),
        payload: submission("s1").encode_to_vec(),
    };
    let signed = author.sign(&key("errors facilitator")).expect("sign");
    let wire =
        pb::ledger::SignedEvent { author_encoding: signed.encoding().to_vec(), signature: signed.signature().to_vec() };
    let error = client
        .ledger()
        .append(pb::ledger::AppendRequest { event: Some(wire), expected_revision: None, data_key: Vec::new() })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::InvalidArgument, "{}", error.message());
    let fields: Vec<String> =
        error.get_details_bad_request().expect("BadRequest").field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, vec!["event_version"], "{}", error.message());
    assert_eq!(server.log_size().await, before, "nothing appended");

    // The same event in a log, as a server that skipped the check would have recorded it.
    let export = klero_client::export::export_from_server(&mut client).await.expect("export");
    let log_key = klero_ledger::checkpoint::LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let mut builder = klero_testkit::ExportBuilder::new(log_key, server.trust_root.verifying_key().to_bytes())
        .extend_from(&export.events);
    let at = builder.size();
    let recorded = klero_ledger::envelope::Envelope::parse(export.events.last().expect("events").clone())
        .expect("envelope")
        .ledger()
        .recorded_at_unix_ms
        + 1;
    builder.append_signed(&signed, recorded);
    builder.checkpoint();
    let report = klero_verifier::verify_export(&builder.finish(), &mut |_, _| {});
    let failure = report.first_failure.expect("a payload failure");
    assert_eq!((failure.class, failure.position), (klero_verifier::FailureClass::Payload, Some(at)), "{failure}");
    assert!(failure.reason.contains("event_version"), "{failure}");
}

/// Recorded text holds no control character but tab and line feed (docs/RULES.md,
/// `text.characters`): a NUL in an agenda, a CR, an escape in a citation's note and a BEL in
/// sealed text are each refused at the edge naming the field and the rule, and append nothing.
/// (A NUL in a rationale used to be accepted, and then failed the assembly page's own check.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_control_characters_is_refused_naming_the_field_and_the_rule() {
    let (server, mut client, cast) = ready().await;
    let before = server.log_size().await;
    let refusal = |error: ClientError| {
        let status = status(error);
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
        status.get_details_bad_request().expect("BadRequest").field_violations
    };
    for (agenda, offset) in [("Transport\u{0}", 9), ("Line one\r\nLine two", 8), ("\u{1b}[31mred", 0)] {
        let session = pb::deliberation::SessionHeld {
            session_number: 1,
            held_on: "2026-01-17".into(),
            agenda: agenda.into(),
            attendance_count: 4,
        };
        let violations =
            refusal(client.append(&sign(&cast.facilitator, "errors", &session), None).await.expect_err("refused"));
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, "agenda");
        assert!(
            violations[0].description.starts_with("text.characters: holds U+")
                && violations[0].description.contains(&format!("at byte {offset}")),
            "{}",
            violations[0].description
        );
    }
    // Sealed text is recorded text too: the server opens it and refuses a BEL in it.
    let sealer = klero_client::Sealer::new().expect("sealer");
    let sealed = pb::deliberation::PublicSubmissionReceived {
        submitter_id: "s1".into(),
        content_hash: Vec::new(),
        received_on: "2026-01-21".into(),
        sealed_text: Some(sealer.seal("sealed_text", "ring the bell\u{7}").expect("seal")),
    };
    let signed = cast.facilitator.sign_sealed("errors", &sealed, &sealer).expect("sign");
    let status = status(client.append(&signed, None).await.expect_err("refused"));
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert!(status.message().contains("text.characters"), "{}", status.message());
    assert_eq!(server.log_size().await, before, "nothing appended");
    // The code the refusals name, as tidy's one set of codes holds it.
    assert_eq!(klero_domain::text::TEXT_CHARACTERS_RULE, "text.characters");
}
