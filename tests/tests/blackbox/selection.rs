use klero_client::ClientError;
use klero_proto as pb;
use klero_tests::*;
use prost::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leximin_panel_is_accepted_only_as_the_draw_from_the_published_lottery() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("selection");
    let assembly = "selection";
    for (who, role) in
        [(&cast.convenor, pb::registry::Role::Convenor), (&cast.operator, pb::registry::Role::SelectionOperator)]
    {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: assembly.into(),
            holder_title: "officer".into(),
        };
        append(&mut client, &cast.council, assembly, &grant).await;
    }
    append(&mut client, &cast.convenor, assembly, &convened(assembly)).await;
    let plan = pb::selection::SelectionPlanned {
        algorithm: "leximin".into(),
        algorithm_version: klero_selection::ALGORITHM_VERSION.into(),
        ..plan()
    };
    let pool = pool();
    assert_eq!(plan.pool_commitment, klero_ledger::Hash256::of(&pool.encode_to_vec()).0.to_vec());
    append(&mut client, &cast.operator, assembly, &plan).await;
    append(&mut client, &cast.operator, assembly, &pool).await;

    // The operator computes the lottery with the same crate the server checks with.
    let quotas: Vec<klero_selection::Quota> = plan
        .quotas
        .iter()
        .map(|q| klero_selection::Quota { feature: q.feature.clone(), value: q.value.clone(), min: q.min, max: q.max })
        .collect();
    let members: Vec<(String, Vec<(String, String)>)> = pool
        .members
        .iter()
        .map(|m| (m.id.clone(), m.features.iter().map(|f| (f.feature.clone(), f.value.clone())).collect()))
        .collect();
    let instance = klero_selection::Instance::from_members(&quotas, &members, PANEL_SIZE).expect("instance");
    let lottery = klero_selection::PublishedLottery::from_distribution(
        &klero_selection::leximin(&instance, std::time::Duration::from_secs(30)).expect("leximin"),
    );
    let published = pb::selection::LotteryPublished {
        panels: lottery
            .panels
            .iter()
            .zip(&lottery.weights)
            .map(|(seats, weight)| pb::selection::LotteryPanel { weight: *weight, seats: seats.clone() })
            .collect(),
    };
    append(&mut client, &cast.operator, assembly, &published).await;

    let drawn = klero_selection::draw(&instance, &lottery, SEED);
    // Swap the first member drawn for an undrawn volunteer of the same age: the quotas still
    // hold, so only the draw rule can refuse it.
    let age_of = |id: &str| pool.members.iter().find(|m| m.id == id).map(|m| m.features[0].value.clone());
    let stand_in = pool
        .members
        .iter()
        .map(|m| m.id.clone())
        .find(|id| !drawn.contains(id) && age_of(id) == age_of(&drawn[0]))
        .expect("a stand-in");
    let mut not_drawn = vec![stand_in];
    not_drawn.extend(drawn.iter().skip(1).cloned());
    let error = client
        .append(
            &sign(&cast.operator, assembly, &pb::selection::PanelDrawn { seed: SEED.to_vec(), member_ids: not_drawn }),
            None,
        )
        .await
        .expect_err("a panel the seed did not draw is refused");
    let status = match error {
        ClientError::Refused(status) => status,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("selection.panel_is_the_draw"), "{}", status.message());
    append(
        &mut client,
        &cast.operator,
        assembly,
        &pb::selection::PanelDrawn { seed: SEED.to_vec(), member_ids: drawn.clone() },
    )
    .await;
    let summary = client
        .assemblies()
        .get_assembly(pb::assembly::GetAssemblyRequest { assembly_id: assembly.into() })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(summary.panel_member_ids, drawn, "the seated panel is the draw");
}
