//! The pages in a real browser: Debian's headless Chromium, driven by playwright-core from
//! `tests/browser/check-pages.mjs`, against real servers, with a proxy in between that plays a
//! dishonest server.

use super::*;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// Node, the npm packages and Chromium, or a failure that says how to get them.
fn require_browser() -> (PathBuf, PathBuf) {
    let hint = "run tests/run, which installs Debian's chromium and the npm packages in tests/browser";
    let chromium = PathBuf::from(std::env::var("KLERO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(chromium.exists(), "{} is missing: {hint}", chromium.display());
    let modules = workspace().join("tests/browser/node_modules");
    for package in ["playwright-core", "axe-core"] {
        assert!(modules.join(package).exists(), "the npm package {package} is missing: {hint}");
    }
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "node is missing: {hint}");
    (chromium, workspace().join("tests/browser/check-pages.mjs"))
}

/// Every `signature_rule` golden vector (FORMAT.md §2.2), and more that the ledger's rule
/// refuses while the cofactorless equation holds: small-order and non-canonical keys with a
/// matching `R`. The browser must never accept what the ledger rejects.
fn signature_vectors() -> Vec<serde_json::Value> {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    let golden =
        std::fs::read_to_string(workspace().join("services/ledger/tests/golden/vectors.txt")).expect("vectors");
    let ledger_accepts = |public_key: &[u8], message: &[u8], signature: &[u8]| -> bool {
        let (Ok(key), Ok(signature)) = (<[u8; 32]>::try_from(public_key), <[u8; 64]>::try_from(signature)) else {
            return false;
        };
        klero_ledger::signature::AuthorKey::from_bytes(&key)
            .is_ok_and(|key| klero_ledger::signature::verify(&key, message, &signature).is_ok())
    };
    let mut vectors = Vec::new();
    let mut push = |name: String, public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>| {
        let ledger = ledger_accepts(&public_key, &message, &signature);
        vectors.push(serde_json::json!({
            "name": name, "public_key": klero_ledger::hash::to_hex(&public_key),
            "message": klero_ledger::hash::to_hex(&message), "signature": klero_ledger::hash::to_hex(&signature),
            "ledger": ledger,
        }));
    };
    let unhex = |text: &str| -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
    };
    let mut honest_signature = Vec::new();
    for line in golden.lines().filter(|l| l.starts_with("signature_rule[")) {
        let (name, rest) = line.split_once("]: ").expect("a vector");
        let parts: Vec<&str> = rest.split(' ').collect();
        if name.ends_with("[honest") {
            honest_signature = unhex(parts[2]);
        }
        push(name.trim_start_matches("signature_rule[").into(), unhex(parts[0]), unhex(parts[1]), unhex(parts[2]));
    }
    // A small-order key A: [S]B = R + [k]A holds with R = [S]B - [k]A for any S. Every such
    // signature passes a plain cofactorless check, and the ledger refuses all of them.
    let message = b"KLERO-EVENT-AUTHOR-V1\0crafted".to_vec();
    for (t, torsion) in EIGHT_TORSION.iter().enumerate() {
        let public_key = torsion.compress().to_bytes();
        let s = Scalar::from(7u64 + t as u64);
        for r_point in [ED25519_BASEPOINT_POINT * s, ED25519_BASEPOINT_POINT * s - torsion] {
            let r = r_point.compress().to_bytes();
            let mut signature = r.to_vec();
            signature.extend_from_slice(s.as_bytes());
            push(format!("small_order_key_{t}"), public_key.to_vec(), message.clone(), signature);
        }
    }
    // Non-canonical encodings of small y (y + p < 2^255): the same points written twice.
    for y in 0u8..19 {
        let mut public_key = [0xffu8; 32];
        public_key[0] = 0xed + y;
        public_key[31] = 0x7f;
        push(format!("key_non_canonical_{y}"), public_key.to_vec(), message.clone(), honest_signature.clone());
    }
    vectors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_read_and_their_browser_verifies() {
    let (chromium, script) = require_browser();
    let a = PagesServer::start().await;
    let b = PagesServer::start().await;
    let recorded_a = record(&a, "pages-browser").await;
    // B: the same log key, another history, longer than A's.
    let recorded_b = record(&b, "pages-fork").await;
    let mut client_b = b.client().await;
    let extra = b.sign_now(&Cast::new("pages").facilitator, "pages-fork", &submission("s9999"));
    client_b.append(&extra, None).await.expect("B grows beyond A");
    let directory = tempfile::tempdir().expect("temp dir");
    let screenshot =
        std::env::var("KLERO_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|_| directory.path().join("assembly.png"));
    let config = serde_json::json!({
        "chromium": chromium,
        "a": {"pages": a.pages(), "assembly": recorded_a.assembly, "event": recorded_a.response, "submission": recorded_a.submission},
        "b": {"pages": b.pages(), "assembly": recorded_b.assembly},
        "tamper": {"from": RATIONALE, "to": RATIONALE.replace("2027", "2028")},
        "sealedTamper": {"from": "Route 12", "to": "Route 13"},
        "ungranted": {"key": recorded_a.decision_maker_key, "other_grant": recorded_a.facilitator_grant, "role": 5},
        "vectors": signature_vectors(),
        "screenshot": screenshot,
    });
    let config_path = directory.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).expect("config");
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(&config_path)
        .current_dir(workspace().join("tests/browser"))
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser script failed:\n{stderr}");
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    if let Ok(path) = std::env::var("KLERO_BROWSER_REPORT") {
        std::fs::write(path, serde_json::to_string_pretty(&seen).expect("JSON")).expect("report");
    }

    // An honest server: the badge says verified, and the page shows the record.
    let verified = &seen["verified"];
    assert_eq!(verified["ok"], true, "{verified:#}");
    assert_eq!(verified["badge"], "✓ Verified");
    assert!(verified["events"].as_u64().unwrap_or(0) >= 15, "the signed events shown were checked: {verified:#}");
    assert!(verified["documents"].as_u64().unwrap_or(0) >= 5, "the documents shown were checked: {verified:#}");
    assert_eq!(verified["views"], 7);
    let text = verified["text"].as_str().expect("text");
    for shown in [
        "What should we do?",
        RATIONALE,
        "The panel recommends buses every 10 minutes until 11pm.",
        "Dear residents, the buses will run until 11pm",
        "Overdue",
        "In progress, 40%",
        SEALED_NOTE,
        "Erased on 20 March 2026",
        ERASURE_REASON,
    ] {
        assert!(text.contains(shown), "the page shows {shown:?}");
    }
    // What the public wrote shows as text and never runs.
    let escaped: Vec<&str> = verified["escaped"].as_array().expect("list").iter().filter_map(|v| v.as_str()).collect();
    assert!(escaped.contains(&SCRIPT_TITLE), "the title holding <script> shows as text: {escaped:?}");
    assert!(text.contains(SCRIPT_SUBMISSION), "the submission holding <script> shows as text");
    assert!(!text.contains(ERASED_NOTE), "an erased note never shows");
    assert!(verified["sealed"].as_u64().unwrap_or(0) >= 2, "sealed text was checked: {verified:#}");
    assert_eq!(verified["scripts"], serde_json::json!(["/static/verify.js"]), "no script but the page's own");
    assert_eq!(verified["dialogs"], serde_json::json!([]));
    assert_eq!(verified["errors"], serde_json::json!([]));
    assert_eq!(verified["cookies"], serde_json::json!([]));
    assert_eq!(verified["headers"]["content-security-policy"], klero_web::CONTENT_SECURITY_POLICY);
    assert_eq!(seen["requestsElsewhere"], serde_json::json!([]), "no request leaves the server");
    for (path, page) in seen["pages"].as_object().expect("pages") {
        assert_eq!(page["status"], 200, "{path}");
        assert_eq!(page["ok"], true, "{path} verifies: {page:#}");
    }
    assert!(seen["pages"]["/dashboard"]["text"].as_str().unwrap_or("").contains("1 overdue"));
    let receipt = seen["pages"][format!("/receipt?log_index={}", recorded_a.submission)]["text"].as_str().unwrap_or("");
    assert!(receipt.contains(RATIONALE), "a submission is followed to the council's answer");

    // Without JavaScript the page is complete, and says it was not checked.
    let nojs = &seen["nojs"];
    assert!(nojs["text"].as_str().unwrap_or("").contains(RATIONALE));
    assert!(nojs["text"].as_str().unwrap_or("").contains("The panel recommends buses every 10 minutes"));
    assert_eq!(nojs["badge"], "Not checked yet");

    // The browser never accepts a signature the ledger's rule rejects.
    let vectors = seen["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 9 + 16 + 19, "every vector ran");
    for v in vectors {
        assert!(!(v["browser"] == true && v["ledger"] == false), "the browser accepted what the ledger rejects: {v}");
    }
    assert!(vectors.iter().any(|v| v["name"] == "honest" && v["browser"] == true), "an honest signature verifies");

    // Accessibility: no serious or critical violation on any page.
    for (path, violations) in seen["axe"].as_object().expect("axe") {
        let bad: Vec<&serde_json::Value> = violations
            .as_array()
            .expect("list")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{path}: {bad:#?}");
    }
    assert_eq!(seen["firstTab"], "Skip to the content", "the keyboard reaches the skip link first");
    for (path, phone) in seen["phone"].as_object().expect("phone") {
        assert!(phone["scrollWidth"].as_u64() <= phone["width"].as_u64(), "{path} runs off a phone's screen: {phone}");
    }

    // A dishonest server is caught, and the badge names what failed.
    let tampered = &seen["tampered"];
    assert_eq!(tampered["applied"], true, "the proxy altered the rationale in transit");
    assert_eq!(tampered["ok"], false);
    assert_eq!(tampered["badge"], "✗ Verification failed");
    assert!(tampered["summary"].as_str().unwrap_or("").contains("rationale"), "{tampered:#}");

    // Sealed text altered in transit no longer matches the commitment its author signed.
    let sealed = &seen["sealedTampered"];
    assert_eq!(
        (&sealed["applied"], &sealed["ok"]),
        (&serde_json::json!(true), &serde_json::json!(false)),
        "{sealed:#}"
    );
    assert!(sealed["summary"].as_str().unwrap_or("").contains("not the text its author sealed"), "{sealed:#}");

    let ungranted = &seen["ungranted"];
    assert_eq!(ungranted["ok"], false);
    assert!(ungranted["summary"].as_str().unwrap_or("").contains("holds no grant"), "{ungranted:#}");

    assert_eq!(seen["forkBefore"]["ok"], true, "{:#}", seen["forkBefore"]);
    let forked = &seen["forked"];
    assert_eq!(forked["ok"], false);
    assert!(forked["summary"].as_str().unwrap_or("").contains("forked log"), "{forked:#}");

    a.server.stop().await;
    b.server.stop().await;
}
