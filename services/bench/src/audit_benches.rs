//! `verify-export`: the auditor's verifier on an export of 1,000,000 events, against raw
//! ed25519-dalek batch verification of the same signatures on the same two cores.
//! `project`: rebuilding every view from 1,000,000 events, against parsing and decoding them.

use crate::report::{emit, median};
use ed25519_dalek::{Signature, VerifyingKey};
use klero_fold::{LogFold, LoggedEventRef};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{signing_input, AuthorPart, Envelope, EventId, SignedAuthorPart};
use klero_ledger::{Hash256, SigningKey};
use klero_projections::ViewName;
use klero_proto as pb;
use klero_testkit::ExportBuilder;
use klero_verifier::{verify_export, verify_stream, Export, ExportWriter, PublishedView, VerifyOptions};
use prost::Message;
use serde_json::json;
use std::time::Instant;

const ASSEMBLIES: usize = 8;
const BATCH_EVENTS: usize = 256;

fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

fn author_part(key: &SigningKey, stream: String, event_type: &str, payload: Vec<u8>, n: u64) -> AuthorPart {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(n + 1).to_be_bytes());
    id[8] = 0x80;
    AuthorPart {
        event_id: EventId(id),
        stream,
        event_type: event_type.into(),
        event_version: 1,
        author_public_key: key.verifying_key().to_bytes(),
        authored_at_unix_ms: 1_800_000_000_000 + n,
        payload,
    }
}

/// A valid export: grants, assemblies convened, then public submissions spread over them (each
/// passes authority and the rules), a checkpoint and every view's digest. Signing is spread
/// over both cores; it is set-up, not measured.
fn build_export(events: usize) -> Export {
    build_export_committing(events, |i| Hash256::of(&i.to_be_bytes()).0.to_vec())
}

/// [`build_export`] where each submission commits to a document of `document_bytes` bytes;
/// returns the export and the documents.
pub fn build_export_with_documents(events: usize, document_bytes: usize) -> (Export, Vec<Vec<u8>>) {
    let document = |i: u64| {
        let mut text = format!("submission {i}: ").into_bytes();
        text.resize(document_bytes, b'.');
        text
    };
    let export = build_export_committing(events, |i| Hash256::of(&document(i)).0.to_vec());
    let first = (2 + ASSEMBLIES) as u64;
    let documents = (first..events as u64).map(document).collect();
    (export, documents)
}

fn build_export_committing(events: usize, content_hash: impl Fn(u64) -> Vec<u8> + Sync) -> Export {
    let trust_root = key("bench trust root");
    let convenor = key("bench convenor");
    let facilitator = key("bench facilitator");
    let log_key = LogSigningKey::new("klero.bench/verify", key("bench log key")).expect("key");
    let mut builder = ExportBuilder::new(log_key, trust_root.verifying_key().to_bytes());
    let mut views = LogFold::new(trust_root.verifying_key().to_bytes());
    let fold = |builder: &mut ExportBuilder, views: &mut LogFold, signed: &SignedAuthorPart, at: u64| {
        let index = builder.size();
        builder.append_signed(signed, at);
        let envelope = Envelope::parse(builder.last_envelope().to_vec()).expect("sealed envelope");
        views
            .fold(LoggedEventRef { log_index: index, envelope: &envelope, event_hash: envelope.event_hash() }, None)
            .expect("the benchmark log follows the rules");
    };
    let mut n = 0u64;
    for (who, role) in [(&convenor, pb::registry::Role::Convenor), (&facilitator, pb::registry::Role::Facilitator)] {
        let grant = pb::registry::KeyGranted {
            public_key: who.verifying_key().to_bytes().to_vec(),
            role: role as i32,
            scope: "*".into(),
            holder_title: "bench".into(),
        };
        let signed =
            author_part(&trust_root, "registry".into(), "klero.registry.v1.KeyGranted", grant.encode_to_vec(), n)
                .sign(&trust_root)
                .expect("sign");
        fold(&mut builder, &mut views, &signed, 1_800_000_000_000 + n);
        n += 1;
    }
    for a in 0..ASSEMBLIES {
        let convened =
            crate::report::convened(format!("bench-{a}"), "How fast can an auditor check a year of records?", 40);
        let signed = author_part(
            &convenor,
            format!("assembly/bench-{a}"),
            "klero.assembly.v1.AssemblyConvened",
            convened.encode_to_vec(),
            n,
        )
        .sign(&convenor)
        .expect("sign");
        fold(&mut builder, &mut views, &signed, 1_800_000_000_000 + n);
        n += 1;
    }
    let first = n;
    let remaining = events.saturating_sub(n as usize);
    let sign_range = |range: std::ops::Range<u64>| -> Vec<SignedAuthorPart> {
        range
            .map(|i| {
                let a = i as usize % ASSEMBLIES;
                let payload = pb::deliberation::PublicSubmissionReceived {
                    submitter_id: format!("submitter-{i:07}"),
                    content_hash: content_hash(i),
                    received_on: "2026-06-01".into(),
                    sealed_text: None,
                };
                author_part(
                    &facilitator,
                    format!("assembly/bench-{a}/deliberation"),
                    "klero.deliberation.v1.PublicSubmissionReceived",
                    payload.encode_to_vec(),
                    i,
                )
                .sign(&facilitator)
                .expect("sign")
            })
            .collect()
    };
    let middle = first + remaining as u64 / 2;
    let end = first + remaining as u64;
    let signed: Vec<SignedAuthorPart> = std::thread::scope(|scope| {
        let right = scope.spawn(|| sign_range(middle..end));
        let mut left = sign_range(first..middle);
        left.extend(right.join().expect("signer"));
        left
    });
    for (offset, event) in signed.iter().enumerate() {
        fold(&mut builder, &mut views, event, 1_800_000_000_000 + first + offset as u64);
    }
    builder.checkpoint();
    for a in 0..ASSEMBLIES {
        let id = klero_domain::AssemblyId::parse(&format!("bench-{a}")).expect("id");
        for name in ViewName::ALL {
            let rendered = views.views().render(name, &id).expect("view");
            builder.publish_view(PublishedView {
                name: name.as_str().into(),
                assembly_id: id.to_string(),
                tree_size: rendered.tree_size,
                digest: rendered.digest,
            });
        }
    }
    builder.finish()
}

/// Raw batch verification of the export's signatures on two threads, inputs prepared ahead.
fn raw_rate(messages: &[Vec<u8>], signatures: &[Signature], keys: &[VerifyingKey]) -> f64 {
    let started = Instant::now();
    let half = messages.len() / 2;
    std::thread::scope(|scope| {
        for (start, end) in [(0, half), (half, messages.len())] {
            scope.spawn(move || {
                for chunk_start in (start..end).step_by(BATCH_EVENTS) {
                    let chunk_end = (chunk_start + BATCH_EVENTS).min(end);
                    let refs: Vec<&[u8]> = messages[chunk_start..chunk_end].iter().map(Vec::as_slice).collect();
                    ed25519_dalek::verify_batch(
                        &refs,
                        &signatures[chunk_start..chunk_end],
                        &keys[chunk_start..chunk_end],
                    )
                    .expect("valid");
                }
            });
        }
    });
    messages.len() as f64 / started.elapsed().as_secs_f64()
}

/// The child's side of the streaming measurement: verifies the export file at `path` the way
/// `klero verify FILE` does (a buffered reader over the file, scratch files for what grows
/// with the log, nothing else in memory) and
/// prints one JSON line with the rate and this process's peak resident memory (VmHWM).
pub fn verify_file_child(path: &std::path::Path) -> ! {
    let started = Instant::now();
    let file = std::fs::File::open(path).expect("export file");
    // Scratch files for the fold's tables and the event ids, as `klero verify` gives them.
    let options = VerifyOptions {
        table_spill: Some(klero_domain::spill::SpillTo(klero_wiring::scratch::ScratchDirectory::temporary())),
        ..VerifyOptions::default()
    };
    let report = verify_stream(std::io::BufReader::with_capacity(1 << 20, file), &options, None, &mut |_, _| {});
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.complete(), "the benchmark export must verify: {}", report.to_text());
    println!(
        "{}",
        json!({"events": report.events, "seconds": seconds, "events_per_second": report.events as f64 / seconds,
               "peak_rss_bytes": proc_status_bytes("VmHWM:")})
    );
    std::process::exit(0)
}

/// A memory figure of this process from /proc/self/status (Linux), in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn verify_file_in_child(path: &std::path::Path) -> serde_json::Value {
    let output = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .args(["verify-file-child", &path.display().to_string()])
        .output()
        .expect("child runs");
    assert!(output.status.success(), "verify child failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(output.stdout.trim_ascii()).expect("child prints JSON")
}

pub fn verify_export_bench(quick: bool) {
    let events = if quick { 50_000 } else { 1_000_000 };
    let built = Instant::now();
    let export = build_export(events);
    let build_seconds = built.elapsed().as_secs_f64();
    let parsed: Vec<Envelope> = export.events.iter().map(|b| Envelope::parse(b.clone()).expect("parse")).collect();
    let messages: Vec<Vec<u8>> = parsed.iter().map(|e| signing_input(e.author_encoding())).collect();
    let signatures: Vec<Signature> = parsed.iter().map(|e| Signature::from_bytes(&e.signature_bytes())).collect();
    let keys: Vec<VerifyingKey> =
        parsed.iter().map(|e| VerifyingKey::from_bytes(&e.author().author_public_key).expect("key")).collect();
    drop(parsed);
    let rounds = if quick { 3 } else { 2 };
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let report = verify_export(&export, &mut |_, _| {});
        assert!(report.ok(), "the benchmark export must verify: {}", report.to_text());
        ours.push(export.events.len() as f64 / started.elapsed().as_secs_f64());
        baseline.push(raw_rate(&messages, &signatures, &keys));
    }
    // Streaming from a file, in a child process so that its peak memory is the verifier's alone.
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("bench.export");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create export"));
        let mut writer = ExportWriter::start(file, &export.header()).expect("write");
        for event in &export.events {
            writer.event(event).expect("write");
        }
        writer.finish().expect("write");
    }
    let file_bytes = std::fs::metadata(&path).expect("export file").len();
    let (mut streamed, mut streamed_baseline, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order so drift on a shared machine favours neither side.
        if round % 2 == 1 {
            streamed_baseline.push(raw_rate(&messages, &signatures, &keys));
        }
        let child = verify_file_in_child(&path);
        streamed.push(child["events_per_second"].as_f64().expect("rate"));
        peaks.push(child["peak_rss_bytes"].as_f64().expect("peak"));
        if round % 2 == 0 {
            streamed_baseline.push(raw_rate(&messages, &signatures, &keys));
        }
    }
    emit(
        "verify-export",
        "file_events_per_second",
        median(&mut streamed),
        "events/s",
        median(&mut streamed_baseline),
        json!({"events": export.events.len(), "threads": 2, "rounds": rounds, "file_bytes": file_bytes,
               "ours": "klero_verifier::verify_stream over a buffered file, in a child process, as klero verify FILE",
               "baseline_name": "ed25519_dalek::verify_batch of the same signatures on 2 threads, inputs prepared ahead",
               "target_ratio_min": 0.8}),
    );
    let peak = peaks.iter().copied().fold(0.0, f64::max);
    emit(
        "verify-export",
        "file_peak_rss_bytes",
        peak,
        "bytes",
        file_bytes as f64,
        json!({"events": export.events.len(), "rounds": rounds, "value_is": "the largest VmHWM of the verifying child over the rounds",
               "baseline_name": "the export file's size: what verifying it in memory would hold at the least",
               "target_value_max": 256u64 << 20}),
    );
    emit(
        "verify-export",
        "events_per_second",
        median(&mut ours),
        "events/s",
        median(&mut baseline),
        json!({"events": export.events.len(), "threads": 2, "rounds": rounds, "build_seconds": build_seconds,
               "checks": "signatures, chains, checkpoint, authority, rules, 56 view digests",
               "baseline_name": "ed25519_dalek::verify_batch of the same signatures on 2 threads, inputs prepared ahead",
               "target_ratio_min": 0.8}),
    );
}

pub fn project_bench(quick: bool) {
    let events = if quick { 50_000 } else { 1_000_000 };
    let export = build_export(events);
    let rounds = 3;
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Baseline: what any reader of the log must do per event: parse it and decode it.
        let started = Instant::now();
        let mut decoded = 0usize;
        for bytes in &export.events {
            let envelope = Envelope::parse(bytes.clone()).expect("parse");
            let author = envelope.author();
            decoded += klero_catalogue::decode_event(&author.event_type, author.event_version, &author.payload).is_ok()
                as usize;
        }
        assert_eq!(decoded, export.events.len());
        baseline.push(export.events.len() as f64 / started.elapsed().as_secs_f64());

        // Ours: parse, hash, and the one fold (decode, decide, evolve, every view), then render
        // all 56 views.
        let started = Instant::now();
        let mut fold = LogFold::new(export.trust_root);
        for (index, bytes) in export.events.iter().enumerate() {
            let envelope = Envelope::parse(bytes.clone()).expect("parse");
            let event =
                LoggedEventRef { log_index: index as u64, envelope: &envelope, event_hash: envelope.event_hash() };
            fold.fold(event, None).expect("the benchmark log follows the rules");
        }
        let mut digests = 0;
        for id in fold.views().assembly_ids() {
            for name in ViewName::ALL {
                digests += fold.views().render(name, &id).is_some() as usize;
            }
        }
        assert_eq!(digests, ASSEMBLIES * ViewName::ALL.len());
        ours.push(export.events.len() as f64 / started.elapsed().as_secs_f64());
    }
    emit(
        "project",
        "events_per_second",
        median(&mut ours),
        "events/s",
        median(&mut baseline),
        json!({"events": export.events.len(), "threads": 1, "rounds": rounds, "views": ASSEMBLIES * ViewName::ALL.len(),
               "baseline_name": "parse and decode every event, no fold", "ours": "parse, hash, decode, decide, evolve, fold into views", "target_events_per_second_min": 500_000}),
    );
}
