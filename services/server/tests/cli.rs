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

    // Issue 30: the same pool saved by Excel on Windows (Windows-1252, an accented id) and the
    // quotas as "CSV UTF-8" (a byte-order mark): read, and said how.
    std::fs::write(
        dir.path().join("bom.csv"),
        b"\xEF\xBB\xBFfeature,value,min,max\r\nage,young,1,2\r\nage,old,1,2\r\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("windows.csv"),
        b"id,age\r\nJos\xE9,young\r\nb,young\r\nc,old\r\nd,old\r\ne,old\r\n",
    )
    .expect("write");
    let excel = klero(
        &["select", "--features", "bom.csv", "--people", "windows.csv", "--panel-size", "3", "--out", "excel"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&excel.stderr);
    assert!(excel.status.success(), "{stderr}");
    assert!(stderr.contains("windows.csv: read as Windows-1252") && stderr.contains("line 2, column 4"), "{stderr}");
    assert!(stderr.contains("bom.csv: read as UTF-8 with a byte-order mark"), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&excel.stdout).lines().last().expect("a line")).expect("JSON");
    assert!(summary["encodings"]["people"].as_str().expect("people").starts_with("Windows-1252"), "{summary}");
    let probabilities = std::fs::read_to_string(dir.path().join("excel/probabilities.csv")).expect("probabilities");
    assert!(probabilities.contains("José,0.6"), "{probabilities}");
    // A row short of a column: its line and column.
    std::fs::write(dir.path().join("short.csv"), "id,age\na,young\nb\nc,old\n").expect("write");
    let short = klero(
        &["select", "--features", "features.csv", "--people", "short.csv", "--panel-size", "2", "--out", "y"],
        dir.path(),
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("people line 3, column 2: expected 2 columns, found 1"));

    std::fs::write(dir.path().join("tight.csv"), "feature,value,min,max\nage,young,3,3\nage,old,1,2\n").expect("write");
    let infeasible = klero(
        &["select", "--features", "tight.csv", "--people", "people.csv", "--panel-size", "3", "--out", "x"],
        dir.path(),
    );
    assert!(!infeasible.status.success());
    let stderr = String::from_utf8_lossy(&infeasible.stderr);
    assert!(stderr.contains("age") && stderr.contains("smallest relaxation"), "{stderr}");
    assert!(stderr.contains("nothing was drawn") && !dir.path().join("x/panel.csv").exists(), "{stderr}");
    // Issue 30: the smallest relaxation, shown and written for the officer, keeping the quota
    // named: with the old quota kept, the young minimum goes from 3 to 2 (there are only two
    // young volunteers anyway). Keeping three young seats, nothing can help.
    let kept = klero(
        &[
            "select",
            "--features",
            "tight.csv",
            "--people",
            "people.csv",
            "--panel-size",
            "3",
            "--keep-quotas",
            "age=old",
            "--out",
            "kept",
        ],
        dir.path(),
    );
    assert!(!kept.status.success());
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&kept.stdout).lines().last().expect("a line")).expect("JSON");
    assert_eq!(summary["total_change"], 1, "{summary}");
    assert_eq!(summary["relaxation"][0]["value"], "young", "{summary}");
    assert_eq!(summary["relaxation"][0]["relaxed_min"], 2, "{summary}");
    let relaxed = std::fs::read_to_string(dir.path().join("kept/relaxed-features.csv")).expect("relaxed");
    assert_eq!(relaxed, "feature,value,min,max\nage,young,2,3\nage,old,1,2\n");
    let rerun = klero(
        &[
            "select",
            "--features",
            "kept/relaxed-features.csv",
            "--people",
            "people.csv",
            "--panel-size",
            "3",
            "--out",
            "z",
        ],
        dir.path(),
    );
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    let hopeless = klero(
        &[
            "select",
            "--features",
            "tight.csv",
            "--people",
            "people.csv",
            "--panel-size",
            "3",
            "--keep-quotas",
            "age=young",
            "--out",
            "v",
        ],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&hopeless.stderr).contains("no relaxation of the other quotas can help"));
    let unknown = klero(
        &[
            "select",
            "--features",
            "tight.csv",
            "--people",
            "people.csv",
            "--panel-size",
            "3",
            "--keep-quotas",
            "age=ancient",
            "--out",
            "w",
        ],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("age=ancient, which has no quota"));
}

/// Issue 30: `select --households` with the Sortition Foundation's address columns. a and b
/// share an address (written two ways), so every panel seats one of them at most: with two
/// young seats among a, b and c, c is always seated and a and b share the other seat. The
/// distribution names the household by type numbers, never by address.
#[test]
fn select_with_households_never_seats_two_of_one_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("features.csv"), "feature,value,min,max\nage,young,2,2\nage,old,1,1\n")
        .expect("write");
    std::fs::write(
        dir.path().join("people.csv"),
        "id,age,address_line_1,postcode\n\
         a,young,4 Mill Lane,KL1 1AA\n\
         b,young, 4 mill lane ,kl1 1aa\n\
         c,young,9 Mill Lane,KL1 1AA\n\
         d,old,,\n\
         e,old,,\n",
    )
    .expect("write");
    let args = [
        "select",
        "--features",
        "features.csv",
        "--people",
        "people.csv",
        "--panel-size",
        "3",
        "--households",
        "address_line_1,postcode",
        "--seed",
        "00112233445566778899aabbccddeeff",
        "--out",
        "out",
    ];
    let run = klero(&args, dir.path());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().last().expect("a line")).expect("JSON");
    assert_eq!(summary["households_shared"], 1, "{summary}");
    let probabilities = std::fs::read_to_string(dir.path().join("out/probabilities.csv")).expect("probabilities");
    for line in ["a,0.5", "b,0.5", "c,1.0", "d,0.5", "e,0.5"] {
        assert!(probabilities.contains(line), "{line} in {probabilities}");
    }
    let panel = std::fs::read_to_string(dir.path().join("out/panel.csv")).expect("panel");
    assert!(!(panel.contains("\na\n") && panel.contains("\nb\n")), "a and b seated together: {panel}");
    let distribution: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/distribution.json")).expect("read"))
            .expect("JSON");
    assert_eq!(distribution["households"].as_array().map(Vec::len), Some(1), "{distribution}");
    assert!(!distribution.to_string().to_lowercase().contains("mill lane"), "no address is published");
    // A column that the file does not have is named.
    let missing = klero(
        &[
            "select",
            "--features",
            "features.csv",
            "--people",
            "people.csv",
            "--panel-size",
            "3",
            "--households",
            "address",
            "--out",
            "x",
        ],
        dir.path(),
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no column address"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// The fixture's export: one assembly with every event type, one checkpoint over it all.
fn fixture_text() -> (String, klero_testkit::fixture::Fixture) {
    let fixture = klero_testkit::fixture::lifecycle();
    (fixture.export.encode(), fixture)
}

fn verify_json(dir: &std::path::Path, file: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["verify", file, "--json"];
    args.extend_from_slice(extra);
    let output = klero(&args, dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("--json must print one JSON report, got {stdout:?} ({e})"));
    (output.status.code(), report)
}

/// Issue 13: an export that no signed checkpoint covers is not verified.
#[test]
fn events_no_checkpoint_covers_fail_as_unanchored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (text, fixture) = fixture_text();
    // No checkpoint lines, and the events cut to 20 with a matching end line.
    let lines: Vec<&str> = text.lines().collect();
    let mut cut: Vec<String> = lines.iter().filter(|l| !l.starts_with("checkpoint ")).map(|l| l.to_string()).collect();
    let first_event = cut.iter().position(|l| l.starts_with("event ")).expect("events");
    cut.truncate(first_event + 20);
    cut.push("end 20".into());
    std::fs::write(dir.path().join("cut.export"), cut.join("\n") + "\n").expect("write");
    let (code, report) = verify_json(dir.path(), "cut.export", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["first_failure"]["class"], "unanchored", "{report}");
    assert_eq!(report["first_failure"]["position"], 0);

    // A trust-root-signed event after the last checkpoint.
    let mut builder = klero_testkit::ExportBuilder::new(fixture.log_key.clone(), fixture.trust_root)
        .extend_from(&fixture.export.events);
    builder.checkpoint();
    let council = klero_testkit::key("fixture: council");
    let grant = pb::registry::KeyGranted {
        public_key: key("someone").verifying_key().to_bytes().to_vec(),
        role: pb::registry::Role::Auditor as i32,
        scope: "*".into(),
        holder_title: "Invented".into(),
    };
    builder.append(
        AuthorPart {
            event_id: EventId([0x77; 16]),
            stream: "registry".into(),
            event_type: "klero.registry.v1.KeyGranted".into(),
            event_version: 1,
            author_public_key: council.verifying_key().to_bytes(),
            authored_at_unix_ms: 1_900_000_000_000,
            payload: grant.encode_to_vec(),
        },
        &council,
        1_900_000_000_000,
    );
    let appended = builder.finish();
    let last = appended.events.len() as u64 - 1;
    std::fs::write(dir.path().join("appended.export"), appended.encode()).expect("write");
    let (code, report) = verify_json(dir.path(), "appended.export", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        (report["first_failure"]["class"].as_str(), report["first_failure"]["position"].as_u64()),
        (Some("unanchored"), Some(last))
    );
    let text_output = klero(&["verify", "appended.export"], dir.path());
    assert!(!String::from_utf8_lossy(&text_output.stdout).contains("everything holds"));

    // Allowed for debugging: the checks pass, the count is reported, "everything holds" is not.
    let (code, report) = verify_json(dir.path(), "appended.export", &["--allow-unanchored"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((report["complete"].as_bool(), report["unanchored_events"].as_u64()), (Some(false), Some(1)));
    let allowed = klero(&["verify", "appended.export", "--allow-unanchored"], dir.path());
    let stdout = String::from_utf8_lossy(&allowed.stdout);
    assert!(stdout.contains("NOT COMPLETE") && !stdout.contains("everything holds"), "{stdout}");
}

/// Issue 13: every outcome of `--json` is one JSON report, with its class and, where there is
/// one, its line and log index.
#[test]
fn verify_json_reports_every_format_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (text, fixture) = fixture_text();
    let first_event_line = text.lines().position(|l| l.starts_with("event ")).expect("events") as u64 + 1;
    // (what, the file's bytes, the line and the log index the failure names)
    type Case<'a> = (&'a str, Vec<u8>, Option<u64>, Option<u64>);
    let cases: Vec<Case> = vec![
        ("cut mid-line", text.as_bytes()[..text.len() - 30].to_vec(), None, None),
        ("bad base64", text.replacen("event A", "event !", 1).into_bytes(), Some(first_event_line), Some(0)),
        (
            "not UTF-8",
            {
                let mut bytes = text.clone().into_bytes();
                let at = text.find("\nevent ").expect("event") + 8;
                bytes[at] = 0xff;
                bytes
            },
            Some(first_event_line),
            None,
        ),
        ("CRLF", text.replace('\n', "\r\n").into_bytes(), Some(1), None),
        ("no final newline", text.trim_end().as_bytes().to_vec(), None, None),
        (
            "a view after an event",
            {
                let mut lines: Vec<&str> = text.lines().collect();
                let view = lines.iter().position(|l| l.starts_with("view ")).unwrap_or(3);
                let moved = lines.remove(view.min(3));
                let at = lines.iter().position(|l| l.starts_with("event ")).expect("event") + 1;
                lines.insert(at, moved);
                (lines.join("\n") + "\n").into_bytes()
            },
            None,
            None,
        ),
    ];
    for (name, bytes, line, log_index) in cases {
        std::fs::write(dir.path().join("broken.export"), &bytes).expect("write");
        let (code, report) = verify_json(dir.path(), "broken.export", &[]);
        assert_eq!(code, Some(1), "{name}");
        let failure = &report["first_failure"];
        assert_eq!(failure["class"], "format", "{name}: {report}");
        assert!(failure["line"].is_u64(), "{name}: a format failure names its line: {report}");
        if let Some(line) = line {
            assert_eq!(failure["line"].as_u64(), Some(line), "{name}: {report}");
        }
        if let Some(log_index) = log_index {
            assert_eq!(failure["position"].as_u64(), Some(log_index), "{name}: {report}");
        }
    }
    std::fs::write(dir.path().join("good.export"), &text).expect("write");
    let other_key = LogSigningKey::new("klero.test/other", key("other")).expect("key").verifier().to_vkey_string();
    let (code, report) = verify_json(dir.path(), "good.export", &["--log-key", &other_key]);
    assert_eq!((code, report["first_failure"]["class"].as_str()), (Some(1), Some("pin")), "{report}");
    let own_key = fixture.log_key.verifier().to_vkey_string();
    let (code, report) = verify_json(dir.path(), "good.export", &["--log-key", &own_key]);
    assert_eq!((code, report["complete"].as_bool()), (Some(0), Some(true)), "{report}");
    let (code, report) = verify_json(dir.path(), "missing.export", &[]);
    assert_eq!((code, report["first_failure"]["class"].as_str()), (Some(1), Some("format")), "{report}");
}

/// `klero keygen --log-name` keeps the name with the key, and `klero serve` signs checkpoints
/// under that name: the verifier key keygen printed verifies them, with no second place to
/// set the name. A name given twice must agree; a plain key file must be given one.
#[test]
fn the_log_key_file_names_the_log_that_serve_signs_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let made = klero(&["keygen", "--out", "log.key", "--log-name", "council.example/assembly-log"], dir.path());
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let file = std::fs::read_to_string(dir.path().join("log.key")).expect("log key");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 3, "{file}");
    assert_eq!(&lines[..2], ["klero-log-key/v1", "name council.example/assembly-log"]);
    assert!(lines[2].starts_with("seed ") && lines[2].len() == 5 + 64, "{file}");
    let vkey = std::fs::read_to_string(dir.path().join("log.key.vkey")).expect("vkey");
    assert!(vkey.starts_with("council.example/assembly-log+"), "{vkey}");
    assert!(String::from_utf8_lossy(&made.stdout).contains(vkey.trim()), "keygen printed the verifier key");
    let council = klero(&["keygen", "--out", "council.key"], dir.path());
    assert!(council.status.success());

    fn serve<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["serve", "--data-dir", "data", "--trust-root", "council.key.pub", "--listen"];
        args.extend_from_slice(extra);
        args
    }
    // Two names that differ, and a plain key with no name, are refused before anything starts.
    let mismatch = klero(&serve(&["127.0.0.1:0", "--log-key", "log.key", "--log-name", "other/log"]), dir.path());
    assert!(!mismatch.status.success());
    assert!(String::from_utf8_lossy(&mismatch.stderr).contains("differs from the name"), "{mismatch:?}");
    let unnamed = klero(&serve(&["127.0.0.1:0", "--log-key", "council.key"]), dir.path());
    assert!(!unnamed.status.success());
    assert!(String::from_utf8_lossy(&unnamed.stderr).contains("give --log-name"), "{unnamed:?}");

    // Served, its checkpoints verify with the verifier key keygen wrote.
    let served = Served::start(dir.path(), &serve(&[]));
    let note = served.checkpoint_note();
    drop(served);
    let verifier = klero_ledger::checkpoint::LogVerifierKey::parse_vkey(vkey.trim()).expect("vkey");
    let checkpoint = verifier.verify(&note).expect("the checkpoint verifies with keygen's verifier key");
    assert_eq!(checkpoint.checkpoint().origin, "council.example/assembly-log");
}

/// `klero serve` as a process on a free port, killed when dropped.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Served {
    /// Starts `klero <args> <127.0.0.1:port> <rest>` in `dir`: `args` ends with `--listen`.
    fn start(dir: &std::path::Path, args: &[&str]) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let listen = format!("127.0.0.1:{port}");
        let mut all: Vec<&str> = args.to_vec();
        all.push(&listen);
        all.extend(["--log-key", "log.key"]);
        let child = Command::new(env!("CARGO_BIN_EXE_klero"))
            .args(&all)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve");
        let served = Served { child, url: format!("http://{listen}") };
        served.checkpoint_note();
        served
    }

    /// The server's current signed checkpoint, once it answers (at most 60 s).
    fn checkpoint_note(&self) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let started = std::time::Instant::now();
            loop {
                if let Ok(mut client) = klero_client::KleroClient::connect(&self.url).await {
                    if let Ok(checkpoint) = client.checkpoint().await {
                        return checkpoint.signed_note;
                    }
                }
                assert!(started.elapsed() < std::time::Duration::from_secs(60), "klero serve did not answer");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issues 13 and 14, through the command line against a served demo: `klero view` prints
/// exactly the bytes its digest covers; `klero export --documents` and `klero verify
/// --documents` carry and check every document, and name a changed one; `klero receipt` and
/// `klero trace` follow a submission to the council's answer.
#[test]
fn a_served_demo_round_trips_through_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(klero(&["keygen", "--out", "council.key"], dir.path()).status.success());
    assert!(klero(&["keygen", "--out", "log.key", "--log-name", "cli.example/log"], dir.path()).status.success());
    let served =
        Served::start(dir.path(), &["serve", "--data-dir", "data", "--trust-root", "council.key.pub", "--listen"]);
    let demo = klero(&["demo", "--server", &served.url, "--trust-root-key", "council.key"], dir.path());
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));

    let view = klero(&["view", "accountability", "--server", &served.url], dir.path());
    assert!(view.status.success(), "{}", String::from_utf8_lossy(&view.stderr));
    let digest = klero_ledger::Hash256::of(&view.stdout).to_hex();
    assert!(
        String::from_utf8_lossy(&view.stderr).contains(&format!("sha256 {digest}")),
        "sha256sum of the output is the digest"
    );
    assert_eq!(view.stdout.last(), Some(&b'}'), "no line break after the JSON");

    let export = klero(
        &["export", "--server", &served.url, "--out", "x.export", "--documents", "docs", "--openings", "openings"],
        dir.path(),
    );
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let documents = std::fs::read_dir(dir.path().join("docs")).expect("docs").count();
    assert!(documents >= 16, "the demo uploads its texts: {documents} exported");
    let vkey = std::fs::read_to_string(dir.path().join("log.key.vkey")).expect("vkey");
    let (code, report) = verify_json(
        dir.path(),
        "x.export",
        &["--documents", "docs", "--openings", "openings", "--log-key", vkey.trim()],
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["documents_checked"], documents as u64);
    assert_eq!(report["documents_missing"], 0);
    // Issue 19: the demo seals its four submissions and erases one; the auditor's openings
    // open the other three, each checked against the commitment its author signed.
    assert_eq!(report["sealed_fields"], 4, "{report}");
    assert_eq!(report["sealed_fields_opened"], 3, "{report}");
    assert_eq!(report["sealed_fields_unopened"], 1, "{report}");
    let (code, report) = verify_json(dir.path(), "x.export", &[]);
    assert_eq!((code, &report["sealed_fields_unopened"]), (Some(0), &serde_json::json!(4)), "{report}");
    let openings = std::fs::read_to_string(dir.path().join("openings")).expect("openings");
    let altered = openings.replacen(" sealed_text ", " sealed_note ", 1);
    std::fs::write(dir.path().join("altered-openings"), altered).expect("write");
    let (code, report) = verify_json(dir.path(), "x.export", &["--openings", "altered-openings"]);
    assert_eq!((code, &report["first_failure"]["class"]), (Some(1), &serde_json::json!("opening")), "{report}");
    let first =
        std::fs::read_dir(dir.path().join("docs")).expect("docs").next().expect("a document").expect("entry").path();
    let mut bytes = std::fs::read(&first).expect("read");
    bytes.push(b'!');
    std::fs::write(&first, bytes).expect("write");
    let (code, report) = verify_json(dir.path(), "x.export", &["--documents", "docs"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["first_failure"]["class"], "document", "{report}");

    // The demo's first public submission: its log index from the trace view it printed.
    let text = String::from_utf8_lossy(&demo.stdout);
    let log_index = text
        .lines()
        .find_map(|line| line.split("PublicSubmissionReceived at log index ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .expect("the demo names the submission's log index");
    let receipt =
        klero(&["receipt", "--server", &served.url, "--log-index", log_index, "--out", "receipt"], dir.path());
    assert!(receipt.status.success(), "{}", String::from_utf8_lossy(&receipt.stderr));
    let trace =
        klero(&["trace", "--server", &served.url, "--receipt", "receipt", "--log-key", vkey.trim()], dir.path());
    assert!(trace.status.success(), "{}", String::from_utf8_lossy(&trace.stderr));
    let trace = String::from_utf8_lossy(&trace.stdout);
    assert!(trace.contains("still in the log") && trace.contains("the council's answer"), "{trace}");

    // Issue 19: a data protection officer's key file erases that submission from the command
    // line; `klero overdue` lists nothing within the demo's 365-day retention period.
    let assembly = text.lines().find_map(|l| l.strip_prefix("== assembly ")).expect("the demo names its assembly");
    let event_hash = text
        .lines()
        .find_map(|line| line.split("(event hash ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .expect("the demo names the submission's event hash");
    assert!(klero(&["keygen", "--out", "dpo.key"], dir.path()).status.success());
    let council = klero::keys::read_secret_key(&dir.path().join("council.key")).expect("council key");
    let officer = klero::keys::read_secret_key(&dir.path().join("dpo.key")).expect("officer key");
    let grant = pb::registry::KeyGranted {
        public_key: officer.verifying_key().to_bytes().to_vec(),
        role: pb::registry::Role::DataProtectionOfficer as i32,
        scope: assembly.into(),
        holder_title: "Data protection officer".into(),
    };
    tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        let mut client = klero_client::KleroClient::connect(&served.url).await.expect("connect");
        let signed = klero_client::Author::new(council).sign(assembly, &grant).expect("sign");
        client.append(&signed, None).await.expect("grant");
    });
    let overdue = klero(&["overdue", "--server", &served.url, "--assembly", assembly], dir.path());
    assert!(overdue.status.success(), "{}", String::from_utf8_lossy(&overdue.stderr));
    assert!(String::from_utf8_lossy(&overdue.stderr).contains("0 overdue (retention period 365 days)"));
    let erase = |extra: &[&str]| {
        let mut args = vec!["erase", "--server", &served.url, "--key", "dpo.key", "--assembly", assembly];
        args.extend_from_slice(extra);
        klero(&args, dir.path())
    };
    let erased = erase(&["--event", event_hash, "--legal-basis", "UK GDPR Art. 17(1)(a): the submitter asked"]);
    assert!(erased.status.success(), "{}", String::from_utf8_lossy(&erased.stderr));
    assert!(String::from_utf8_lossy(&erased.stdout).contains(&format!("erased {event_hash} on ")));
    let again = erase(&["--event", event_hash, "--legal-basis", "again"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("privacy.erased_once"), "{again:?}");
    assert!(!erase(&["--event", event_hash]).status.success(), "--legal-basis is required with --event");
}

/// Issue 15: `klero demo --http` keeps its server up after the demonstration, prints the
/// address to open, and serves the assembly it recorded there; SIGTERM stops it cleanly.
#[test]
fn the_demo_keeps_its_pages_up_and_says_where() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_klero"))
        .args(["demo", "--http", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut assembly = None;
    let address = loop {
        let line = lines.next().expect("the demo prints the address before it waits").expect("a line");
        // The first council's assembly comes first; the second council's after it.
        if let Some(id) = line.strip_prefix("== assembly ").filter(|_| assembly.is_none()) {
            assembly = Some(id.to_string());
        }
        if let Some(rest) = line.strip_prefix("open http://") {
            break rest.split('/').next().expect("host:port").to_string();
        }
    };
    let assembly = assembly.expect("the demo names its assembly");
    let get = |path: &str| -> String {
        let mut stream = std::net::TcpStream::connect(&address).expect("the pages are still served");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
    };
    let index = get("/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains(&format!("/assemblies/{assembly}")), "the index lists the demo's assembly");
    let page = get(&format!("/assemblies/{assembly}"));
    assert!(page.contains("How should our district reach net zero by 2040?"));
    assert!(page.contains("Not accepted") && page.contains("In progress"), "answers and progress are shown");
    // Issue 29: two councils on one service, compared.
    let programme = get("/programme");
    assert!(programme.starts_with("HTTP/1.1 200"), "{programme}");
    assert!(
        programme.contains("Example District Council") && programme.contains("Riverside Borough Council"),
        "the programme compares both councils"
    );
    // SIGTERM: the server stops cleanly and the demo exits 0.
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("the demo exits");
    assert!(status.success(), "{status:?}");
}

/// `klero select --reserves N` draws the reserve list with the panel (docs/FORMAT.md §9, step 4),
/// the very list the `PanelDrawn` rule will recompute from the published lottery and the seed;
/// without a seed it refuses, naming `--seed`.
#[test]
fn select_with_reserves_writes_the_list_the_record_checks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = "feature,value,min,max\nage,young,1,2\nage,old,1,2\n";
    let mut people = String::from("id,age\n");
    for i in 0..12 {
        people.push_str(&format!("v{i:02},{}\n", if i % 3 == 0 { "young" } else { "old" }));
    }
    std::fs::write(dir.path().join("features.csv"), features).expect("write");
    std::fs::write(dir.path().join("people.csv"), &people).expect("write");
    let seed = "00112233445566778899aabbccddeeff";
    let args = ["select", "--features", "features.csv", "--people", "people.csv", "--panel-size", "3", "--seed", seed];
    let run = klero(&[&args[..], &["--reserves", "4", "--out", "out"]].concat(), dir.path());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().last().expect("a line")).expect("JSON");
    assert_eq!(summary["reserves"], 4, "{summary}");
    let read_ids = |file: &str| -> Vec<String> {
        std::fs::read_to_string(dir.path().join("out").join(file))
            .expect(file)
            .lines()
            .skip(1)
            .map(String::from)
            .collect()
    };
    let (panel, reserves) = (read_ids("panel.csv"), read_ids("reserves.csv"));
    // The list the record's rule computes, from the published lottery and the seed.
    let distribution: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/distribution.json")).expect("read"))
            .expect("JSON");
    let quotas = klero_selection::parse_features_csv(features).expect("features");
    let instance = klero_selection::build_instance(&quotas, &people, 3, &[]).expect("instance");
    let panels = distribution["panels"].as_array().expect("panels");
    let lottery = klero_selection::PublishedLottery {
        panels: panels
            .iter()
            .map(|p| p["seats"].as_array().expect("seats").iter().map(|s| s.as_u64().expect("n") as u32).collect())
            .collect(),
        weights: panels.iter().map(|p| p["weight"].as_u64().expect("weight")).collect(),
    };
    let seed_bytes = klero_ledger::hash::from_hex(seed).expect("hex");
    assert_eq!(panel, klero_selection::draw(&instance, &lottery, &seed_bytes));
    assert_eq!(reserves, klero_selection::draw_reserves(&instance, &seed_bytes, &panel, 4));
    assert!(reserves.iter().all(|r| !panel.contains(r)), "no reserve is on the panel: {panel:?} {reserves:?}");

    let unseeded = klero(
        &[
            "select",
            "--features",
            "features.csv",
            "--people",
            "people.csv",
            "--panel-size",
            "3",
            "--reserves",
            "2",
            "--out",
            "x",
        ],
        dir.path(),
    );
    assert!(!unseeded.status.success());
    assert!(
        String::from_utf8_lossy(&unseeded.stderr).contains("--seed"),
        "{}",
        String::from_utf8_lossy(&unseeded.stderr)
    );
}

/// `klero select letters` (FORMAT.md §9.1): without a seed, the plan to sign (its hash, counts
/// and letters per ward, in proportion or as given); with one, the invited addresses in draw
/// order with their letter commitments, exactly as `klero_selection::letters` draws them; the
/// same seed gives the same bytes; a repeated address and a missing area are named by line.
#[test]
fn select_letters_plans_and_draws_the_invitations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = klero_testkit::fixture::letter_addresses();
    std::fs::write(dir.path().join("addresses.csv"), &list).expect("write");
    let salt = klero_ledger::hash::to_hex(&klero_testkit::fixture::LETTER_SALT);
    let seed = "74686520666978747572652773206c657474657220736565642c20333220622e";
    let base = ["select", "letters", "--addresses", "addresses.csv", "--count", "14", "--by-area", "ward"];
    let plan_only = klero(&[&base[..], &["--out", "plan"]].concat(), dir.path());
    assert!(plan_only.status.success(), "{}", String::from_utf8_lossy(&plan_only.stderr));
    assert!(!dir.path().join("plan/letters.csv").exists(), "nothing is drawn without a seed");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan/letter-plan.json")).expect("plan"))
            .expect("JSON");
    assert_eq!(plan["address_list_hash"], Hash256::of(list.as_bytes()).to_hex());
    assert_eq!(plan["areas"][1], serde_json::json!({"area": "North", "addresses": 18, "letters": 8}), "{plan}");

    let drawn = |out: &str| {
        let run = klero(&[&base[..], &["--seed", seed, "--salt", &salt, "--out", out]].concat(), dir.path());
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        std::fs::read_to_string(dir.path().join(out).join("letters.csv")).expect("letters.csv")
    };
    let letters = drawn("one");
    assert_eq!(letters, drawn("two"), "the same seed draws the same letters, byte for byte");
    let read = klero_selection::read_address_list(&list, Some("ward")).expect("the list");
    let areas = klero_selection::letters::allocate_letters(&read.area_sizes(), 14);
    let seed_bytes = klero_ledger::hash::from_hex(seed).expect("hex");
    let invited = klero_selection::letters::draw_letters(&read.addresses(), 14, &areas, &seed_bytes).expect("draw");
    let expected: Vec<String> = invited
        .iter()
        .map(|&i| {
            let commitment =
                klero_selection::letters::letter_commitment(&klero_testkit::fixture::LETTER_SALT, &read.keys[i]);
            format!("{},{}", read.rows[i].join(","), commitment.to_hex())
        })
        .collect();
    assert_eq!(letters.lines().skip(1).collect::<Vec<_>>(), expected);
    assert_eq!(letters.lines().next(), Some("address_line_1,postcode,ward,letter"));

    // Letters per ward as given, which must cover every ward.
    std::fs::write(dir.path().join("wards.csv"), "area,letters\nEast,2\nNorth,6\nSouth,6\n").expect("write");
    let given = klero(&[&base[..], &["--area-letters", "wards.csv", "--out", "given"]].concat(), dir.path());
    assert!(given.status.success(), "{}", String::from_utf8_lossy(&given.stderr));
    let plan = std::fs::read_to_string(dir.path().join("given/letter-plan.json")).expect("plan");
    assert!(plan.contains(r#"{"addresses":2,"area":"East","letters":2}"#), "{plan}");
    std::fs::write(dir.path().join("wards.csv"), "area,letters\nEast,2\nNorth,12\n").expect("write");
    let partial = klero(&[&base[..], &["--area-letters", "wards.csv", "--out", "x"]].concat(), dir.path());
    assert!(String::from_utf8_lossy(&partial.stderr).contains("no letters for area \"South\""));

    // A repeated address (written differently) and a row with no ward are named by line.
    let repeated = format!("{list}1  MILL LANE,kl1 1aa,North\n");
    std::fs::write(dir.path().join("repeated.csv"), repeated).expect("write");
    let run = klero(&["select", "letters", "--addresses", "repeated.csv", "--count", "3", "--out", "x"], dir.path());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("line 32: the same address as line 2"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::write(dir.path().join("no-ward.csv"), "address_line_1,ward\n1 Elm Row,North\n2 Elm Row,\n")
        .expect("write");
    let run = klero(
        &["select", "letters", "--addresses", "no-ward.csv", "--count", "1", "--by-area", "ward", "--out", "x"],
        dir.path(),
    );
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("line 3, column 2: no area"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// `klero verify --letters LIST --letters-salt HEX` (FORMAT.md §9.1): the fixture's letter
/// lottery holds with the council's list and salt; a list with one address changed, the wrong
/// salt, and a volunteer who names a letter the seed did not draw (which no rule can see) each
/// fail as `letters`, at the pool's position for the last two.
#[test]
fn verify_letters_checks_every_volunteer_was_invited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = klero_testkit::fixture::letter_addresses();
    std::fs::write(dir.path().join("addresses.csv"), &list).expect("write");
    std::fs::write(dir.path().join("changed.csv"), list.replacen("1 Mill Lane", "1 Mill Lane East", 1)).expect("write");
    std::fs::write(dir.path().join("honest.export"), klero_testkit::fixture::letters_and_reserves().export.encode())
        .expect("write");
    std::fs::write(
        dir.path().join("uninvited.export"),
        klero_testkit::fixture::letters_with_an_uninvited_volunteer().export.encode(),
    )
    .expect("write");
    let salt = klero_ledger::hash::to_hex(&klero_testkit::fixture::LETTER_SALT);
    let (code, report) =
        verify_json(dir.path(), "honest.export", &["--letters", "addresses.csv", "--letters-salt", &salt]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["letter_audits"][0]["invited"], 14, "{report}");
    assert_eq!(report["letter_audits"][0]["volunteers_with_letter"], 11, "{report}");
    let text = klero(&["verify", "honest.export", "--letters", "addresses.csv", "--letters-salt", &salt], dir.path());
    assert!(String::from_utf8_lossy(&text.stdout).contains("11 of 12 volunteers answered an invited letter"));
    let (plain_code, _) = verify_json(dir.path(), "uninvited.export", &[]);
    assert_eq!(plain_code, Some(0), "without the list, the record itself holds");
    let wrong_salt = "5b".repeat(32);
    for (file, list, salt, position) in [
        ("honest.export", "changed.csv", salt.as_str(), serde_json::Value::Null),
        ("honest.export", "addresses.csv", wrong_salt.as_str(), serde_json::json!(6)),
        ("uninvited.export", "addresses.csv", salt.as_str(), serde_json::json!(6)),
    ] {
        let (code, report) = verify_json(dir.path(), file, &["--letters", list, "--letters-salt", salt]);
        assert_eq!(code, Some(1), "{file} with {list}: {report}");
        assert_eq!(report["first_failure"]["class"], "letters", "{report}");
        assert_eq!(report["first_failure"]["position"], position, "{report}");
    }
}

/// `klero select --objective nash` (FORMAT.md §9.3): the Nash welfare lottery, marked as such in
/// distribution.json with its gap, whose mean log-chance is at least LEXIMIN's and whose lowest
/// chance is at most LEXIMIN's on the same pool; the summary gives each one's Gini; a seeded
/// draw verifies; an unknown objective is named.
#[test]
fn select_with_the_nash_objective_trades_the_lowest_chance_for_the_product() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../selection/tests/data/pool_150_22");
    let run = |objective: &str, out: &str| -> serde_json::Value {
        let features = pool.join("features.csv");
        let people = pool.join("people.csv");
        let args = [
            "select",
            "--features",
            features.to_str().expect("path"),
            "--people",
            people.to_str().expect("path"),
            "--panel-size",
            "22",
            "--objective",
            objective,
            "--seed",
            "00112233445566778899aabbccddeeff",
            "--out",
            out,
        ];
        let output = klero(&args, dir.path());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_str(String::from_utf8_lossy(&output.stdout).lines().last().expect("a line")).expect("JSON")
    };
    let (lexi, nash) = (run("leximin", "leximin"), run("nash", "nash"));
    assert_eq!(nash["objective"], "nash");
    assert_eq!(nash["nash_converged"], true, "{nash}");
    let number = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"));
    assert!(number(&nash, "mean_log_probability") >= number(&lexi, "mean_log_probability") - 1e-6, "{nash} {lexi}");
    assert!(number(&lexi, "min_probability") >= number(&nash, "min_probability") - 1e-9, "{nash} {lexi}");
    assert!((0.0..1.0).contains(&number(&nash, "gini")) && (0.0..1.0).contains(&number(&lexi, "gini")));
    let distribution: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("nash/distribution.json")).expect("read"))
            .expect("JSON");
    assert_eq!(distribution["algorithm"], "nash");
    assert!(distribution["nash_gap"].as_f64().is_some_and(|gap| gap <= klero_selection::NASH_TOLERANCE));
    assert!(dir.path().join("nash/panel.csv").exists(), "the draw from the Nash lottery verified and was written");
    let unknown = klero(
        &["select", "--features", "f", "--people", "p", "--panel-size", "2", "--objective", "diversimax", "--out", "x"],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("\"diversimax\" is not an objective"));
}
