//! Issue 29: many councils on one service. The platform's root registers each council with
//! the council's own trust root; each council's root grants roles for its own assemblies only.
//! Every attempt to reach across (grants, appends, erasures, moderation, responses, the
//! platform's registry) is refused by the real server with its rule and appends nothing, and
//! the verifier fails the same event forged into the log, at its position, with the same rule.
//! An auditor of one council checks that council's slice alone, and any event left out of it
//! fails.

use klero_client::{council_stream, new_event_id, Author, ClientError, KleroClient, SignedEvent};
use klero_ledger::envelope::{Envelope, SignedAuthorPart};
use klero_proto as pb;
use klero_tests::*;
use klero_verifier::slice::{verify_slice, Slice, SliceOptions, SliceTarget};
use klero_verifier::{verify_export, FailureClass};
use pb::registry::Role;
use tonic::Code;

const NORTH: &str = "north";
const SOUTH: &str = "south";
const NORTH_ASSEMBLY: &str = "north.budget";
const NORTH_SECOND: &str = "north.parks";
const SOUTH_ASSEMBLY: &str = "south.libraries";

fn now_ms() -> u64 {
    klero_application::system_clock()()
}

/// `payload` signed by `author` for `stream`, now.
fn signed_for<P: klero_catalogue::EventMessage>(author: &Author, stream: String, payload: &P) -> SignedEvent {
    author.sign_with(stream, new_event_id(), now_ms(), payload).expect("sign")
}

fn registration(council: &str, name: &str, root: &Author) -> pb::registry::CouncilRegistered {
    pb::registry::CouncilRegistered {
        council_id: council.into(),
        name: name.into(),
        root_public_key: root.public_key().to_vec(),
    }
}

fn grant(who: &Author, role: Role, scope: &str) -> pb::registry::KeyGranted {
    pb::registry::KeyGranted {
        public_key: who.public_key().to_vec(),
        role: role as i32,
        scope: scope.into(),
        holder_title: "officer".into(),
    }
}

/// The platform registers `council` with `root`.
async fn register(client: &mut KleroClient, platform: &Author, council: &str, name: &str, root: &Author) {
    let stream = council_stream(council).expect("stream");
    append_signed(client, &signed_for(platform, stream, &registration(council, name, root))).await;
}

async fn append_signed(client: &mut KleroClient, event: &SignedEvent) -> pb::ledger::AppendedEvent {
    client.append(event, None).await.unwrap_or_else(|e| panic!("appending to {} failed: {e}", event.stream))
}

/// One attempt to reach across councils: what it is, the event, and the rule that refuses it.
struct Attempt {
    name: &'static str,
    event: SignedEvent,
    code: Code,
    rule: &'static str,
}

/// The refusal of `attempt` by the server: its status and rule, and nothing appended.
async fn refused(client: &mut KleroClient, attempt: &Attempt) {
    let before = client.checkpoint().await.expect("checkpoint").tree_size;
    let status = match client.append(&attempt.event, None).await {
        Err(ClientError::Refused(status)) | Err(ClientError::Conflict { status, .. }) => status,
        Ok(appended) => panic!("{}: the server accepted it at {}", attempt.name, appended.log_index),
        Err(other) => panic!("{}: expected a refusal, got {other}", attempt.name),
    };
    assert_eq!(status.code(), attempt.code, "{}: {}", attempt.name, status.message());
    assert!(status.message().contains(attempt.rule), "{}: {} names {}", attempt.name, status.message(), attempt.rule);
    assert_eq!(client.checkpoint().await.expect("checkpoint").tree_size, before, "{}: nothing appended", attempt.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_council_reaches_into_another_and_the_verifier_agrees() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let platform = Author::new(server.trust_root.clone());
    let north_root = Author::new(key("north root"));
    let south_root = Author::new(key("south root"));
    register(&mut client, &platform, NORTH, "North Council", &north_root).await;
    register(&mut client, &platform, SOUTH, "South Council", &south_root).await;

    // Each council's root grants its own officers, on its own registry, and runs an assembly.
    let north = Cast::with_council("north", "north root");
    let south = Cast::with_council("south", "south root");
    assembly_with_panel(&mut client, &north, NORTH_ASSEMBLY).await;
    assembly_with_panel(&mut client, &south, SOUTH_ASSEMBLY).await;
    let north_adoption = adopted_recommendation(&mut client, &north, NORTH_ASSEMBLY, "r1").await;
    let north_submission = append(&mut client, &north.facilitator, NORTH_ASSEMBLY, &submission("resident-1")).await;
    // South's officers, each granted every south assembly ("*" in south's registry).
    let south_moderator = Author::new(key("south moderator"));
    let south_officer = Author::new(key("south data protection officer"));
    for (who, role) in [
        (&south_moderator, Role::Moderator),
        (&south_officer, Role::DataProtectionOfficer),
        (&south.facilitator, Role::Facilitator),
    ] {
        append_signed(
            &mut client,
            &signed_for(&south_root, council_stream(SOUTH).expect("stream"), &grant(who, role, "*")),
        )
        .await;
    }
    // A platform officer with every assembly of the platform's own ("*" in `registry`).
    let platform_convenor = Author::new(key("platform convenor"));
    append(&mut client, &platform, "", &grant(&platform_convenor, Role::Convenor, "*")).await;
    let platform_facilitator = Author::new(key("platform facilitator"));
    append(&mut client, &platform, "", &grant(&platform_facilitator, Role::Facilitator, "*")).await;

    // The council's grants work where they should: a key granted in one council acts there,
    // one event at a time or in a batch (decided against a copy of that council alone).
    append(&mut client, &south.facilitator, SOUTH_ASSEMBLY, &session(1)).await;
    let deliberation = format!("assembly/{SOUTH_ASSEMBLY}/deliberation");
    let batch = [submission("batch-1"), submission("batch-2")].map(|s| sign(&south.facilitator, SOUTH_ASSEMBLY, &s));
    client.append_batch(&deliberation, &batch, None).await.expect("a batch in the council's own assembly");
    let across = [submission("batch-3"), submission("batch-4")].map(|s| sign(&south.facilitator, NORTH_ASSEMBLY, &s));
    match client.append_batch(&format!("assembly/{NORTH_ASSEMBLY}/deliberation"), &across, None).await {
        Err(ClientError::Refused(status)) => {
            assert_eq!(status.code(), Code::PermissionDenied);
            assert!(status.message().contains("authority.role_required"), "{}", status.message());
        }
        other => panic!("a batch in another council's assembly must be refused: {other:?}"),
    }

    let north_registry = || council_stream(NORTH).expect("stream");
    let east_registry = council_stream("east").expect("stream");
    use pb::deliberation::ModerationDecision;
    let attempts = vec![
        Attempt {
            name: "south's root grants in north's registry",
            event: signed_for(&south_root, north_registry(), &grant(&south.convenor, Role::Convenor, "*")),
            code: Code::PermissionDenied,
            rule: "registry.council_root_only",
        },
        Attempt {
            name: "south's root grants itself north's assembly in north's registry",
            event: signed_for(&south_root, north_registry(), &grant(&south_root, Role::Facilitator, NORTH_ASSEMBLY)),
            code: Code::PermissionDenied,
            rule: "registry.council_root_only",
        },
        Attempt {
            name: "south's root revokes north's convenor",
            event: signed_for(
                &south_root,
                north_registry(),
                &pb::registry::KeyRevoked {
                    public_key: north.convenor.public_key().to_vec(),
                    role: Role::Convenor as i32,
                    scope: NORTH_ASSEMBLY.into(),
                    reason: "hostile".into(),
                },
            ),
            code: Code::PermissionDenied,
            rule: "registry.council_root_only",
        },
        Attempt {
            name: "south's root grants north's assembly in south's own registry",
            event: signed_for(
                &south_root,
                council_stream(SOUTH).expect("stream"),
                &grant(&south.secretary, Role::PanelSecretary, NORTH_ASSEMBLY),
            ),
            code: Code::FailedPrecondition,
            rule: "registry.scope_in_council",
        },
        Attempt {
            name: "south's root grants in the platform's registry",
            event: signed_for(&south_root, "registry".into(), &grant(&south.convenor, Role::Convenor, "*")),
            code: Code::PermissionDenied,
            rule: "registry.trust_root_only",
        },
        Attempt {
            name: "south's root registers a council",
            event: signed_for(&south_root, east_registry.clone(), &registration("east", "East", &south.convenor)),
            code: Code::PermissionDenied,
            rule: "registry.trust_root_only",
        },
        Attempt {
            name: "south's root registers north again, with itself as north's root",
            event: signed_for(&south_root, north_registry(), &registration(NORTH, "North", &south_root)),
            code: Code::PermissionDenied,
            rule: "registry.trust_root_only",
        },
        Attempt {
            name: "the platform replaces north's root by registering north again",
            event: signed_for(&platform, north_registry(), &registration(NORTH, "North", &platform_convenor)),
            code: Code::FailedPrecondition,
            rule: "council.registered_once",
        },
        Attempt {
            name: "the platform registers a council with south's root",
            event: signed_for(&platform, east_registry.clone(), &registration("east", "East", &south_root)),
            code: Code::FailedPrecondition,
            rule: "council.root_distinct",
        },
        Attempt {
            name: "the platform registers a council with its own root",
            event: signed_for(&platform, east_registry.clone(), &registration("east", "East", &platform)),
            code: Code::FailedPrecondition,
            rule: "council.root_distinct",
        },
        Attempt {
            name: "the platform grants in north's registry",
            event: signed_for(&platform, north_registry(), &grant(&platform_convenor, Role::Convenor, "*")),
            code: Code::PermissionDenied,
            rule: "registry.council_root_only",
        },
        Attempt {
            name: "the platform grants north's assembly in its own registry",
            event: signed_for(
                &platform,
                "registry".into(),
                &grant(&platform_convenor, Role::Facilitator, NORTH_ASSEMBLY),
            ),
            code: Code::FailedPrecondition,
            rule: "registry.scope_in_council",
        },
        Attempt {
            name: "a platform facilitator granted every assembly records a session in north's",
            event: server.sign_now(&platform_facilitator, NORTH_ASSEMBLY, &session(1)),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "a platform convenor granted every assembly convenes one for north",
            event: server.sign_now(&platform_convenor, NORTH_SECOND, &convened(NORTH_SECOND)),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's convenor convenes an assembly for north",
            event: server.sign_now(&south.convenor, NORTH_SECOND, &convened(NORTH_SECOND)),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's selection operator withdraws a member of north's panel",
            event: server.sign_now(
                &south.operator,
                NORTH_ASSEMBLY,
                &pb::selection::MemberWithdrew { member_id: "p0".into(), reason: 1 },
            ),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's facilitator (every south assembly) records a session in north's",
            event: server.sign_now(&south.facilitator, NORTH_ASSEMBLY, &session(1)),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's facilitator records a public submission in north's",
            event: server.sign_now(&south.facilitator, NORTH_ASSEMBLY, &submission("resident-9")),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's moderator withholds a submission in north's",
            event: server.sign_now(
                &south_moderator,
                NORTH_ASSEMBLY,
                &pb::deliberation::SubmissionModerated {
                    submission_event_hash: north_submission.event_hash.clone(),
                    decision: ModerationDecision::Withhold as i32,
                    reason: "off_topic".into(),
                },
            ),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's secretary drafts a recommendation in north's",
            event: server.sign_now(
                &south.secretary,
                NORTH_ASSEMBLY,
                &pb::recommendation::RecommendationDrafted {
                    recommendation_id: "r9".into(),
                    title: "Planted".into(),
                    text_hash: sha("planted"),
                },
            ),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's decision-maker answers north's recommendation",
            event: server.sign_now(
                &south.decision_maker,
                NORTH_ASSEMBLY,
                &response(&north_adoption.event_hash, pb::response::Decision::NotAccepted),
            ),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's data protection officer erases in north's",
            event: server.sign_now(
                &south_officer,
                NORTH_ASSEMBLY,
                &pb::privacy::ContentErased {
                    event_hash: north_submission.event_hash.clone(),
                    legal_basis: "UK GDPR Art. 17".into(),
                    erased_on: "2026-12-06".into(),
                },
            ),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "south's data protection officer sets north's retention",
            event: server.sign_now(
                &south_officer,
                NORTH_ASSEMBLY,
                &pb::privacy::PersonalDataRetentionSet { retention_days: 1 },
            ),
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
        Attempt {
            name: "north's convenor convenes for a council never registered",
            event: server.sign_now(&north.convenor, "east.x", &convened("east.x")),
            code: Code::FailedPrecondition,
            rule: "council.registered_first",
        },
        Attempt {
            name: "a key grants in the registry of a council never registered",
            event: signed_for(&south_root, east_registry.clone(), &grant(&south.convenor, Role::Convenor, "*")),
            code: Code::FailedPrecondition,
            rule: "council.registered_first",
        },
        Attempt {
            name: "a council registered on the platform's registry stream",
            event: signed_for(&platform, "registry".into(), &registration("east", "East", &south.convenor)),
            code: Code::FailedPrecondition,
            rule: "event.stream_matches",
        },
        Attempt {
            name: "a council registered on another council's stream",
            event: signed_for(&platform, east_registry.clone(), &registration("west", "West", &south.convenor)),
            code: Code::FailedPrecondition,
            rule: "event.stream_matches",
        },
    ];
    assert!(attempts.len() >= 20, "at least 20 attempts across councils");
    for attempt in &attempts {
        refused(&mut client, attempt).await;
    }

    // The verifier: each attempt, forged into the real log after its last event, fails at
    // that position with the same rule, whether or not the server would have let it in.
    let export = klero_client::export::export_from_server(&mut client).await.expect("export");
    assert!(verify_export(&export, &mut |_, _| {}).complete(), "the honest record verifies");
    let last = Envelope::parse(export.events.last().expect("events").clone()).expect("parses");
    for attempt in &attempts {
        let mut builder =
            klero_testkit::ExportBuilder::new(test_log_key(), server.trust_root.verifying_key().to_bytes())
                .extend_from(&export.events);
        let at = builder.size();
        let signed =
            SignedAuthorPart::from_wire(attempt.event.wire.author_encoding.clone(), &attempt.event.wire.signature)
                .expect("the signed bytes parse");
        let recorded = signed.author().authored_at_unix_ms.max(last.ledger().recorded_at_unix_ms);
        builder.append_signed(&signed, recorded);
        builder.checkpoint();
        let report = verify_export(&builder.finish(), &mut |_, _| {});
        let failure =
            report.first_failure.as_ref().unwrap_or_else(|| panic!("{}: the verifier passed it", attempt.name));
        let class = if attempt.code == Code::PermissionDenied { FailureClass::Authority } else { FailureClass::Rule };
        assert_eq!((failure.class, failure.position), (class, Some(at)), "{}: {failure}", attempt.name);
        assert!(failure.reason.contains(attempt.rule), "{}: {failure}", attempt.name);
    }
}

fn session(number: u32) -> pb::deliberation::SessionHeld {
    pb::deliberation::SessionHeld {
        session_number: number,
        held_on: "2026-02-01".into(),
        agenda: "Evidence".into(),
        attendance_count: 3,
    }
}

/// Fetches `path` from the pages' server.
async fn get(pages: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = pages.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("response");
    let (status, _, body) = parse_http_response(&raw);
    (status, String::from_utf8(body).expect("utf-8"))
}

/// An auditor of one council fetches its slice alone and checks it against the signed
/// checkpoint and the stream heads; every event of the council left out, a whole assembly
/// left out, or another council's slice passed off as its own, fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_councils_record_verifies_alone_and_fails_with_anything_left_out() {
    let directory = tempfile::tempdir().expect("temp dir");
    let platform_key = key("trust root");
    let running = start_server_with_pages(
        directory.path(),
        platform_key.verifying_key().to_bytes(),
        klero_application::system_clock(),
    )
    .await;
    let mut client = KleroClient::connect(&running.url).await.expect("connect");
    let platform = Author::new(platform_key.clone());
    let north_root = Author::new(key("north root"));
    let south_root = Author::new(key("south root"));
    for (council, name, root) in [(NORTH, "North Council", &north_root), (SOUTH, "South Council", &south_root)] {
        register(&mut client, &platform, council, name, root).await;
    }
    let north = Cast::with_council("north", "north root");
    let south = Cast::with_council("south", "south root");
    assembly_with_panel(&mut client, &north, NORTH_ASSEMBLY).await;
    assembly_with_panel(&mut client, &south, SOUTH_ASSEMBLY).await;
    assembly_with_panel(&mut client, &north, NORTH_SECOND).await;
    // The platform's own assembly, as a single-council server's record holds.
    let own = Cast::new("platform");
    assembly_with_panel(&mut client, &own, "own-assembly").await;
    adopted_recommendation(&mut client, &south, SOUTH_ASSEMBLY, "s1").await;

    let pages = running.pages_url.clone().expect("pages");
    let (status, text) = get(&pages, "/api/v1/slices/council/north").await;
    assert_eq!(status, 200, "{text}");
    let slice = Slice::parse(&text).expect("the slice parses");
    let options = SliceOptions {
        pinned_log_key: Some(test_log_key().verifier()),
        pinned_trust_root: Some(platform_key.verifying_key().to_bytes()),
        ..Default::default()
    };
    let target = SliceTarget::Council(klero_domain::CouncilId::parse(NORTH).expect("id"));
    let verified = verify_slice(&slice, &target, &options).expect("north's slice verifies");
    let size = verified.checkpoint.checkpoint().tree_size;
    // North's events alone: its registry and both its assemblies; of the rest of the log, only
    // the last event (the record's date), whatever its stream.
    let north_events: Vec<u64> = verified
        .events
        .iter()
        .filter(|(index, _)| **index != size - 1)
        .map(|(index, (envelope, _))| {
            let stream = &envelope.author().stream;
            assert!(
                stream == "council/north" || stream.starts_with("assembly/north."),
                "event {index} of {stream} is not north's"
            );
            *index
        })
        .collect();
    // Registration, 5 grants per assembly, and 4 events per assembly (convened, plan, pool, panel).
    assert_eq!(north_events.len(), 1 + 2 * (5 + 4), "every north event, once");
    assert_eq!(verified.fold.state().assembly_ids().len(), 2, "north's two assemblies");
    assert!(size as usize > north_events.len() + 20, "the log holds much more than north's record");

    // Anything of north's left out fails: each event line in turn.
    let lines: Vec<&str> = text.lines().collect();
    let event_lines: Vec<usize> =
        lines.iter().enumerate().filter(|(_, line)| line.starts_with("event ")).map(|(i, _)| i).collect();
    for &dropped in &event_lines {
        let mut kept: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != dropped).map(|(_, l)| *l).collect();
        let end = kept.len() - 1;
        let count = event_lines.len() - 1;
        let end_line = format!("end {count}");
        kept[end] = &end_line;
        let forged = kept.join("\n") + "\n";
        let outcome = Slice::parse(&forged)
            .map_err(|f| f.class)
            .and_then(|slice| verify_slice(&slice, &target, &options).map(|_| ()).map_err(|f| f.class));
        assert!(
            outcome.is_err(),
            "the slice without line {dropped} ({}) still verified",
            &lines[dropped][..40.min(lines[dropped].len())]
        );
    }

    // A whole assembly left out, with its heads: the range of north's assemblies is not whole.
    let second_heads: Vec<usize> = {
        let heads: Vec<(u64, klero_ledger::heads::StreamHead)> = slice
            .heads
            .iter()
            .map(|(position, entry)| (*position, klero_ledger::heads::StreamHead::parse_entry(entry).expect("a head")))
            .collect();
        heads
            .iter()
            .enumerate()
            .filter(|(_, (_, head))| head.stream.starts_with("assembly/north.parks"))
            .map(|(i, _)| i)
            .collect()
    };
    assert!(!second_heads.is_empty(), "north's second assembly has heads in the slice");
    let mut without_second = slice.clone();
    let second_events: Vec<u64> = verified
        .events
        .iter()
        .filter(|(_, (envelope, _))| envelope.author().stream.starts_with("assembly/north.parks"))
        .map(|(index, _)| *index)
        .collect();
    without_second.events.retain(|(index, _)| !second_events.contains(index));
    let mut position = 0;
    without_second.heads.retain(|_| {
        position += 1;
        !second_heads.contains(&(position - 1))
    });
    let failure = verify_slice(&without_second, &target, &options).expect_err("an assembly left out is caught");
    assert!(
        matches!(failure.class, FailureClass::Incomplete | FailureClass::Inclusion),
        "an assembly left out: {failure}"
    );

    // South's slice is not north's record.
    let (_, south_text) = get(&pages, "/api/v1/slices/council/south").await;
    let south_slice = Slice::parse(&south_text).expect("parses");
    verify_slice(&south_slice, &SliceTarget::Council(klero_domain::CouncilId::parse(SOUTH).expect("id")), &options)
        .expect("south's slice verifies as south's");
    let failure = verify_slice(&south_slice, &target, &options).expect_err("south's slice is not north's");
    assert!(matches!(failure.class, FailureClass::Incomplete | FailureClass::Format), "{failure}");

    // The platform's own assembly still verifies as before, with the platform's registry.
    let (status, own_text) = get(&pages, "/api/v1/slices/assembly/own-assembly").await;
    assert_eq!(status, 200);
    let own_slice = Slice::parse(&own_text).expect("parses");
    verify_slice(
        &own_slice,
        &SliceTarget::Assembly(klero_domain::AssemblyId::parse("own-assembly").expect("id")),
        &options,
    )
    .expect("the platform's own assembly verifies");
    // And a council's assembly page's slice carries its council's registry, not the platform's.
    let (status, north_assembly) = get(&pages, "/api/v1/slices/assembly/north.budget").await;
    assert_eq!(status, 200, "{north_assembly}");
    let north_assembly_slice = Slice::parse(&north_assembly).expect("parses");
    let checked = verify_slice(
        &north_assembly_slice,
        &SliceTarget::Assembly(klero_domain::AssemblyId::parse(NORTH_ASSEMBLY).expect("id")),
        &options,
    )
    .expect("north's assembly verifies");
    assert!(checked.heads.contains_key("council/north") && !checked.heads.contains_key("registry"));
    assert_eq!(get(&pages, "/api/v1/slices/council/east").await.0, 404, "no such council");
    running.stop().await;
}

/// A data directory written by a single-council server (the platform's own assemblies, its
/// grants in `registry`, a snapshot) opens as it is: no migration. Councils are then registered
/// beside it, the old assembly goes on under its old grants, and the whole record verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_council_data_directory_serves_many_councils_as_it_is() {
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    let old = Cast::new("old");
    assembly_with_panel(&mut client, &old, "old-assembly").await;
    append(&mut client, &old.facilitator, "old-assembly", &session(1)).await;
    let before = server.log_size().await;
    server.restart().await;
    assert_eq!(server.snapshot_taken_up(), Some(before), "the old fold is taken up from its snapshot");
    let mut client = server.client().await;

    let platform = Author::new(server.trust_root.clone());
    let north_root = Author::new(key("north root"));
    register(&mut client, &platform, NORTH, "North Council", &north_root).await;
    let north = Cast::with_council("north", "north root");
    assembly_with_panel(&mut client, &north, NORTH_ASSEMBLY).await;
    append(&mut client, &old.facilitator, "old-assembly", &session(2)).await;
    append(&mut client, &north.facilitator, NORTH_ASSEMBLY, &session(1)).await;
    // The old grants stay the platform's own: they do not reach the new council.
    let across = server.sign_now(&old.facilitator, NORTH_ASSEMBLY, &session(2));
    refused(
        &mut client,
        &Attempt {
            name: "an old grant in a council",
            event: across,
            code: Code::PermissionDenied,
            rule: "authority.role_required",
        },
    )
    .await;
    let keys = client
        .registry()
        .list_keys(pb::registry::ListKeysRequest { assembly_id: NORTH_ASSEMBLY.into() })
        .await
        .expect("keys")
        .into_inner();
    assert_eq!(keys.grants.len(), 5, "north's assembly lists north's grants");
    assert!(keys.grants.iter().all(|g| g.public_key != old.facilitator.public_key().to_vec()));

    server.restart().await;
    let mut client = server.client().await;
    let export = klero_client::export::export_from_server(&mut client).await.expect("export");
    let report = verify_export(&export, &mut |_, _| {});
    assert!(report.complete(), "{}", report.to_text());
    assert_served_views_equal_a_rebuild(&mut client, "old-assembly").await;
    assert_served_views_equal_a_rebuild(&mut client, NORTH_ASSEMBLY).await;
}
