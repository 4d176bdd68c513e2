//! Issue 17, end to end, with the `klero` binary as users run it: witnesses cosign an honest
//! log, and a rogue server holding the same log key, which shows a second history of the same
//! size, is caught by the witnesses, by `klero monitor` and by `klero verify` with a witness
//! policy.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, hex, key, log_verifier, write_key_files};

const LOG: &str = "transparency.klero.test/log";

fn klero(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_klero")).args(args).current_dir(dir).output().expect("klero runs")
}

/// A `klero` process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], dir: &Path) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_klero"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("klero starts"),
    )
}

/// A blocking HTTP/1.1 exchange: status and body.
fn http(address: &str, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Waits until `address` serves `/checkpoint` of `size` entries with `cosignatures` witness
/// lines, and returns it.
fn checkpoint_with(address: &str, size: u64, cosignatures: usize) -> String {
    let started = Instant::now();
    loop {
        if let Some((200, note)) = http(address, "GET", "/checkpoint", b"") {
            if note.contains(&format!("\n{size}\n")) && note.matches('\u{2014}').count() == 1 + cosignatures {
                return note;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no checkpoint of {size} with {cosignatures} cosignatures: {note}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{address} does not serve its checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_port(address: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(address).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing listens on {address}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `klero serve` with tiles and three witnesses; returns the process and its gRPC and HTTP
/// addresses once it answers.
fn serve_log(dir: &Path, data: &str, witnesses: &[String]) -> (Process, String, String) {
    let (grpc, http_address) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let mut args = vec!["--data-dir", data, "--listen", &grpc, "--http", &http_address];
    for witness in witnesses {
        args.extend(["--witness", witness]);
    }
    let process = Process(common::serve(dir, &args));
    wait_for_port(&http_address);
    (process, format!("http://{grpc}"), http_address)
}

fn demo(dir: &Path, server: &str) {
    let demo = klero(&["demo", "--server", server, "--trust-root-key", "council.key"], dir);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
}

#[test]
fn a_split_view_is_caught_by_the_witnesses_the_monitor_and_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    write_key_files(dir, LOG);
    std::fs::write(dir.join("council.key"), hex(&key("council").to_bytes())).expect("council key");
    let log_vkey = log_verifier(LOG).to_vkey_string();
    let trust_root = hex(&key("council").verifying_key().to_bytes());

    // Three witnesses, keyed by `klero keygen`; the third is never started.
    let mut witness_vkeys = Vec::new();
    let mut witness_addresses = Vec::new();
    let mut witnesses = Vec::new();
    for name in ["w1", "w2", "w3"] {
        let made =
            klero(&["keygen", "--out", &format!("{name}.key"), "--witness-name", &format!("{name}.klero.test")], dir);
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let vkey = std::fs::read_to_string(dir.join(format!("{name}.key.vkey"))).expect("vkey").trim().to_string();
        let address = format!("127.0.0.1:{}", free_port());
        if name != "w3" {
            let state = format!("{name}-state");
            witnesses.push(spawn(
                &[
                    "witness",
                    "--key",
                    &format!("{name}.key"),
                    "--listen",
                    &address,
                    "--state-dir",
                    &state,
                    "--log",
                    &log_vkey,
                ],
                dir,
            ));
            wait_for_port(&address);
        }
        witness_vkeys.push(vkey);
        witness_addresses.push(address);
    }
    let endpoints: Vec<String> = witness_addresses
        .iter()
        .zip(&witness_vkeys)
        .map(|(address, vkey)| format!("http://{address},{vkey}"))
        .collect();
    let policy = |quorum: &str| {
        let mut args: Vec<String> = Vec::new();
        for vkey in &witness_vkeys {
            args.extend(["--witness".into(), vkey.clone()]);
        }
        args.extend(["--witness-quorum".into(), quorum.into()]);
        args
    };

    // The honest log: a demo assembly, cosigned by the two witnesses that are up.
    let (honest, honest_grpc, honest_http) = serve_log(dir, "honest", &endpoints);
    demo(dir, &honest_grpc);
    // A fresh checkpoint covers every event the demo appended.
    let size = tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        klero_client::KleroClient::connect(&honest_grpc).await.expect("connect").checkpoint().await.expect("checkpoint")
    });
    let size = size.tree_size;
    let honest_note = checkpoint_with(&honest_http, size, 2);

    let exported = klero(&["export", "--server", &honest_grpc, "--out", "honest.export"], dir);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let verify = |target: &[&str], quorum: &str| {
        let mut args: Vec<String> = vec!["verify".into(), "--json".into(), "--log-key".into(), log_vkey.clone()];
        args.extend(target.iter().map(|s| s.to_string()));
        args.extend(policy(quorum));
        let output = klero(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON report");
        (output.status.code(), report)
    };
    let (code, report) = verify(&["honest.export"], "2");
    assert_eq!(code, Some(0), "two of three witnesses cosigned: {report}");
    let (code, report) = verify(&["honest.export"], "3");
    assert_eq!(code, Some(1), "the third witness is down: {report}");
    assert_eq!(report["first_failure"]["class"], "witness", "{report}");

    // The monitor follows the honest log, checks it against the witnesses, and resumes.
    let monitor = |log: &str, state: &str, extra: &[String]| {
        let mut args: Vec<String> = ["monitor", "--log", &format!("http://{log}"), "--log-key", &log_vkey]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--trust-root".into(), trust_root.clone(), "--state".into(), state.into(), "--once".into()]);
        for address in &witness_addresses[..2] {
            args.extend(["--witness-url".into(), format!("http://{address}")]);
        }
        args.extend(extra.iter().cloned());
        klero(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir)
    };
    let first = monitor(&honest_http, "monitor", &policy("2"));
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains(&format!("ok: {size} entries verified ({size} new)")));
    // The replay's state was saved, and the next run takes it up instead of replaying.
    assert!(dir.join("monitor/replay").exists(), "the replay's state is kept");
    let again = monitor(&honest_http, "monitor", &policy("2"));
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("ok: {size} entries verified (0 new)")));
    let warnings = String::from_utf8_lossy(&again.stderr);
    assert!(!warnings.contains("replaying the whole log"), "{warnings}");
    drop(honest);

    // The rogue server: the same log key, another history of the same size.
    let (_rogue, rogue_grpc, rogue_http) = serve_log(dir, "rogue", &endpoints);
    demo(dir, &rogue_grpc);
    let rogue_note = checkpoint_with(&rogue_http, size, 0);
    assert_ne!(rogue_note.lines().nth(2), honest_note.lines().nth(2), "the rogue's root differs");

    // The witnesses refused it: asked directly, w1 answers 409 with the size it holds.
    let body = format!("old {size}\n\n{rogue_note}");
    let (status, held) = http(&witness_addresses[0], "POST", "/add-checkpoint", body.as_bytes()).expect("w1 answers");
    assert_eq!((status, held), (409, format!("{size}\n")));

    // `klero verify` with the policy rejects the rogue's history, online and from an export.
    let (code, report) = verify(&["--server", &rogue_grpc, "--state", "verify-state"], "2");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["first_failure"]["class"], "witness", "{report}");

    // The monitor that followed the honest log raises the alarm on the rogue's.
    let forked = monitor(&rogue_http, "monitor", &[]);
    assert_eq!(forked.status.code(), Some(2), "{}", String::from_utf8_lossy(&forked.stdout));
    let alarm = String::from_utf8_lossy(&forked.stderr);
    assert!(alarm.contains("ALARM") && alarm.contains("forked"), "{alarm}");
    // A monitor that never saw the honest log learns of the split from the witnesses.
    let fresh = monitor(&rogue_http, "fresh-monitor", &[]);
    assert_eq!(fresh.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&fresh.stderr).contains("split view"),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    // And with a witness policy, the rogue's checkpoint is refused outright.
    let policed = monitor(&rogue_http, "policed-monitor", &policy("1"));
    assert_eq!(policed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&policed.stderr).contains("witness policy"));
    drop(witnesses);
}
