//! `pages`: the public pages under many concurrent visitors. An assembly of about 10,000
//! events (sessions, evidence with its documents, public submissions, recommendations with their
//! texts and citations, the council's answers and progress) is served by a real server with
//! `--http`; keep-alive HTTP/1.1 clients fetch the assembly page, the dashboard, and, as the
//! baseline, a static file (the style sheet) from the same server, in alternating rounds.

use crate::grpc_benches::BenchServer;
use crate::report::{emit, median, quantile_us};
use klero_client::{Author, KleroClient, SignedEvent};
use klero_ledger::Hash256;
use klero_proto as pb;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub(crate) const ASSEMBLY: &str = "pages-bench";
const RECOMMENDATIONS: usize = 50;
const EVIDENCE: usize = 100;

async fn document(client: &mut KleroClient, text: String) -> Vec<u8> {
    client.upload_document(text.as_bytes(), "text/plain; charset=utf-8", false).await.expect("upload").0.to_vec()
}

/// Appends `events` to `stream` in batches of 100.
async fn batches(client: &mut KleroClient, stream: &str, events: Vec<SignedEvent>) -> Vec<pb::ledger::AppendedEvent> {
    let mut appended = Vec::new();
    for chunk in events.chunks(100) {
        appended.extend(client.append_batch(stream, chunk, None).await.expect("batch"));
    }
    appended
}

/// Records the assembly; returns the log size.
pub(crate) async fn record(server: &BenchServer, total_events: usize) -> u64 {
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    let secretary = Author::new(klero_testkit::key("bench secretary"));
    let operator = Author::new(klero_testkit::key("bench operator"));
    let decision_maker = Author::new(klero_testkit::key("bench decision maker"));
    for (who, role) in [
        (&server.convenor, pb::registry::Role::Convenor),
        (&server.facilitator, pb::registry::Role::Facilitator),
        (&operator, pb::registry::Role::SelectionOperator),
        (&secretary, pb::registry::Role::PanelSecretary),
        (&decision_maker, pb::registry::Role::CouncilDecisionMaker),
    ] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: ASSEMBLY.into(),
            holder_title: "bench".into(),
        };
        client.append(&server.council.sign(ASSEMBLY, &grant).expect("sign"), None).await.expect("grant");
    }
    let convened = crate::report::convened(ASSEMBLY, "How should the district reach net zero?", 4);
    client.append(&server.convenor.sign(ASSEMBLY, &convened).expect("sign"), None).await.expect("convene");
    // A panel of four from a pool of ten, drawn from a committed seed.
    let seed = b"pages bench seed: 32 bytes long!".to_vec();
    let pool = pb::selection::PoolRegistered {
        members: (0..10)
            .map(|i| pb::selection::PoolMember {
                id: format!("p{i}"),
                household: Vec::new(),
                letter: Vec::new(),
                features: vec![pb::selection::FeatureValue {
                    feature: "age".into(),
                    value: if i % 2 == 0 { "young" } else { "old" }.into(),
                }],
            })
            .collect(),
    };
    let plan = pb::selection::SelectionPlanned {
        panel_size: 4,
        quotas: ["young", "old"]
            .map(|value| pb::selection::Quota { feature: "age".into(), value: value.into(), min: 1, max: 3 })
            .to_vec(),
        algorithm: "bench".into(),
        algorithm_version: "1".into(),
        pool_commitment: Hash256::of(&prost::Message::encode_to_vec(&pool)).0.to_vec(),
        seed_commitment: Hash256::of(&seed).0.to_vec(),
        randomness_source: "a fixed bench seed".into(),
        reserve_count: 0,
    };
    let drawn = pb::selection::PanelDrawn {
        seed,
        member_ids: (0..4).map(|i| format!("p{i}")).collect(),
        reserve_member_ids: Vec::new(),
    };
    let selection = [
        operator.sign(ASSEMBLY, &plan).expect("sign"),
        operator.sign(ASSEMBLY, &pool).expect("sign"),
        operator.sign(ASSEMBLY, &drawn).expect("sign"),
    ];
    batches(&mut client, &format!("assembly/{ASSEMBLY}/selection"), selection.to_vec()).await;
    let facilitator = &server.facilitator;
    let deliberation = format!("assembly/{ASSEMBLY}/deliberation");
    let mut deliberation_events = Vec::new();
    for session in 1..=4u32 {
        deliberation_events.push(
            facilitator
                .sign(
                    ASSEMBLY,
                    &pb::deliberation::SessionHeld {
                        session_number: session,
                        held_on: format!("2026-0{session}-10"),
                        agenda: format!("Session {session}: the evidence and the options"),
                        attendance_count: 4,
                    },
                )
                .expect("sign"),
        );
        for n in 0..EVIDENCE / 4 {
            let text = format!(
                "Evidence {session}.{n}: what the district emits, what the options cost, and what others tried. {}",
                "The panel heard it and asked questions. ".repeat(8)
            );
            let content_hash = document(&mut client, text).await;
            deliberation_events.push(
                facilitator
                    .sign(
                        ASSEMBLY,
                        &pb::deliberation::EvidencePresented {
                            session_number: session,
                            speaker_role: "council officer".into(),
                            title: format!("Briefing {session}.{n}"),
                            content_hash,
                            media_type: "text/plain; charset=utf-8".into(),
                            sealed_title: None,
                        },
                    )
                    .expect("sign"),
            );
        }
    }
    let evidence: Vec<Vec<u8>> = batches(&mut client, &deliberation, deliberation_events)
        .await
        .into_iter()
        .filter(|e| e.stream_revision % 26 != 0)
        .map(|e| e.event_hash)
        .collect();
    // Every recommendation: draft, citations, vote, adoption; an answer and an update each.
    let per_recommendation = 6;
    let submissions_count = total_events.saturating_sub(10 + 4 + EVIDENCE + RECOMMENDATIONS * per_recommendation);
    let submissions: Vec<SignedEvent> = (0..submissions_count)
        .map(|n| {
            facilitator
                .sign(
                    ASSEMBLY,
                    &pb::deliberation::PublicSubmissionReceived {
                        submitter_id: format!("s{n:06}"),
                        content_hash: Hash256::of(&(n as u64).to_be_bytes()).0.to_vec(),
                        received_on: format!("2026-0{}-{:02}", 1 + n % 4, 1 + n % 28),
                        sealed_text: None,
                    },
                )
                .expect("sign")
        })
        .collect();
    let submissions: Vec<Vec<u8>> =
        batches(&mut client, &deliberation, submissions).await.into_iter().map(|e| e.event_hash).collect();
    for r in 0..RECOMMENDATIONS {
        let id = format!("R{:02}", r + 1);
        let text_hash = document(
            &mut client,
            format!(
                "{id}. The council should act on this by 2028.\n{}",
                "With the reasons the panel gave. ".repeat(10)
            ),
        )
        .await;
        let citations = (0..5)
            .map(|c| pb::deliberation::InputCitation {
                input_event_hash: if c < 2 {
                    evidence[(r * 2 + c) % evidence.len()].clone()
                } else {
                    submissions[(r * 3 + c) % submissions.len().max(1)].clone()
                },
                note: "what the panel relied on".into(),
            })
            .collect();
        let recommendation = [
            secretary
                .sign(
                    ASSEMBLY,
                    &pb::recommendation::RecommendationDrafted {
                        recommendation_id: id.clone(),
                        title: format!("Recommendation {id}"),
                        text_hash: text_hash.clone(),
                    },
                )
                .expect("sign"),
            secretary
                .sign(
                    ASSEMBLY,
                    &pb::recommendation::RecommendationInputsCited {
                        recommendation_id: id.clone(),
                        text_hash: text_hash.clone(),
                        citations,
                    },
                )
                .expect("sign"),
            secretary
                .sign(
                    ASSEMBLY,
                    &pb::recommendation::VoteRecorded {
                        recommendation_id: id.clone(),
                        in_favour: 3,
                        against: 1,
                        abstaining: 0,
                    },
                )
                .expect("sign"),
            secretary
                .sign(
                    ASSEMBLY,
                    &pb::recommendation::RecommendationAdopted {
                        recommendation_id: id.clone(),
                        final_text_hash: text_hash,
                        in_favour: 3,
                        against: 1,
                        abstaining: 0,
                    },
                )
                .expect("sign"),
        ];
        let stream = format!("assembly/{ASSEMBLY}/recommendation");
        let adopted = batches(&mut client, &stream, recommendation.to_vec()).await.pop().expect("adopted");
        let response = pb::response::ResponseIssued {
            recommendation_event_hash: adopted.event_hash.clone(),
            decision: 1 + (r % 2) as i32,
            rationale: format!("The council's reasons for its answer to {id}."),
            responsible_body: "Cabinet".into(),
            due_on: "2027-06-30".into(),
            sealed_rationale: None,
        };
        let update = pb::response::ImplementationUpdated {
            recommendation_event_hash: adopted.event_hash,
            status: 1 + (r % 4) as i32,
            progress_percent: (r % 5) as u32 * 25,
            note: "Progress reported to the cabinet.".into(),
            evidence_hash: Vec::new(),
            sealed_note: None,
        };
        let answer = [
            decision_maker.sign(ASSEMBLY, &response).expect("sign"),
            decision_maker.sign(ASSEMBLY, &update).expect("sign"),
        ];
        batches(&mut client, &format!("assembly/{ASSEMBLY}/response"), answer.to_vec()).await;
    }
    client.checkpoint().await.expect("checkpoint").tree_size
}

/// One keep-alive connection's GET; the latency, and the body's length.
pub(crate) async fn get(connection: &mut BufReader<tokio::net::TcpStream>, request: &[u8]) -> (Duration, usize) {
    let (latency, body) = get_body(connection, request).await;
    (latency, body.len())
}

/// One keep-alive connection's GET; the latency, and the body.
pub(crate) async fn get_body(connection: &mut BufReader<tokio::net::TcpStream>, request: &[u8]) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    connection.get_mut().write_all(request).await.expect("write");
    let mut line = String::new();
    let mut length = 0usize;
    let mut status_line = true;
    loop {
        line.clear();
        connection.read_line(&mut line).await.expect("read");
        if status_line {
            assert!(line.starts_with("HTTP/1.1 200"), "the page answers 200: {line}");
            status_line = false;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    connection.read_exact(&mut body).await.expect("body");
    (started.elapsed(), body)
}

pub(crate) struct Round {
    pub(crate) pages_per_second: f64,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) bytes: usize,
}

/// `clients` connections fetching `path` for `duration`, taking gzip or not.
pub(crate) async fn round(address: &str, path: &str, gzip: bool, clients: usize, duration: Duration) -> Round {
    let encoding = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n{encoding}\r\n").into_bytes();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (address, request) = (address.to_string(), request.clone());
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut connection = BufReader::new(stream);
                let mut latencies = Vec::new();
                let mut bytes = 0;
                while started.elapsed() < duration {
                    let (latency, length) = get(&mut connection, &request).await;
                    latencies.push(latency);
                    bytes = length;
                }
                (latencies, bytes)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut bytes = 0;
    for task in tasks {
        let (mine, length) = task.await.expect("client");
        latencies.extend(mine);
        bytes = length;
    }
    let seconds = started.elapsed().as_secs_f64();
    Round { pages_per_second: latencies.len() as f64 / seconds, latencies, bytes }
}

pub fn pages(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let server = BenchServer::start_with_pages().await;
        let events = if quick { 2_000 } else { 10_000 };
        let size = record(&server, events).await;
        let pages_url = server.pages_url.clone().expect("pages");
        let address = pages_url.trim_start_matches("http://").to_string();
        let assembly_page = format!("/assemblies/{ASSEMBLY}");
        // A page of submissions from the middle of the assembly's (100 a page).
        let submissions_page = format!("/assemblies/{ASSEMBLY}/submissions?page={}", if quick { 10 } else { 48 });
        // The first visit after the log grew renders the page; every later one, until the log
        // grows again, is served from the cache.
        let mut connection =
            BufReader::new(tokio::net::TcpStream::connect(&address).await.expect("connect"));
        let mut cold = Vec::new();
        for path in [assembly_page.as_str(), "/dashboard", submissions_page.as_str()] {
            let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept-Encoding: gzip\r\n\r\n");
            cold.push(get(&mut connection, request.as_bytes()).await);
        }
        let extra = json!({"log_events": size, "assembly_page_bytes": cold[0].1, "dashboard_bytes": cold[1].1,
            "submissions_page_bytes": cold[2].1,
            "baseline_name": "the embedded style sheet (/static/klero.css), from the same server in the same run"});
        emit("pages", "assembly_page_first_render_ms", cold[0].0.as_secs_f64() * 1e3, "ms", f64::NAN, extra.clone());
        emit("pages", "dashboard_first_render_ms", cold[1].0.as_secs_f64() * 1e3, "ms", f64::NAN, extra.clone());
        emit("pages", "submissions_page_first_render_ms", cold[2].0.as_secs_f64() * 1e3, "ms", f64::NAN, extra.clone());
        let clients = if quick { 16 } else { 64 };
        let duration = Duration::from_secs(if quick { 1 } else { 3 });
        let rounds = if quick { 1 } else { 5 };
        // As browsers ask (gzip), and for a client that takes no compression.
        for (name, path, gzip) in [
            ("assembly_page", assembly_page.as_str(), true),
            ("dashboard", "/dashboard", true),
            ("submissions_page", submissions_page.as_str(), true),
            ("assembly_page_uncompressed", assembly_page.as_str(), false),
        ] {
            let (mut ours, mut statics) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                ours.push(round(&address, path, gzip, clients, duration).await);
                statics.push(round(&address, "/static/klero.css", gzip, clients, duration).await);
            }
            let rate = |runs: &[Round]| median(&mut runs.iter().map(|r| r.pages_per_second).collect::<Vec<_>>());
            let extra = json!({"clients": clients, "rounds": rounds, "seconds_per_round": duration.as_secs(), "gzip": gzip,
                "target": "at least 0.3x the static file's pages/s, p99 at most 50 ms",
                "log_events": size, "bytes": ours[0].bytes, "baseline_bytes": statics[0].bytes,
                "baseline_name": "the embedded style sheet (/static/klero.css), from the same server in the same run"});
            emit("pages", &format!("{name}_per_second_{clients}_clients"), rate(&ours), "pages/s", rate(&statics), extra.clone());
            let mut ours_latencies: Vec<Duration> = ours.into_iter().flat_map(|r| r.latencies).collect();
            let mut static_latencies: Vec<Duration> = statics.into_iter().flat_map(|r| r.latencies).collect();
            for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
                emit(
                    "pages",
                    &format!("{name}_latency_{label}_ms_{clients}_clients"),
                    quantile_us(&mut ours_latencies, q) / 1e3,
                    "ms",
                    quantile_us(&mut static_latencies, q) / 1e3,
                    extra.clone(),
                );
            }
        }
        server.stop().await;
    });
}
