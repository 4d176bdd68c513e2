//! Views and the verifier over a real server's log: the served views equal a rebuild from the
//! log prefix they name, an honest export verifies, and every kind of tampering is caught with
//! its class and position.

use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, Envelope};
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_testkit::ExportBuilder;
use klero_tests::*;
use klero_verifier::{verify_export, Export, FailureClass};
use prost::Message;

/// A real server with a whole assembly recorded, and its export.
async fn recorded_assembly() -> (TestServer, Export, Cast) {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("audit");
    assembly_with_panel(&mut client, &cast, "audit").await;
    append(
        &mut client,
        &cast.facilitator,
        "audit",
        &pb::deliberation::SessionHeld {
            session_number: 1,
            held_on: "2026-01-20".into(),
            agenda: "a".into(),
            attendance_count: 4,
        },
    )
    .await;
    for n in 0..3 {
        append(
            &mut client,
            &cast.facilitator,
            "audit",
            &pb::deliberation::PublicSubmissionReceived {
                submitter_id: format!("s{n}"),
                content_hash: sha("x"),
                received_on: "2026-01-21".into(),
                sealed_text: None,
            },
        )
        .await;
    }
    let r1 = adopted_recommendation(&mut client, &cast, "audit", "R1").await;
    adopted_recommendation(&mut client, &cast, "audit", "R2").await;
    append(&mut client, &cast.decision_maker, "audit", &response(&r1.event_hash, pb::response::Decision::Accepted))
        .await;
    let export = klero_client::export::export_from_server(&mut server.client().await).await.expect("export");
    (server, export, cast)
}

fn verify(export: &Export) -> klero_verifier::Report {
    verify_export(export, &mut |_, _| {})
}

fn expect_failure(export: &Export, class: FailureClass, position: u64) {
    let report = verify(export);
    let failure = report
        .first_failure
        .clone()
        .unwrap_or_else(|| panic!("expected a {} failure, but everything held", class.as_str()));
    assert_eq!((failure.class, failure.position), (class, Some(position)), "{failure}");
    assert!(
        report.to_text().contains(&format!("{} failure at position {position}", class.as_str())),
        "{}",
        report.to_text()
    );
}

fn stream_of(bytes: &[u8]) -> String {
    Envelope::parse(bytes.to_vec()).expect("envelope").author().stream.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_views_equal_a_rebuild_from_the_log_prefix_they_name() {
    let (server, _, _) = recorded_assembly().await;
    assert_served_views_equal_a_rebuild(&mut server.client().await, "audit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_export_verifies_and_survives_its_text_form() {
    let (_, export, _) = recorded_assembly().await;
    let report = verify(&export);
    assert!(report.ok(), "{}", report.to_text());
    assert_eq!(report.signatures_verified, export.events.len() as u64);
    assert_eq!((report.checkpoints_verified, report.views_checked), (1, 7));
    assert_eq!(report.rules_replayed, export.events.len() as u64);
    let reparsed = Export::parse(&export.encode()).expect("parse");
    assert_eq!(reparsed, export);
    let mut truncated = export.encode();
    truncated.truncate(truncated.len() - 8);
    assert!(Export::parse(&truncated).is_err(), "a truncated export is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_payload_byte_is_a_signature_failure_at_its_position() {
    let (_, mut export, _) = recorded_assembly().await;
    let index = 9;
    let last_payload_byte =
        5 + Envelope::parse(export.events[index].clone()).expect("envelope").author_encoding().len() - 1;
    export.events[index][last_payload_byte] ^= 0x01;
    expect_failure(&export, FailureClass::Signature, index as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_reordered_and_inserted_events_break_a_chain_at_their_position() {
    let (_, export, _) = recorded_assembly().await;
    // Find two consecutive events of one stream, at i and j > i.
    let (i, j) = (0..export.events.len())
        .find_map(|i| {
            (i + 1..export.events.len())
                .find(|&j| stream_of(&export.events[j]) == stream_of(&export.events[i]))
                .map(|j| (i, j))
        })
        .expect("a stream with two events");

    let mut dropped = export.clone();
    dropped.events.remove(i);
    expect_failure(&dropped, FailureClass::Chain, j as u64 - 1);

    let mut reordered = export.clone();
    reordered.events.swap(i, j);
    expect_failure(&reordered, FailureClass::Chain, i as u64);

    let mut inserted = export.clone();
    inserted.events.insert(j, export.events[i].clone());
    expect_failure(&inserted, FailureClass::Chain, j as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_resigned_by_an_unauthorised_key_is_an_authority_failure() {
    let (_, export, _) = recorded_assembly().await;
    let index = export
        .events
        .iter()
        .position(|e| {
            Envelope::parse(e.clone()).expect("envelope").author().event_type == "klero.deliberation.v1.SessionHeld"
        })
        .expect("a session");
    let original = Envelope::parse(export.events[index].clone()).expect("envelope");
    let intruder = key("intruder");
    let mut author: AuthorPart = original.author().clone();
    author.author_public_key = intruder.verifying_key().to_bytes();
    let resealed = Envelope::seal(&author.sign(&intruder).expect("sign"), *original.ledger());
    let mut tampered = export.clone();
    tampered.events[index] = resealed.into_bytes();
    expect_failure(&tampered, FailureClass::Authority, index as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_used_after_its_revocation_is_an_authority_failure() {
    let (server, export, cast) = recorded_assembly().await;
    // The log operator (who holds the log key) writes what the server would have refused: a
    // revocation, then an event by the revoked key, both chained and covered by a checkpoint.
    let log_key = LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let mut builder =
        ExportBuilder::new(log_key, server.trust_root.verifying_key().to_bytes()).extend_from(&export.events);
    let revoke = pb::registry::KeyRevoked {
        public_key: cast.facilitator.public_key().to_vec(),
        role: pb::registry::Role::Facilitator as i32,
        scope: "audit".into(),
        reason: "key lost".into(),
    };
    let author = |key: &klero_ledger::SigningKey, stream: &str, event_type: &str, payload: Vec<u8>, n: u8| AuthorPart {
        event_id: klero_ledger::envelope::EventId([n; 16]),
        stream: stream.into(),
        event_type: event_type.into(),
        event_version: 1,
        author_public_key: key.verifying_key().to_bytes(),
        authored_at_unix_ms: 2_000_000_000_000,
        payload,
    };
    builder.append(
        author(&server.trust_root, "registry", "klero.registry.v1.KeyRevoked", revoke.encode_to_vec(), 0xa1),
        &server.trust_root,
        2_000_000_000_000,
    );
    let after_revocation = builder.size();
    let submission = pb::deliberation::PublicSubmissionReceived {
        submitter_id: "late".into(),
        content_hash: sha("y"),
        received_on: "2026-02-01".into(),
        sealed_text: None,
    };
    builder.append(
        author(
            &key("audit facilitator"),
            "assembly/audit/deliberation",
            "klero.deliberation.v1.PublicSubmissionReceived",
            submission.encode_to_vec(),
            0xa2,
        ),
        &key("audit facilitator"),
        2_000_000_000_001,
    );
    builder.checkpoint();
    let tampered = builder.finish();
    expect_failure(&tampered, FailureClass::Authority, after_revocation);
    assert!(verify(&tampered).first_failure.expect("failure").reason.contains("authority.key_revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_checkpoint_is_a_fork_failure() {
    let (_, mut export, _) = recorded_assembly().await;
    let log_key = LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let size = export.events.len() as u64;
    let fork = klero_ledger::checkpoint::Checkpoint {
        origin: "klero.test/blackbox".into(),
        tree_size: size,
        root_hash: Hash256::of(b"another history"),
        stream_heads: None,
    };
    export.checkpoints.push(log_key.sign(&fork).expect("sign").note().to_string());
    expect_failure(&export, FailureClass::Fork, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_digest_that_does_not_match_is_a_view_failure() {
    let (_, mut export, _) = recorded_assembly().await;
    let view = export.views.iter_mut().find(|v| v.name == "accountability").expect("accountability view");
    view.digest = Hash256::of(b"a nicer story");
    let size = view.tree_size;
    expect_failure(&export, FailureClass::View, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_used_twice_is_a_chain_failure_at_the_second_use() {
    let (server, export, _) = recorded_assembly().await;
    // A public submission appended again, properly chained and signed, under the id of an
    // earlier one: the store would refuse it, and so must a verifier.
    let first = export
        .events
        .iter()
        .position(|e| {
            Envelope::parse(e.clone()).expect("envelope").author().event_type
                == "klero.deliberation.v1.PublicSubmissionReceived"
        })
        .expect("a submission");
    let reused = Envelope::parse(export.events[first].clone()).expect("envelope").author().event_id;
    let log_key = LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let mut builder =
        ExportBuilder::new(log_key, server.trust_root.verifying_key().to_bytes()).extend_from(&export.events);
    let facilitator = key("audit facilitator");
    let at = builder.size();
    let now = klero_application::system_clock()();
    let submission = |event_id, submitter: &str| AuthorPart {
        event_id,
        stream: "assembly/audit/deliberation".into(),
        event_type: "klero.deliberation.v1.PublicSubmissionReceived".into(),
        event_version: 1,
        author_public_key: facilitator.verifying_key().to_bytes(),
        authored_at_unix_ms: now,
        payload: pb::deliberation::PublicSubmissionReceived {
            submitter_id: submitter.into(),
            content_hash: sha(submitter),
            received_on: "2026-01-22".into(),
            sealed_text: None,
        }
        .encode_to_vec(),
    };
    builder.append(submission(reused, "again"), &facilitator, now);
    // Honest events after it: ids are paired once the replay ends, and the repeat must still
    // be named at its own index, not pass because the log went on.
    for n in 0..3u8 {
        builder.append(
            submission(klero_ledger::envelope::EventId([0xA0 + n; 16]), &format!("after-{n}")),
            &facilitator,
            now,
        );
    }
    builder.checkpoint();
    let tampered = builder.finish();
    expect_failure(&tampered, FailureClass::Chain, at);
    let reason = verify(&tampered).first_failure.expect("failure").reason;
    assert!(reason.contains(&format!("already at log index {first}")), "{reason}");
}

/// A checkpoint signed by the log key, with the true root, whose stream heads name an older
/// event as a stream's newest (what a server that wants a page frozen would sign): `klero
/// verify` rejects it at its size (and so does `klero monitor`, which runs the same check on the
/// checkpoints it fetches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_whose_stream_heads_lie_is_a_checkpoint_failure() {
    let (_, mut export, _) = recorded_assembly().await;
    let log_key = LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let size = export.events.len() as u64;
    let envelopes: Vec<Envelope> =
        export.events.iter().map(|bytes| Envelope::parse(bytes.clone()).expect("envelope")).collect();
    let mut tree = klero_ledger::merkle::MerkleTree::new();
    let mut chains = klero_ledger::chain::StreamChainChecker::new();
    let mut frozen = None;
    for (index, envelope) in envelopes.iter().enumerate() {
        if index + 1 == envelopes.len() {
            frozen = Some(chains.heads_tree().commitment());
        }
        tree.push_entry(&envelope.event_hash());
        chains.check_next(envelope, envelope.event_hash()).expect("the recorded log chains");
    }
    let honest = chains.heads_tree().commitment();
    let frozen = frozen.expect("the log has events");
    assert_ne!(frozen, honest, "the last event moved a stream's head");
    let lying = klero_ledger::checkpoint::Checkpoint {
        origin: "klero.test/blackbox".into(),
        tree_size: size,
        root_hash: tree.root(),
        stream_heads: Some(frozen),
    };
    let mut lied = export.clone();
    lied.checkpoints.push(log_key.sign(&lying).expect("sign").note().to_string());
    expect_failure(&lied, FailureClass::Checkpoint, size);
    assert!(verify(&lied).first_failure.expect("failure").reason.contains("hides or invents"));
    // The same checkpoint with the true heads verifies: the failure is the heads' alone.
    let true_heads = klero_ledger::checkpoint::Checkpoint { stream_heads: Some(honest), ..lying };
    export.checkpoints.push(log_key.sign(&true_heads).expect("sign").note().to_string());
    assert_eq!(verify(&export).first_failure, None);
}

/// A checkpoint the log key signs, true to the first `size` events (root and stream heads):
/// what a server that holds the log key can always make.
fn true_checkpoint(events: &[Vec<u8>], size: usize) -> String {
    let log_key = LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let mut tree = klero_ledger::merkle::MerkleTree::new();
    let mut chains = klero_ledger::chain::StreamChainChecker::new();
    for bytes in &events[..size] {
        let envelope = Envelope::parse(bytes.clone()).expect("envelope");
        tree.push_entry(&envelope.event_hash());
        chains.check_next(&envelope, envelope.event_hash()).expect("chains");
    }
    let checkpoint = klero_ledger::checkpoint::Checkpoint {
        origin: "klero.test/blackbox".into(),
        tree_size: size as u64,
        root_hash: tree.root(),
        stream_heads: Some(chains.heads_tree().commitment()),
    };
    log_key.sign(&checkpoint).expect("sign").note().to_string()
}

/// The log cut short and re-signed at the smaller size by whoever holds the log key, with the
/// view digests published for the longer log kept: those views cannot be checked, and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_published_past_the_exported_log_is_a_view_failure() {
    let (_, mut export, _) = recorded_assembly().await;
    let published = export.views.iter().map(|v| v.tree_size).max().expect("the export has views");
    assert_eq!(published, export.events.len() as u64, "the views are of the whole log");
    export.events.pop();
    export.checkpoints = vec![true_checkpoint(&export.events, export.events.len())];
    expect_failure(&export, FailureClass::View, published);
    let report = verify(&export);
    assert!(!report.complete() && !report.ok(), "{}", report.to_text());
}

/// The headline names the cause: an event dropped from the end, or its line broken, is what
/// failed, not the "unanchored" events that the missing anchor leaves behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_or_broken_last_event_is_named_not_the_unanchored_ones() {
    let (_, export, _) = recorded_assembly().await;
    let size = export.events.len() as u64;
    let mut dropped = export.clone();
    dropped.events.pop();
    dropped.views.clear();
    expect_failure(&dropped, FailureClass::Checkpoint, size);
    assert!(verify(&dropped).first_failure.expect("failure").reason.contains("events were dropped"));

    let text = export.encode();
    let last = text.lines().rfind(|line| line.starts_with("event ")).expect("an event line");
    let broken = text.replace(last, &format!("event {}", &last[6..last.len() - 8]));
    let report = klero_verifier::verify_stream(
        std::io::Cursor::new(broken.as_bytes()),
        &Default::default(),
        None,
        &mut |_, _| {},
    );
    let failure = report.first_failure.expect("a broken line fails");
    assert_eq!(failure.class, FailureClass::Format, "{failure}");
    assert_eq!(failure.position, Some(size - 1), "{failure}");
    let line = text.lines().position(|l| l == last).expect("the line") as u64 + 1;
    assert_eq!(failure.line, Some(line), "{failure}");
}

/// A checkpoint with a good signature over another root anchors nothing: it fails at its size,
/// and the report counts no anchored event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_checkpoint_over_another_root_anchors_nothing() {
    let (_, mut export, _) = recorded_assembly().await;
    let log_key = LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let size = export.events.len() as u64;
    let wrong = klero_ledger::checkpoint::Checkpoint {
        origin: "klero.test/blackbox".into(),
        tree_size: size,
        root_hash: Hash256::of(b"another history"),
        stream_heads: None,
    };
    export.checkpoints = vec![log_key.sign(&wrong).expect("sign").note().to_string()];
    export.views.clear();
    expect_failure(&export, FailureClass::Checkpoint, size);
    let options = klero_verifier::VerifyOptions { allow_unanchored: true, ..Default::default() };
    let report = klero_verifier::verify_export_with(&export, &options, &mut |_, _| {});
    assert_eq!((report.anchored_size, report.checkpoints_verified), (0, 0), "{}", report.to_text());
    assert!(!report.complete());
}
