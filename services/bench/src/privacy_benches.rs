//! `privacy`: what sealing personal text costs (docs/FORMAT.md §14).
//! - On the append path: 16 clients append batches of 100 public submissions over real gRPC to
//!   two real servers, one with plain submissions (version 1: a document hash), one with the
//!   submissions' text sealed (version 2: ciphertext, commitment, and a data key the server
//!   opens, checks and keeps durably before the append), in alternating rounds; medians.
//! - On verification: each server's log exported and verified in full, plain against sealed.
//! - Opening: one sealed field decrypted and checked against its commitment, against the
//!   verification of one event.

use crate::grpc_benches::{drive, grant_and_convene, BenchServer};
use crate::report::{emit, median};
use klero_client::{Author, KleroClient, Sealer, SignedEvent};
use klero_ledger::Hash256;
use klero_proto as pb;
use serde_json::json;
use std::time::Instant;

const CLIENTS: usize = 16;
const BATCH_EVENTS: usize = 100;
/// A submission of a few sentences, about what the public writes.
const TEXT_BYTES: usize = 400;

fn submission_text(n: usize) -> String {
    let mut text = format!("Submission {n}: the number 12 bus stops at 7pm and I work evenings. ");
    while text.len() < TEXT_BYTES {
        text.push_str("Please run it later. ");
    }
    text.truncate(TEXT_BYTES);
    text
}

/// `count` submissions for `assembly`, plain (a document hash) or sealed (the text itself).
fn submissions(author: &Author, assembly: &str, first: usize, count: usize, sealed: bool) -> Vec<SignedEvent> {
    (first..first + count)
        .map(|n| {
            let text = submission_text(n);
            if !sealed {
                let payload = pb::deliberation::PublicSubmissionReceived {
                    submitter_id: format!("submitter-{n:06}"),
                    content_hash: Hash256::of(text.as_bytes()).0.to_vec(),
                    received_on: "2026-11-27".into(),
                    sealed_text: None,
                };
                return author.sign(assembly, &payload).expect("sign");
            }
            let sealer = Sealer::new().expect("sealer");
            let payload = pb::deliberation::PublicSubmissionReceived {
                submitter_id: format!("submitter-{n:06}"),
                content_hash: Vec::new(),
                received_on: "2026-11-27".into(),
                sealed_text: Some(sealer.seal("sealed_text", &text).expect("seal")),
            };
            author.sign_sealed(assembly, &payload, &sealer).expect("sign")
        })
        .collect()
}

async fn prepared() -> BenchServer {
    let server = BenchServer::start().await;
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    grant_and_convene(&mut client, &server.council, &server.convenor, &server.facilitator, "privacy-0").await;
    for c in 1..CLIENTS {
        let assembly = format!("privacy-{c}");
        let convened = crate::report::convened(assembly.clone(), "How much does sealing cost?", 20);
        client.append(&server.convenor.sign(&assembly, &convened).expect("sign"), None).await.expect("convene");
    }
    server
}

pub fn privacy(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (plain, sealed) = (prepared().await, prepared().await);
        let rounds = if quick { 1 } else { 5 };
        let per_round = if quick { BATCH_EVENTS } else { 4 * BATCH_EVENTS };
        let mut plain_runs = Vec::new();
        let mut sealed_runs = Vec::new();
        let mut bytes = (0, 0);
        for round in 0..rounds {
            let work = |server: &BenchServer, seal: bool| {
                (0..CLIENTS)
                    .map(|c| {
                        let assembly = format!("privacy-{c}");
                        let events = submissions(&server.facilitator, &assembly, round * per_round, per_round, seal);
                        (format!("assembly/{assembly}/deliberation"), events)
                    })
                    .collect::<Vec<_>>()
            };
            let (plain_work, sealed_work) = (work(&plain, false), work(&sealed, true));
            bytes = (plain_work[0].1[0].wire.author_encoding.len(), sealed_work[0].1[0].wire.author_encoding.len());
            plain_runs.push(drive(&plain.url, plain_work, true).await);
            sealed_runs.push(drive(&sealed.url, sealed_work, true).await);
        }
        let rate = |runs: &[crate::grpc_benches::Run]| median(&mut runs.iter().map(|r| r.events_per_second).collect::<Vec<_>>());
        let events = rounds * CLIENTS * per_round;
        emit(
            "privacy",
            "batch_sealed_events_per_second_16_clients",
            rate(&sealed_runs),
            "events/s",
            rate(&plain_runs),
            json!({"clients": CLIENTS, "batch_events": BATCH_EVENTS, "events": events, "rounds": rounds,
                   "text_bytes": TEXT_BYTES, "plain_author_encoding_bytes": bytes.0, "sealed_author_encoding_bytes": bytes.1,
                   "baseline_name": "the same batches of version 1 submissions (a document hash, no text, no key) to a twin server",
                   "target_ratio_min": 0.9}),
        );

        // Verification of each whole log, three times each, alternating.
        let mut exports = Vec::new();
        for server in [&plain, &sealed] {
            let mut client = KleroClient::connect(&server.url).await.expect("connect");
            exports.push(klero_client::export::export_from_server(&mut client).await.expect("export"));
        }
        let mut verify_rates = (Vec::new(), Vec::new());
        for _ in 0..3 {
            for (export, rates) in [(&exports[0], &mut verify_rates.0), (&exports[1], &mut verify_rates.1)] {
                let started = Instant::now();
                let report = klero_verifier::verify_export(export, &mut |_, _| {});
                assert!(report.complete(), "{}", report.to_text());
                rates.push(export.events.len() as f64 / started.elapsed().as_secs_f64());
            }
        }
        let (plain_rate, sealed_rate) = (median(&mut verify_rates.0), median(&mut verify_rates.1));
        emit(
            "privacy",
            "verify_sealed_events_per_second",
            sealed_rate,
            "events/s",
            plain_rate,
            json!({"events": exports[1].events.len(), "baseline_name": "verifying the twin log of plain submissions"}),
        );

        // Opening: decrypt and check one sealed field, against verifying one event.
        let decoded: Vec<(klero_domain::DataKey, [u8; 16], klero_domain::SealedText)> = (0..1_000)
            .map(|n| {
                let sealer = Sealer::new().expect("sealer");
                let message = sealer.seal("sealed_text", &submission_text(n)).expect("seal");
                let sealed_text = klero_domain::SealedText {
                    nonce: message.nonce.as_slice().try_into().expect("24 bytes"),
                    ciphertext: message.ciphertext,
                    commitment: Hash256(message.commitment.as_slice().try_into().expect("32 bytes")),
                };
                (sealer.data_key().clone(), sealer.event_id().0, sealed_text)
            })
            .collect();
        let mut open_us = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for (key, event_id, sealed_text) in &decoded {
                klero_domain::personal::open(key, event_id, "sealed_text", sealed_text).expect("opens");
            }
            open_us.push(started.elapsed().as_secs_f64() * 1e6 / decoded.len() as f64);
        }
        emit(
            "privacy",
            "open_sealed_field_us",
            median(&mut open_us),
            "us",
            1e6 / plain_rate,
            json!({"text_bytes": TEXT_BYTES, "fields": decoded.len(),
                   "baseline_name": "verifying one event of the plain log (us per event, from the verification above)"}),
        );
        plain.stop().await;
        sealed.stop().await;
    });
}
