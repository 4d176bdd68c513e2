//! Issue 28: residents take part. A call opens; any key may submit inside it and within its
//! limits; the web form's submissions come under the intake key; moderators publish or
//! withhold with the call's reasons; an appeal goes to another moderator. Every rule is refused
//! by the real server with its code, and the verifier replays the same rules on a log that
//! breaks them.

use klero_client::{Author, ClientError, KleroClient, Sealer, SignedEvent};
use klero_ledger::envelope::AuthorPart;
use klero_proto as pb;
use klero_tests::*;
use klero_verifier::verify_export;
use tonic::Code;

const ASSEMBLY: &str = "participation";
const CALL: &str = "buses-call";

/// Today (UTC) and `days` later, as the server's clock gives them.
fn day(days: i64) -> String {
    let now = klero_application::system_clock()() / 86_400_000;
    klero_domain::Date(now as i64 + days).to_string()
}

fn call(call_id: &str, opens_in: i64, closes_in: i64) -> pb::deliberation::CallOpened {
    pb::deliberation::CallOpened {
        call_id: call_id.into(),
        prompt: "How should buses serve the villages?".into(),
        recommendation_id: String::new(),
        opens_on: day(opens_in),
        closes_on: day(closes_in),
        text_bytes_max: 200,
        one_per_key: true,
        names_asked: true,
        consent_hash: sha("consent"),
        moderation_policy_hash: sha("policy"),
        withhold_reasons: vec!["personal_attack".into(), "off_topic".into()],
        retention_days: 365,
        proof_of_work_bits: 0,
    }
}

/// A resident's submission of `text` to `call_id`, sealed in the resident's own way and signed
/// by `author`, with its data key beside it.
fn resident_submission(
    author: &Author,
    call_id: &str,
    path: pb::deliberation::SubmissionPath,
    text: &str,
    contact: Option<&str>,
) -> SignedEvent {
    with_work(author, call_id, path, text, contact, &|_| 0)
}

/// The work nonce a test gives a text, by its commitment.
type WorkFor<'a> = dyn Fn(&klero_ledger::Hash256) -> u64 + 'a;

/// [`resident_submission`] with the work nonce `work` gives for the sealed text's commitment.
fn with_work(
    author: &Author,
    call_id: &str,
    path: pb::deliberation::SubmissionPath,
    text: &str,
    contact: Option<&str>,
    work: &WorkFor<'_>,
) -> SignedEvent {
    let sealer = Sealer::new().expect("sealer");
    let sealed_text = sealer.seal("sealed_text", text).expect("seal");
    let commitment = klero_ledger::Hash256(sealed_text.commitment.as_slice().try_into().expect("32 bytes"));
    let work_nonce = work(&commitment);
    let payload = pb::deliberation::ResidentSubmitted {
        call_id: call_id.into(),
        path: path as i32,
        sealed_text: Some(sealed_text),
        sealed_contact: contact.map(|contact| sealer.seal("sealed_contact", contact).expect("seal")),
        work_nonce,
    };
    author.sign_sealed(ASSEMBLY, &payload, &sealer).expect("sign")
}

fn moderation(
    submission: &[u8],
    decision: pb::deliberation::ModerationDecision,
    reason: &str,
) -> pb::deliberation::SubmissionModerated {
    pb::deliberation::SubmissionModerated {
        submission_event_hash: submission.to_vec(),
        decision: decision as i32,
        reason: reason.into(),
    }
}

/// The status of a refused append, which must name `rule` and append nothing.
async fn refused_by(client: &mut KleroClient, event: &SignedEvent, code: Code, rule: &str) {
    let before = client.checkpoint().await.expect("checkpoint").tree_size;
    let status = match client.append(event, None).await {
        Err(ClientError::Refused(status)) | Err(ClientError::Conflict { status, .. }) => status,
        Ok(appended) => panic!("{rule}: the server accepted it at {}", appended.log_index),
        Err(other) => panic!("{rule}: expected a refusal, got {other}"),
    };
    assert_eq!(status.code(), code, "{rule}: {}", status.message());
    assert!(status.message().contains(rule), "{rule} is named: {}", status.message());
    assert_eq!(client.checkpoint().await.expect("checkpoint").tree_size, before, "{rule}: nothing appended");
}

fn grant(who: &Author, role: pb::registry::Role, title: &str) -> pb::registry::KeyGranted {
    pb::registry::KeyGranted {
        public_key: who.public_key().to_vec(),
        role: role as i32,
        scope: ASSEMBLY.into(),
        holder_title: title.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_submit_inside_a_call_and_moderation_is_open_and_every_rule_is_named() {
    use pb::deliberation::{ModerationDecision::*, SubmissionPath::*};
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("participation");
    assembly_with_panel(&mut client, &cast, ASSEMBLY).await;
    let (first_moderator, second_moderator, intake) =
        (Author::new(key("first moderator")), Author::new(key("second moderator")), Author::new(key("intake")));
    for (who, role) in [
        (&first_moderator, pb::registry::Role::Moderator),
        (&second_moderator, pb::registry::Role::Moderator),
        (&intake, pb::registry::Role::Intake),
    ] {
        append(&mut client, &cast.council, ASSEMBLY, &grant(who, role, "officer")).await;
    }
    let f = &cast.facilitator;
    let fail = Code::FailedPrecondition;

    // Calls.
    refused_by(&mut client, &sign(f, ASSEMBLY, &call(CALL, 3, 1)), fail, "call.dates_ordered").await;
    let about_nothing = pb::deliberation::CallOpened { recommendation_id: "R9".into(), ..call(CALL, 0, 14) };
    refused_by(&mut client, &sign(f, ASSEMBLY, &about_nothing), fail, "call.names_drafted_recommendation").await;
    append(&mut client, f, ASSEMBLY, &call(CALL, 0, 14)).await;
    refused_by(&mut client, &sign(f, ASSEMBLY, &call(CALL, 0, 14)), fail, "call.id_unique").await;
    let not_yet = "opens-tomorrow";
    append(&mut client, f, ASSEMBLY, &call(not_yet, 1, 14)).await;
    let refused_call = pb::deliberation::CallOpened { proof_of_work_bits: 25, ..call("too-much-work", 0, 14) };
    let answer = client.append(&sign(f, ASSEMBLY, &refused_call), None).await;
    assert!(
        matches!(&answer, Err(ClientError::Refused(status)) if status.code() == Code::InvalidArgument && status.message().contains("proof_of_work_bits")),
        "{answer:?}"
    );

    // A call that asks for work: a browser's submission without it, or with work done for
    // another text, key or call, is refused; with it, taken. The web form owes none.
    let work_call = "work-call";
    append(
        &mut client,
        f,
        ASSEMBLY,
        &pb::deliberation::CallOpened { proof_of_work_bits: 12, ..call(work_call, 0, 14) },
    )
    .await;
    let worker = Author::new(key("a working resident"));
    let other_key = Author::new(key("another resident")).public_key();
    let find = klero_domain::work::find_work;
    let key_of_worker = worker.public_key();
    let attempts: [(&str, &WorkFor<'_>); 4] = [
        ("no work", &|_| 0),
        ("work for another text", &|_| find(work_call, &key_of_worker, &klero_ledger::Hash256::of(b"other"), 12)),
        ("work for another call", &|c| find("another-call", &key_of_worker, c, 12)),
        ("work for another key", &|c| find(work_call, &other_key, c, 12)),
    ];
    for (name, work) in attempts {
        let event = with_work(&worker, work_call, Browser, "My submission.", None, work);
        let before = client.checkpoint().await.expect("checkpoint").tree_size;
        match client.append(&event, None).await {
            Err(ClientError::Refused(status)) | Err(ClientError::Conflict { status, .. }) => {
                assert_eq!(status.code(), fail, "{name}: {}", status.message());
                assert!(status.message().contains("call.proof_of_work"), "{name}: {}", status.message());
            }
            other => panic!("{name}: expected call.proof_of_work, got {other:?}"),
        }
        assert_eq!(client.checkpoint().await.expect("checkpoint").tree_size, before, "{name}: nothing appended");
    }
    client
        .append(
            &with_work(&worker, work_call, Browser, "I did the work.", None, &|c| {
                find(work_call, &key_of_worker, c, 12)
            }),
            None,
        )
        .await
        .expect("with its work, taken");
    client
        .append(&resident_submission(&intake, work_call, WebForm, "From the form, no work.", None), None)
        .await
        .expect("the web form owes none");

    // Residents: any key, no grant, inside the call and its limits.
    let (resident, another, moderating_resident) =
        (Author::new(key("a resident")), Author::new(key("another resident")), Author::new(key("first moderator")));
    let kept = client
        .append(
            &resident_submission(&resident, CALL, Browser, "Run the 42 on Sundays.", Some("email: r@example.org")),
            None,
        )
        .await
        .expect("a resident's own submission");
    let second = resident_submission(&resident, CALL, Browser, "And on bank holidays.", None);
    refused_by(&mut client, &second, fail, "call.one_per_key").await;
    let long = "x".repeat(201);
    refused_by(&mut client, &resident_submission(&another, CALL, Browser, &long, None), fail, "call.within_limits")
        .await;
    refused_by(
        &mut client,
        &resident_submission(&another, "no-such-call", Browser, "Hello.", None),
        fail,
        "call.exists",
    )
    .await;
    refused_by(&mut client, &resident_submission(&another, not_yet, Browser, "Too soon.", None), fail, "call.open")
        .await;
    // The web form's path is the intake key's alone.
    let forged = resident_submission(&another, CALL, WebForm, "Posted as the form.", None);
    refused_by(&mut client, &forged, Code::PermissionDenied, "authority.role_required").await;
    let from_form = client
        .append(&resident_submission(&intake, CALL, WebForm, "A shelter at the stop.", None), None)
        .await
        .expect("the web form's submission");
    let withheld = client
        .append(&resident_submission(&another, CALL, Browser, "The driver is an idiot.", None), None)
        .await
        .expect("another resident's submission");
    let own = client
        .append(&resident_submission(&moderating_resident, CALL, Browser, "My own view.", None), None)
        .await
        .expect("a moderator may submit as a resident");

    // Moderation.
    let m1 = &first_moderator;
    let facilitators_submission = append(&mut client, f, ASSEMBLY, &submission("s1")).await;
    refused_by(
        &mut client,
        &sign(m1, ASSEMBLY, &moderation(&facilitators_submission.event_hash, Publish, "")),
        fail,
        "moderation.names_resident_submission",
    )
    .await;
    refused_by(&mut client, &sign(m1, ASSEMBLY, &moderation(&own.event_hash, Publish, "")), fail, "moderation.not_own")
        .await;
    refused_by(
        &mut client,
        &sign(m1, ASSEMBLY, &moderation(&withheld.event_hash, Withhold, "spam")),
        fail,
        "moderation.reason_in_policy",
    )
    .await;
    append(&mut client, m1, ASSEMBLY, &moderation(&kept.event_hash, Publish, "")).await;
    append(&mut client, m1, ASSEMBLY, &moderation(&from_form.event_hash, Publish, "")).await;
    refused_by(
        &mut client,
        &sign(&second_moderator, ASSEMBLY, &moderation(&kept.event_hash, Withhold, "off_topic")),
        fail,
        "moderation.decided_once",
    )
    .await;
    append(&mut client, m1, ASSEMBLY, &moderation(&withheld.event_hash, Withhold, "personal_attack")).await;
    // What is withheld cannot be cited; what is published can.
    append(
        &mut client,
        &cast.secretary,
        ASSEMBLY,
        &pb::recommendation::RecommendationDrafted {
            recommendation_id: "R1".into(),
            title: "Sunday buses".into(),
            text_hash: sha("R1"),
        },
    )
    .await;
    let cite = |input: &[u8]| pb::recommendation::RecommendationInputsCited {
        recommendation_id: "R1".into(),
        text_hash: sha("R1"),
        citations: vec![pb::deliberation::InputCitation { input_event_hash: input.to_vec(), note: "asked for".into() }],
    };
    refused_by(
        &mut client,
        &sign(&cast.secretary, ASSEMBLY, &cite(&withheld.event_hash)),
        fail,
        "citation.published_only",
    )
    .await;
    refused_by(&mut client, &sign(&cast.secretary, ASSEMBLY, &cite(&own.event_hash)), fail, "citation.published_only")
        .await;
    append(&mut client, &cast.secretary, ASSEMBLY, &cite(&kept.event_hash)).await;
    // Appeals: after a withholding, by the submission's own key, once; then another moderator.
    let appeal =
        |submission: &[u8]| pb::deliberation::ModerationAppealed { submission_event_hash: submission.to_vec() };
    refused_by(
        &mut client,
        &sign(&resident, ASSEMBLY, &appeal(&kept.event_hash)),
        fail,
        "moderation.appeal_after_withhold",
    )
    .await;
    refused_by(
        &mut client,
        &sign(&resident, ASSEMBLY, &appeal(&withheld.event_hash)),
        Code::PermissionDenied,
        "authority.submitter_only",
    )
    .await;
    append(&mut client, &another, ASSEMBLY, &appeal(&withheld.event_hash)).await;
    refused_by(
        &mut client,
        &sign(&another, ASSEMBLY, &appeal(&withheld.event_hash)),
        fail,
        "moderation.appeal_after_withhold",
    )
    .await;
    refused_by(
        &mut client,
        &sign(m1, ASSEMBLY, &moderation(&withheld.event_hash, Publish, "")),
        fail,
        "moderation.second_by_another",
    )
    .await;
    append(&mut client, &second_moderator, ASSEMBLY, &moderation(&withheld.event_hash, Withhold, "personal_attack"))
        .await;
    refused_by(
        &mut client,
        &sign(&second_moderator, ASSEMBLY, &moderation(&withheld.event_hash, Publish, "")),
        fail,
        "moderation.decided_once",
    )
    .await;

    // Closing: once; nothing after.
    let close = pb::deliberation::CallClosed { call_id: CALL.into(), reason: "Drafting has begun.".into() };
    append(&mut client, f, ASSEMBLY, &close).await;
    refused_by(&mut client, &sign(f, ASSEMBLY, &close), fail, "call.open").await;
    let late = resident_submission(&Author::new(key("a late resident")), CALL, Browser, "Too late?", None);
    refused_by(&mut client, &late, fail, "call.open").await;

    // The views count moderation by outcome and by reason, and never hold a contact.
    let deliberation = client
        .query()
        .get_view(pb::query::GetViewRequest {
            assembly_id: ASSEMBLY.into(),
            view: "deliberation-record".into(),
            ..Default::default()
        })
        .await
        .expect("view")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&deliberation.json).expect("JSON");
    let json = &json["body"];
    let counts = &json["calls"][0]["submissions"];
    assert_eq!(
        (&counts["received"], &counts["published"], &counts["withheld"], &counts["pending"], &counts["by_web_form"]),
        (&4.into(), &2.into(), &1.into(), &1.into(), &1.into()),
        "{json:#}"
    );
    assert_eq!(json["calls"][0]["withheld_by_reason"]["personal_attack"], 1);
    assert_eq!(json["calls"][0]["appeals"], 1);
    assert_served_views_equal_a_rebuild(&mut client, ASSEMBLY).await;

    // The resident's text and contact are one event's sealed fields: an erasure destroys both.
    let opened = |client: &mut KleroClient| {
        let mut client = client.clone();
        let hash = kept.event_hash.clone();
        async move {
            client
                .query()
                .open_personal_text(pb::query::OpenPersonalTextRequest {
                    assembly_id: ASSEMBLY.into(),
                    event_hash: hash,
                })
                .await
                .expect("opens")
                .into_inner()
        }
    };
    let before = opened(&mut client).await;
    let fields: Vec<(&str, &str)> = before.fields.iter().map(|f| (f.field.as_str(), f.text.as_str())).collect();
    assert_eq!(fields, [("sealed_text", "Run the 42 on Sundays."), ("sealed_contact", "email: r@example.org")]);
    let officer = Author::new(key("participation: data protection officer"));
    append(&mut client, &cast.council, ASSEMBLY, &data_protection_officer_grant(&officer, ASSEMBLY)).await;
    let erasure = pb::privacy::ContentErased {
        event_hash: kept.event_hash.clone(),
        legal_basis: "UK GDPR Art. 17(1)(a): the resident asked".into(),
        erased_on: day(0),
    };
    append(&mut client, &officer, ASSEMBLY, &erasure).await;
    let after = opened(&mut client).await;
    assert!(after.fields.iter().all(|f| f.text.is_empty()), "nothing opens after the erasure: {after:?}");
    assert!(!after.erased_on.is_empty(), "the erasure is said");
    server.server.expect("running").stop().await;
}

/// The verifier replays the same rules: a log that a server holding the log key wrote past
/// them fails at the event that breaks one, with its rule.
#[test]
fn the_verifier_replays_the_call_and_moderation_rules() {
    use klero_testkit::fixture;
    let base = fixture::lifecycle();
    let resident = key("fixture: a resident's browser");
    let first_moderator = key("fixture: first moderator");
    let published = base
        .export
        .events
        .iter()
        .map(|bytes| klero_ledger::envelope::Envelope::parse(bytes.clone()).expect("parses"))
        .find(|e| e.author().event_type == "klero.deliberation.v1.ResidentSubmitted")
        .map(|e| e.event_hash())
        .expect("the fixture has a resident's submission");
    let stream = format!("assembly/{}/deliberation", fixture::ASSEMBLY);
    let last = klero_ledger::envelope::Envelope::parse(base.export.events.last().expect("events").clone())
        .expect("parses")
        .ledger()
        .recorded_at_unix_ms;
    let sealer = Sealer::new().expect("sealer");
    let after_close = pb::deliberation::ResidentSubmitted {
        call_id: "streets-call".into(),
        path: pb::deliberation::SubmissionPath::Browser as i32,
        sealed_text: Some(sealer.seal("sealed_text", "After the call closed.").expect("seal")),
        sealed_contact: None,
        work_nonce: 0,
    };
    let twice = moderation(&published.0, pb::deliberation::ModerationDecision::Withhold, "off_topic");
    for (name, author, event_type, version, payload, rule) in [
        (
            "a submission after the call closed",
            &resident,
            "klero.deliberation.v1.ResidentSubmitted",
            2,
            {
                use prost::Message;
                after_close.encode_to_vec()
            },
            "call.open",
        ),
        (
            "a second decision with no appeal",
            &first_moderator,
            "klero.deliberation.v1.SubmissionModerated",
            1,
            {
                use prost::Message;
                twice.encode_to_vec()
            },
            "moderation.decided_once",
        ),
    ] {
        let mut builder =
            klero_testkit::ExportBuilder::new(base.log_key.clone(), base.trust_root).extend_from(&base.export.events);
        let at = builder.size();
        let part = AuthorPart {
            event_id: sealer.event_id(),
            stream: stream.clone(),
            event_type: event_type.into(),
            event_version: version,
            author_public_key: author.verifying_key().to_bytes(),
            authored_at_unix_ms: last + 60_000,
            payload,
        };
        builder.append(part, author, last + 60_000);
        builder.checkpoint();
        let report = verify_export(&builder.finish(), &mut |_, _| {});
        let failure = report.first_failure.as_ref().unwrap_or_else(|| panic!("{name}: the verifier passed it"));
        assert_eq!((failure.class.as_str(), failure.position), ("rule", Some(at)), "{name}: {failure}");
        assert!(failure.reason.contains(rule), "{name}: {failure}");
    }

    // The fixture's call asks for 8 bits of work: its first resident's submission, signed
    // again without the work, at the same place and time, fails the verifier.
    let events: Vec<klero_ledger::envelope::Envelope> = base
        .export
        .events
        .iter()
        .map(|bytes| klero_ledger::envelope::Envelope::parse(bytes.clone()).expect("parses"))
        .collect();
    let at = events
        .iter()
        .position(|e| e.author().event_type == "klero.deliberation.v1.ResidentSubmitted")
        .expect("a resident's submission");
    let original = &events[at];
    let without_work = pb::deliberation::ResidentSubmitted {
        call_id: "streets-call".into(),
        path: pb::deliberation::SubmissionPath::Browser as i32,
        sealed_text: Some(sealer.seal("sealed_text", "No work done.").expect("seal")),
        sealed_contact: None,
        work_nonce: 0,
    };
    let mut builder =
        klero_testkit::ExportBuilder::new(base.log_key.clone(), base.trust_root).extend_from(&base.export.events[..at]);
    let recorded_at = original.ledger().recorded_at_unix_ms;
    let part = AuthorPart {
        event_id: sealer.event_id(),
        stream: stream.clone(),
        event_type: "klero.deliberation.v1.ResidentSubmitted".into(),
        event_version: 2,
        author_public_key: resident.verifying_key().to_bytes(),
        authored_at_unix_ms: recorded_at,
        payload: prost::Message::encode_to_vec(&without_work),
    };
    builder.append(part, &resident, recorded_at);
    builder.checkpoint();
    let report = verify_export(&builder.finish(), &mut |_, _| {});
    let failure = report.first_failure.as_ref().expect("the verifier refuses a submission without its work");
    assert_eq!((failure.class.as_str(), failure.position), ("rule", Some(at as u64)), "{failure}");
    assert!(failure.reason.contains("call.proof_of_work"), "{failure}");
}

/// Identical texts are flagged to moderators: the queue lists what awaits a decision, each
/// with the call's other submissions of the same text, whatever became of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_see_identical_texts_flagged_in_their_queue() {
    use pb::deliberation::{ModerationDecision::*, SubmissionPath::*};
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("queue");
    assembly_with_panel(&mut client, &cast, ASSEMBLY).await;
    let moderator = Author::new(key("queue moderator"));
    append(&mut client, &cast.council, ASSEMBLY, &grant(&moderator, pb::registry::Role::Moderator, "officer")).await;
    append(&mut client, &cast.facilitator, ASSEMBLY, &call(CALL, 0, 14)).await;
    let mut logged = Vec::new();
    for (who, text) in [
        ("first", "Sunday buses, please."),
        ("second", "  sunday   BUSES,\nplease. "),
        ("third", "A shelter at the stop."),
        ("fourth", "Sunday buses please."),
    ] {
        let resident = Author::new(key(&format!("queue resident {who}")));
        logged.push(
            client.append(&resident_submission(&resident, CALL, Browser, text, None), None).await.expect("taken"),
        );
    }
    let queue = |client: &mut KleroClient| {
        let mut client = client.clone();
        async move {
            client
                .query()
                .list_moderation_queue(pb::query::ListModerationQueueRequest {
                    assembly_id: ASSEMBLY.into(),
                    call_id: CALL.into(),
                })
                .await
                .expect("the queue")
                .into_inner()
                .submissions
        }
    };
    let flags = |queue: &[pb::query::QueuedSubmission]| -> Vec<(u64, Vec<u64>)> {
        queue.iter().map(|q| (q.log_index, q.identical_to.clone())).collect()
    };
    let [first, second, third, fourth] = [0, 1, 2, 3].map(|i| logged[i].log_index);
    let before = queue(&mut client).await;
    assert_eq!(
        flags(&before),
        [(first, vec![second]), (second, vec![first]), (third, vec![]), (fourth, vec![])],
        "case and spacing do not make a text new; punctuation does"
    );
    assert_eq!(before[1].text, "  sunday   BUSES,\nplease. ", "the text as sent");
    append(&mut client, &moderator, ASSEMBLY, &moderation(&logged[0].event_hash, Publish, "")).await;
    let after = queue(&mut client).await;
    assert_eq!(
        flags(&after),
        [(second, vec![first]), (third, vec![]), (fourth, vec![])],
        "a decided submission leaves the queue and is still named as the same text"
    );
    let unknown = client
        .query()
        .list_moderation_queue(pb::query::ListModerationQueueRequest {
            assembly_id: ASSEMBLY.into(),
            call_id: "no-such-call".into(),
        })
        .await
        .expect_err("no such call");
    assert_eq!(unknown.code(), Code::NotFound, "{}", unknown.message());
    assert!(unknown.message().contains("no-such-call"), "{}", unknown.message());
}
