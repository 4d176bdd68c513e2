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
    let lottery = klero_selection::publish(
        &klero_selection::leximin(&instance, std::time::Duration::from_secs(30)).expect("leximin"),
    );
    let published = klero_catalogue::lottery_message(&lottery);
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

/// The Selection service computes the lottery with the same crate: on the 150-person pool it
/// reaches the published maximin optimum, every panel meets the quotas, and the weights are
/// exact. It appends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_selection_service_computes_the_leximin_lottery() {
    let server = TestServer::start().await;
    let before = server.log_size().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/selection/tests/data/pool_150_22");
    let features_csv = std::fs::read_to_string(dir.join("features.csv")).expect("features");
    let people_csv = std::fs::read_to_string(dir.join("people.csv")).expect("people");
    let mut selection = pb::selection::selection_client::SelectionClient::connect(server.url()).await.expect("connect");
    let response = selection
        .compute_lottery(pb::selection::ComputeLotteryRequest {
            features_csv: features_csv.clone(),
            people_csv: people_csv.clone(),
            panel_size: 22,
        })
        .await
        .expect("lottery")
        .into_inner();
    assert!((response.min_probability - 0.1017).abs() < 0.0001, "{}", response.min_probability);
    assert!(response.leximin_complete);
    assert_eq!(response.algorithm_version, klero_selection::ALGORITHM_VERSION);
    let instance = klero_selection::build_instance(
        &klero_selection::parse_features_csv(&features_csv).expect("quotas"),
        &people_csv,
        22,
    )
    .expect("instance");
    let lottery = response.lottery.expect("lottery");
    assert_eq!(lottery.panels.iter().map(|p| p.weight).sum::<u64>(), klero_selection::WEIGHT_TOTAL);
    assert!(lottery.panels.iter().all(|p| instance.panel_meets_quotas(&p.seats)));
    assert_eq!(response.type_probabilities.len(), instance.types.len());
    assert_eq!(server.log_size().await, before, "computing a lottery appends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_selection_requests_name_the_field_or_the_quotas() {
    let server = TestServer::start().await;
    let mut selection = pb::selection::selection_client::SelectionClient::connect(server.url()).await.expect("connect");
    let people = "id,age\na,young\nb,old\nc,old\n".to_string();
    let request = |features: &str, panel_size: u32| pb::selection::ComputeLotteryRequest {
        features_csv: features.into(),
        people_csv: people.clone(),
        panel_size,
    };
    let field_of = |status: tonic::Status| -> (tonic::Code, Vec<String>) {
        use tonic_types::StatusExt;
        let fields = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        (status.code(), fields)
    };
    let good = "feature,value,min,max\nage,young,1,1\nage,old,1,2\n";
    let bad_quota = "feature,value,min,max\nage,young,one,1\n";
    let error = selection.compute_lottery(request(bad_quota, 2)).await.expect_err("bad quotas");
    assert!(error.message().contains("line 2, column 3"), "the cell at fault: {}", error.message());
    assert_eq!(field_of(error), (tonic::Code::InvalidArgument, vec!["features_csv".to_string()]));
    let error = selection.compute_lottery(request(good, 0)).await.expect_err("no seats");
    assert_eq!(field_of(error), (tonic::Code::InvalidArgument, vec!["panel_size".to_string()]));
    // Two young members are required but the pool has one.
    let infeasible = "feature,value,min,max\nage,young,2,2\nage,old,0,1\n";
    let error = selection.compute_lottery(request(infeasible, 2)).await.expect_err("infeasible");
    assert_eq!(error.code(), tonic::Code::FailedPrecondition);
    assert!(
        error.message().contains("selection.quotas_feasible") && error.message().contains("young"),
        "{}",
        error.message()
    );
    let answer = selection.compute_lottery(request(good, 2)).await.expect("feasible").into_inner();
    assert!(
        (answer.min_probability - 0.5).abs() < 1e-6,
        "each old member sits half the time: {}",
        answer.min_probability
    );
}
