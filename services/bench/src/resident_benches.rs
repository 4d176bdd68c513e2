//! `residents` (issue 28): 1,000 residents submit to an open call within one minute, each
//! signing with a key of their own and posting to `/api/v1/submissions` over a new connection,
//! as a browser does, while 64 readers load the assembly's page. Reports each submission's
//! latency (p50, p99; target p99 ≤ 300 ms) and any page error (target none).

use crate::report::{emit, quantile_us};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_client::Author;
use klero_ledger::checkpoint::LogSigningKey;
use klero_proto as pb;
use klero_testkit::key;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const ASSEMBLY: &str = "residents-bench";
const CALL: &str = "bench-call";
/// The proof of work the call asks of each browser's submission: what a council would set.
const WORK_BITS: u32 = 16;

/// A status and a body from one request on `connection`.
async fn exchange(connection: &mut BufReader<tokio::net::TcpStream>, request: &[u8]) -> Option<(u16, Vec<u8>)> {
    connection.get_mut().write_all(request).await.ok()?;
    let (mut line, mut length, mut status) = (String::new(), 0usize, 0u16);
    loop {
        line.clear();
        if connection.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if status == 0 {
            status = line.split(' ').nth(1)?.parse().ok()?;
        } else if line == "\r\n" {
            break;
        } else if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    connection.read_exact(&mut body).await.ok()?;
    Some((status, body))
}

pub fn residents(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let directory = tempfile::tempdir().expect("temp dir");
        let council = Author::new(key("bench council"));
        let (convenor, facilitator, intake) =
            (Author::new(key("bench convenor")), Author::new(key("bench facilitator")), Author::new(key("bench intake")));
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", grpc.local_addr().expect("address"));
        let pages = http.local_addr().expect("address").to_string();
        // Every resident posts from this one loopback network: the per-network limit is raised
        // for the bench, as an operator would for a council's own network.
        let config = klero_wiring::ServerConfig {
            pages_limits: klero_web::HttpLimits { submissions_per_network: 1_000_000, ..Default::default() },
            intake_key: Some(klero_wiring::IntakeKey(key("bench intake"))),
            ..klero_wiring::ServerConfig::new(
                directory.path(),
                council.public_key(),
                LogSigningKey::new("klero.bench/log", key("bench log")).expect("key"),
            )
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listeners = klero_wiring::Listeners { grpc: Some(grpc), http: Some(http) };
        let running = klero_wiring::start(config, listeners, klero_application::system_clock(), async {
            let _ = stopped.await;
        })
        .await
        .expect("server starts");
        let mut client = klero_client::KleroClient::connect(&url).await.expect("connect");
        for (who, role) in [
            (&convenor, pb::registry::Role::Convenor),
            (&facilitator, pb::registry::Role::Facilitator),
            (&intake, pb::registry::Role::Intake),
        ] {
            let grant = pb::registry::KeyGranted {
                public_key: who.public_key().to_vec(),
                role: role as i32,
                scope: ASSEMBLY.into(),
                holder_title: "officer".into(),
            };
            client.append(&council.sign(ASSEMBLY, &grant).expect("sign"), None).await.expect("grant");
        }
        let convened = pb::assembly::AssemblyConvened {
            assembly_id: ASSEMBLY.into(),
            council: "Bench Council".into(),
            remit_question: "How should buses serve the villages?".into(),
            area: "Bench district".into(),
            starts_on: "2026-01-10".into(),
            ends_on: "2027-03-10".into(),
            panel_size: 4,
            adoption_threshold_percent: 60,
            response_deadline_days: 56,
        };
        client.append(&convenor.sign(ASSEMBLY, &convened).expect("sign"), None).await.expect("convened");
        let today = klero_application::system_clock()() / 86_400_000;
        let hash = |text: &str| klero_ledger::Hash256::of(text.as_bytes()).0.to_vec();
        let call = pb::deliberation::CallOpened {
            call_id: CALL.into(),
            prompt: "What would make the buses better?".into(),
            recommendation_id: String::new(),
            opens_on: klero_domain::Date(today as i64 - 1).to_string(),
            closes_on: klero_domain::Date(today as i64 + 30).to_string(),
            text_bytes_max: 2_000,
            one_per_key: true,
            names_asked: true,
            consent_hash: hash("consent"),
            moderation_policy_hash: hash("policy"),
            withhold_reasons: vec!["personal_attack".into()],
            retention_days: 365,
            proof_of_work_bits: WORK_BITS,
        };
        client.append(&facilitator.sign(ASSEMBLY, &call).expect("sign"), None).await.expect("the call");

        let (residents, seconds, readers) = if quick { (200u64, 12u64, 16usize) } else { (1_000, 60, 64) };
        // Each resident's submission is composed and signed before the run, as each browser
        // does on its own machine; the run measures the server.
        let now = klero_application::system_clock()();
        let bodies: Vec<Vec<u8>> = (0..residents)
            .map(|n| {
                let resident = key(&format!("bench resident {n}"));
                // The browser's random bytes, fixed per resident so that runs compare.
                let random: Vec<u8> = (0u8..)
                    .flat_map(|round| klero_ledger::Hash256::of(format!("bench resident {n} {round}").as_bytes()).0)
                    .take(klero_browser::COMPOSE_RANDOM_BYTES)
                    .collect();
                let composed = klero_browser::compose(&klero_browser::ComposeRequest {
                    page: format!("/assemblies/{ASSEMBLY}"),
                    call: CALL.into(),
                    text: format!("Resident {n}: the 42 should run on Sundays, and later in the evening."),
                    email: format!("resident{n}@example.org"),
                    public_key: BASE64.encode(resident.verifying_key().to_bytes()),
                    random: BASE64.encode(&random),
                    now_unix_ms: now,
                    work_bits: WORK_BITS,
                    ..Default::default()
                });
                let Some(signing_input) = composed.signing_input else {
                    panic!("the module refused resident {n}: {:?}", composed.reason)
                };
                let signing_input = BASE64.decode(signing_input).expect("base64");
                let signature = ed25519_dalek::Signer::sign(&resident, &signing_input).to_bytes();
                let body = json!({"author": composed.author, "signature": BASE64.encode(signature), "data_key": composed.data_key})
                    .to_string();
                format!(
                    "POST /api/v1/submissions HTTP/1.1\r\nHost: {pages}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            })
            .collect();

        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let page_errors = Arc::new(AtomicU64::new(0));
        let reader_tasks: Vec<_> = (0..readers)
            .map(|_| {
                let (pages, done, page_errors) = (pages.clone(), done.clone(), page_errors.clone());
                tokio::spawn(async move {
                    let request =
                        format!("GET /assemblies/{ASSEMBLY} HTTP/1.1\r\nHost: {pages}\r\nAccept-Encoding: gzip\r\n\r\n")
                            .into_bytes();
                    let mut latencies = Vec::new();
                    let mut connection =
                        BufReader::new(tokio::net::TcpStream::connect(&pages).await.expect("connect"));
                    while !done.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        match exchange(&mut connection, &request).await {
                            Some((200, _)) => latencies.push(started.elapsed()),
                            _ => {
                                page_errors.fetch_add(1, Ordering::Relaxed);
                                connection =
                                    BufReader::new(tokio::net::TcpStream::connect(&pages).await.expect("connect"));
                            }
                        }
                    }
                    latencies
                })
            })
            .collect();
        // The residents arrive evenly over the minute, each on a new connection.
        let started = Instant::now();
        let gap = Duration::from_secs(seconds).as_secs_f64() / residents as f64;
        let submitters: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(n, request)| {
                let pages = pages.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until((started + Duration::from_secs_f64(gap * n as f64)).into()).await;
                    let sent = Instant::now();
                    let mut connection = BufReader::new(tokio::net::TcpStream::connect(&pages).await.ok()?);
                    let (status, body) = exchange(&mut connection, &request).await?;
                    Some((status, sent.elapsed(), String::from_utf8_lossy(&body).into_owned()))
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut refused = Vec::new();
        for task in submitters {
            match task.await.expect("a resident") {
                Some((201, latency, _)) => latencies.push(latency),
                Some((status, _, body)) => refused.push(format!("{status} {body}")),
                None => refused.push("no answer".into()),
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        let mut reads = Vec::new();
        for task in reader_tasks {
            reads.extend(task.await.expect("a reader"));
        }
        let extra = json!({"residents": residents, "seconds": seconds, "readers": readers,
            "accepted": latencies.len(), "refused": refused.len(), "first_refusal": refused.first(),
            "page_errors": page_errors.load(Ordering::Relaxed), "pages_read": reads.len(),
            "elapsed_seconds": elapsed, "log_events": running.application().log_size(),
            "target": "every submission accepted, p99 at most 300 ms, no page error",
            "what": "each resident's own key, composed by the pages' module, posted to /api/v1/submissions on a new connection"});
        emit("residents", "submission_latency_p50_ms", quantile_us(&mut latencies.clone(), 0.5) / 1e3, "ms", f64::NAN, extra.clone());
        emit("residents", "submission_latency_p99_ms", quantile_us(&mut latencies, 0.99) / 1e3, "ms", f64::NAN, extra.clone());
        emit("residents", "page_latency_p99_ms", quantile_us(&mut reads, 0.99) / 1e3, "ms", f64::NAN, extra.clone());
        emit("residents", "page_errors", page_errors.load(Ordering::Relaxed) as f64, "errors", f64::NAN, extra);
        let _ = stop.send(());
        running.stopped().await.expect("clean stop");
    });
}
