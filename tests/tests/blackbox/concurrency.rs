use klero_client::{expect_exact, ClientError};
use klero_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_on_one_stream_all_land_on_an_unbroken_chain() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = std::sync::Arc::new(Cast::new("concurrent"));
    assembly_with_panel(&mut client, &cast, "concurrent").await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let (url, cast) = (server.url(), cast.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            for n in 0..10 {
                let submission = submission(format!("s{task}x{n}"));
                client
                    .append(&sign(&cast.facilitator, "concurrent", &submission), None)
                    .await
                    .expect("append with any revision always lands");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let events = read_stream_chain(&mut client, "assembly/concurrent/deliberation").await;
    assert_eq!(events.len(), 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_exact_appends_have_exactly_one_winner_per_revision() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = std::sync::Arc::new(Cast::new("race"));
    assembly_with_panel(&mut client, &cast, "race").await;
    let submission = submission("s0");
    append(&mut client, &cast.facilitator, "race", &submission).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, cast, submission) = (server.url(), cast.clone(), submission.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            let (mut wins, mut conflicts) = (0, 0);
            let mut known = 0u64;
            for _ in 0..6 {
                match client.append(&sign(&cast.facilitator, "race", &submission), Some(expect_exact(known))).await {
                    Ok(appended) => {
                        assert_eq!(appended.stream_revision, known + 1);
                        known += 1;
                        wins += 1;
                    }
                    Err(ClientError::Conflict { current_revision: Some(current), .. }) => {
                        assert!(current > known || known == 0);
                        known = current;
                        conflicts += 1;
                    }
                    Err(other) => panic!("unexpected {other}"),
                }
            }
            (wins, conflicts)
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += task.await.expect("task").0;
    }
    let events = read_stream_chain(&mut client, "assembly/race/deliberation").await;
    assert_eq!(events.len() as u64, wins + 1, "one event per win, none per conflict");
}

/// Concurrent appends have their signatures checked together in shared batches. A bad
/// signature among them must fail only its own append: every good one lands, every bad one
/// is UNAUTHENTICATED, and nothing bad reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_among_concurrent_appends_fails_only_its_own_append() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = std::sync::Arc::new(Cast::new("batched"));
    assembly_with_panel(&mut client, &cast, "batched").await;
    let before = server.log_size().await;
    // More clients than the 32 appends in progress from which a signature check waits for a
    // fuller batch, so both ways of forming a batch are exercised.
    const CLIENTS: usize = 40;
    let mut tasks = Vec::new();
    for task in 0..CLIENTS {
        let (url, cast) = (server.url(), cast.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            let (mut landed, mut refused) = (0, 0);
            for n in 0..8usize {
                let submission = submission(format!("b{task}x{n}"));
                let mut event = sign(&cast.facilitator, "batched", &submission);
                let bad = (task + n) % 5 == 0;
                if bad {
                    event.wire.signature[33] ^= 0x04;
                }
                match client.append(&event, None).await {
                    Ok(_) if !bad => landed += 1,
                    Err(ClientError::Refused(status)) if bad => {
                        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
                        refused += 1;
                    }
                    other => panic!("task {task} event {n} (bad: {bad}): {other:?}"),
                }
            }
            (landed, refused)
        }));
    }
    let (mut landed, mut refused) = (0u64, 0u64);
    for task in tasks {
        let (l, r) = task.await.expect("task");
        landed += l;
        refused += r;
    }
    let expected_bad = (0..CLIENTS).flat_map(|t| (0..8usize).map(move |n| (t + n) % 5 == 0)).filter(|b| *b).count();
    assert_eq!(refused, expected_bad as u64);
    assert_eq!(landed, (CLIENTS * 8 - expected_bad) as u64);
    assert_eq!(server.log_size().await, before + landed, "only the good appends are in the log");
}

/// A large batch is checked on two threads when it is the only append in progress, and whole
/// on one when others are: either way a bad signature fails its whole batch, named by its own
/// index (in the first half or the second), and every good batch lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_in_a_large_batch_is_named_alone_and_under_load() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = std::sync::Arc::new(Cast::new("large"));
    assembly_with_panel(&mut client, &cast, "large").await;
    const BATCH: usize = 40;
    let stream = "assembly/large/deliberation";
    let batch_of = |label: String, bad_at: Option<usize>| {
        (0..BATCH)
            .map(|n| {
                let mut event = sign(&cast.facilitator, "large", &submission(format!("{label}-{n}")));
                if bad_at == Some(n) {
                    event.wire.signature[40] ^= 0x10;
                }
                event
            })
            .collect::<Vec<_>>()
    };
    let refused_at = |outcome: Result<Vec<klero_proto::ledger::AppendedEvent>, ClientError>| match outcome {
        Err(ClientError::Refused(status)) => {
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
            status.message().to_string()
        }
        other => panic!("expected a bad signature, got {other:?}"),
    };
    let before = server.log_size().await;
    // Alone: the batch is split in two halves; one bad signature in each half in turn.
    for bad_at in [3, BATCH - 2] {
        let message =
            refused_at(client.append_batch(stream, &batch_of(format!("alone{bad_at}"), Some(bad_at)), None).await);
        assert!(message.contains(&format!("signature of event {bad_at} (")), "{message}");
    }
    assert_eq!(server.log_size().await, before, "a refused batch appends nothing");

    // Under load: eight clients at once, some batches with a bad signature anywhere.
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 4;
    let mut tasks = Vec::new();
    for task in 0..CLIENTS {
        let (url, batches) = (
            server.url(),
            (0..ROUNDS)
                .map(|round| {
                    let bad_at = ((task + round) % 3 == 0).then_some((task * 7 + round * 13) % BATCH);
                    (bad_at, batch_of(format!("load{task}x{round}"), bad_at))
                })
                .collect::<Vec<_>>(),
        );
        tasks.push(tokio::spawn(async move {
            let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
            let mut landed = 0u64;
            for (bad_at, batch) in batches {
                let outcome = client.append_batch(stream, &batch, None).await;
                match bad_at {
                    None => landed += outcome.expect("a good batch lands").len() as u64,
                    Some(bad_at) => {
                        let message = refused_at(outcome);
                        assert!(message.contains(&format!("signature of event {bad_at} (")), "{message}");
                    }
                }
            }
            landed
        }));
    }
    let mut landed = 0;
    for task in tasks {
        landed += task.await.expect("task");
    }
    let good_batches =
        (0..CLIENTS).flat_map(|t| (0..ROUNDS).map(move |r| (t + r) % 3 != 0)).filter(|good| *good).count();
    assert_eq!(landed, (good_batches * BATCH) as u64);
    assert_eq!(server.log_size().await, before + landed, "only the good batches are in the log");
}

/// One event id sent at once with two different contents, to two assemblies so that neither
/// waits for the other's stream: exactly one lands and the other is ALREADY_EXISTS. The server
/// folds the events it appends into its views from what it decoded on the way in, so the views
/// must still match a rebuild from the log, and never show the content that lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_id_with_two_contents_at_once_lands_once_and_the_views_show_the_winner() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new("twins");
    let assemblies = ["twins-a", "twins-b"];
    for assembly in assemblies {
        assembly_with_panel(&mut client, &cast, assembly).await;
    }
    let before = server.log_size().await;
    let rounds = 24;
    for round in 0..rounds {
        let id = klero_client::new_event_id();
        let [first, second] = assemblies.map(|assembly| {
            let stream =
                klero_client::stream_name(klero_catalogue::StreamKind::Deliberation, assembly).expect("stream");
            let content = submission(format!("round{round}-{assembly}"));
            cast.facilitator.sign_with(stream, id, klero_application::system_clock()(), &content).expect("sign")
        });
        let (mut one, mut two) = (server.client().await, server.client().await);
        let (first, second) = tokio::join!(one.append(&first, None), two.append(&second, None));
        let outcomes = [first.map(|_| ()), second.map(|_| ())];
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "round {round}: {outcomes:?}");
        let refused = outcomes.into_iter().find_map(Result::err).expect("one refused");
        assert_eq!(refused.code(), Some(tonic::Code::AlreadyExists), "round {round}: {refused:?}");
    }
    assert_eq!(server.log_size().await, before + rounds);
    for assembly in assemblies {
        assert_served_views_equal_a_rebuild(&mut client, assembly).await;
    }
}
