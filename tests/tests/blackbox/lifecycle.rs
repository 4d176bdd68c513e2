use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::merkle::{leaf_hash, verify_inclusion};
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_assembly_is_recorded_answered_and_provable() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("lifecycle");
    let assembly = "lifecycle-2026";
    assembly_with_panel(&mut client, &cast, assembly).await;

    append(
        &mut client,
        &cast.operator,
        assembly,
        &pb::selection::MemberWithdrew {
            member_id: "p1".into(),
            reason: pb::selection::WithdrawalReason::Personal as i32,
        },
    )
    .await;
    append(
        &mut client,
        &cast.operator,
        assembly,
        &pb::selection::ReplacementDrawn { withdrawn_member_id: "p1".into(), replacement_member_id: "p5".into() },
    )
    .await;
    for session_number in 1..=3 {
        append(
            &mut client,
            &cast.facilitator,
            assembly,
            &pb::deliberation::SessionHeld {
                session_number,
                held_on: "2026-01-20".into(),
                agenda: "evidence".into(),
                attendance_count: 4,
            },
        )
        .await;
        append(
            &mut client,
            &cast.facilitator,
            assembly,
            &pb::deliberation::EvidencePresented {
                session_number,
                speaker_role: "expert".into(),
                title: "briefing".into(),
                content_hash: sha("doc"),
                media_type: "application/pdf".into(),
                sealed_title: None,
            },
        )
        .await;
    }
    append(
        &mut client,
        &cast.facilitator,
        assembly,
        &pb::deliberation::PublicSubmissionReceived {
            submitter_id: "s1".into(),
            content_hash: sha("sub"),
            received_on: "2026-01-21".into(),
            sealed_text: None,
        },
    )
    .await;

    let r1 = adopted_recommendation(&mut client, &cast, assembly, "R1").await;
    let r2 = adopted_recommendation(&mut client, &cast, assembly, "R2").await;
    append(
        &mut client,
        &cast.secretary,
        assembly,
        &pb::recommendation::FinalReportPublished { content_hash: sha("report") },
    )
    .await;

    let accepted = append(
        &mut client,
        &cast.decision_maker,
        assembly,
        &response(&r1.event_hash, pb::response::Decision::Accepted),
    )
    .await;
    assert!(!accepted.late, "a response inside the deadline is on time");
    append(
        &mut client,
        &cast.decision_maker,
        assembly,
        &pb::response::ImplementationUpdated {
            recommendation_event_hash: r1.event_hash.clone(),
            status: pb::response::ImplementationStatus::InProgress as i32,
            progress_percent: 30,
            note: "started".into(),
            evidence_hash: vec![],
            sealed_note: None,
        },
    )
    .await;
    // Eight weeks and a day later, the second response is recorded as late, not refused.
    server.advance_clock(57 * DAY_MS);
    let late_response =
        server.sign_now(&cast.decision_maker, assembly, &response(&r2.event_hash, pb::response::Decision::NotAccepted));
    let late = client.append(&late_response, None).await.expect("a late response is appended");
    assert!(late.late, "a response after the 56-day deadline is marked late");

    let summary = client
        .assemblies()
        .get_assembly(pb::assembly::GetAssemblyRequest { assembly_id: assembly.into() })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(summary.panel_member_ids, vec!["p0", "p2", "p3", "p5"]);
    assert_eq!((summary.sessions_held, summary.evidence_presented, summary.public_submissions), (3, 3, 1));
    assert!(summary.final_report_published);
    let decisions: Vec<(String, String, bool, u32)> = summary
        .recommendations
        .iter()
        .map(|r| (r.recommendation_id.clone(), r.response_decision.clone(), r.response_late, r.implementation_updates))
        .collect();
    assert_eq!(
        decisions,
        vec![("R1".into(), "accepted".into(), false, 1), ("R2".into(), "not_accepted".into(), true, 0)]
    );

    // An auditor checks the late response against a signed checkpoint.
    let checkpoint = client.checkpoint().await.expect("checkpoint");
    let verifier = LogVerifierKey::parse_vkey(&checkpoint.verifier_key).expect("vkey");
    let verified = verifier.verify(&checkpoint.signed_note).expect("checkpoint verifies");
    let size = verified.checkpoint().tree_size;
    let proof = client.inclusion_proof(late.log_index, size).await.expect("proof");
    let hash = Hash256(late.event_hash.as_slice().try_into().expect("32 bytes"));
    verify_inclusion(late.log_index, size, &leaf_hash(&hash.0), &proof, &verified.checkpoint().root_hash)
        .expect("inclusion verifies");
    let bundle = klero_ledger::bundle::ProofBundle::parse(&client.proof_bundle(r1.log_index).await.expect("bundle"))
        .expect("parse");
    assert_eq!(
        bundle.verify(&verifier).expect("bundle verifies").envelope.author().event_type,
        "klero.recommendation.v1.RecommendationAdopted"
    );

    // Every stream reads back as an unbroken chain.
    let events = read_stream_chain(&mut client, &format!("assembly/{assembly}/recommendation")).await;
    assert_eq!(events.len(), 7);
}
