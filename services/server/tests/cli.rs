//! The `klero` command line, run as a real process: keys, selection and verification, with
//! their files, output and exit codes.

use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use klero_testkit::ExportBuilder;
use prost::Message;
use std::process::Command;

fn klero(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_klero")).args(args).current_dir(dir).output().expect("klero runs")
}

fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

/// A small valid export: the trust root grants a convenor, who convenes an assembly.
fn export_text() -> String {
    let trust_root = key("cli trust root");
    let convenor = key("cli convenor");
    let mut builder = ExportBuilder::new(
        LogSigningKey::new("klero.test/cli", key("cli log")).expect("key"),
        trust_root.verifying_key().to_bytes(),
    );
    let author = |key: &SigningKey, stream: &str, event_type: &str, payload: Vec<u8>, n: u8| AuthorPart {
        event_id: EventId([n; 16]),
        stream: stream.into(),
        event_type: event_type.into(),
        event_version: 1,
        author_public_key: key.verifying_key().to_bytes(),
        authored_at_unix_ms: 1,
        payload,
    };
    let grant = pb::registry::KeyGranted {
        public_key: convenor.verifying_key().to_bytes().to_vec(),
        role: pb::registry::Role::Convenor as i32,
        scope: "*".into(),
        holder_title: "clerk".into(),
    };
    builder.append(
        author(&trust_root, "registry", "klero.registry.v1.KeyGranted", grant.encode_to_vec(), 1),
        &trust_root,
        10,
    );
    let convened = pb::assembly::AssemblyConvened {
        assembly_id: "cli".into(),
        council: "Council".into(),
        remit_question: "Why?".into(),
        area: "Here".into(),
        starts_on: "2026-01-01".into(),
        ends_on: "2026-02-01".into(),
        panel_size: 10,
        adoption_threshold_percent: 60,
        response_deadline_days: 56,
    };
    builder.append(
        author(&convenor, "assembly/cli", "klero.assembly.v1.AssemblyConvened", convened.encode_to_vec(), 2),
        &convenor,
        11,
    );
    builder.checkpoint();
    builder.finish().encode()
}

#[test]
fn verify_exits_zero_only_when_everything_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = export_text();
    std::fs::write(dir.path().join("good.export"), &text).expect("write");
    let good = klero(&["verify", "good.export", "--json"], dir.path());
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    let report: serde_json::Value = serde_json::from_slice(&good.stdout).expect("one JSON object");
    assert_eq!(
        (report["ok"].as_bool(), report["events"].as_u64(), report["rules_replayed"].as_u64()),
        (Some(true), Some(2), Some(2))
    );

    // Flip a character inside the second event's base64: a changed byte.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let event_line = lines.iter().rposition(|l| l.starts_with("event ")).expect("event line");
    let mut bytes = lines[event_line].clone().into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    lines[event_line] = String::from_utf8(bytes).expect("ascii");
    std::fs::write(dir.path().join("bad.export"), lines.join("\n") + "\n").expect("write");
    let bad = klero(&["verify", "bad.export"], dir.path());
    assert_eq!(bad.status.code(), Some(1), "a failed verification exits 1");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(stdout.contains("FAILED") && stdout.contains("position 1"), "{stdout}");

    let pinned = klero(&["verify", "good.export", "--trust-root", &"00".repeat(32)], dir.path());
    assert!(!pinned.status.success(), "a trust root other than the pinned one is refused");
}

#[test]
fn select_writes_the_lottery_and_ends_with_a_json_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("features.csv"), "feature,value,min,max\nage,young,1,2\nage,old,1,2\n")
        .expect("write");
    std::fs::write(dir.path().join("people.csv"), "id,age\na,young\nb,young\nc,old\nd,old\ne,old\n").expect("write");
    let args = [
        "select",
        "--features",
        "features.csv",
        "--people",
        "people.csv",
        "--panel-size",
        "3",
        "--seed",
        "00112233445566778899aabbccddeeff",
        "--out",
        "out",
    ];
    let first = klero(&args, dir.path());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&first.stdout).lines().last().expect("a line"))
            .expect("JSON summary");
    // Three seats for five people, at least one of each age: everyone gets 3/5 at best, and
    // the fair lottery gives exactly that.
    assert!((summary["min_probability"].as_f64().expect("min") - 0.6).abs() < 1e-6, "{summary}");
    assert!(summary["panels"].as_u64().expect("panels") >= 1 && summary["seconds"].is_number());
    let panel = std::fs::read_to_string(dir.path().join("out/panel.csv")).expect("panel.csv");
    assert_eq!(panel.lines().count(), 4, "a header and three members");
    let lottery = std::fs::read_to_string(dir.path().join("out/distribution.json")).expect("distribution");
    // The same input and seed give byte-identical output.
    let second = klero(&args, dir.path());
    assert!(second.status.success());
    assert_eq!(std::fs::read_to_string(dir.path().join("out/distribution.json")).expect("again"), lottery);
    assert_eq!(std::fs::read_to_string(dir.path().join("out/panel.csv")).expect("again"), panel);

    std::fs::write(dir.path().join("tight.csv"), "feature,value,min,max\nage,young,3,3\nage,old,1,2\n").expect("write");
    let infeasible = klero(
        &["select", "--features", "tight.csv", "--people", "people.csv", "--panel-size", "3", "--out", "x"],
        dir.path(),
    );
    assert!(!infeasible.status.success());
    assert!(
        String::from_utf8_lossy(&infeasible.stderr).contains("age"),
        "{}",
        String::from_utf8_lossy(&infeasible.stderr)
    );
}
