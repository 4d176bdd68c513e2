//! The committed WebAssembly module (klero_browser.wasm), run under Node as a browser runs it,
//! answers every golden slice vector (tests/tests/golden/slice-vectors.txt) exactly as the
//! native code does, byte for byte, and reaches each vector's verdict. A module not rebuilt
//! after a change to its sources fails here (and `services/browser/build --check` in CI).

use base64::Engine as _;
use std::path::PathBuf;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The vectors: (name, request JSON, expected verdict, slice text).
fn vectors() -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(workspace().join("tests/tests/golden/slice-vectors.txt")).expect("the vectors");
    let value = |n: usize, key: &str| -> Option<String> {
        let prefix = format!("case[{n}].{key}: ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).map(str::to_string)
    };
    (0..)
        .map_while(|n| {
            let slice = base64::engine::general_purpose::STANDARD.decode(value(n, "slice")?).expect("base64");
            Some((
                value(n, "name")?,
                value(n, "request")?,
                value(n, "expect")?,
                String::from_utf8(slice).expect("UTF-8"),
            ))
        })
        .collect()
}

fn input(request: &str, slice: &str) -> Vec<u8> {
    let mut bytes = (request.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(request.as_bytes());
    bytes.extend_from_slice(slice.as_bytes());
    bytes
}

#[test]
fn the_module_under_node_answers_every_slice_vector_as_the_native_code_does() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "node is missing: run tests/run, which installs it");
    let vectors = vectors();
    assert!(vectors.len() >= 25, "the vectors hold every case");
    let directory = tempfile::tempdir().expect("a directory");
    let mut native = Vec::new();
    for (n, (_, request, _, slice)) in vectors.iter().enumerate() {
        let bytes = input(request, slice);
        std::fs::write(directory.path().join(format!("{n}.in")), &bytes).expect("write");
        native.push(klero_browser::ffi::check_bytes(&bytes));
    }
    let output = std::process::Command::new("node")
        .arg(workspace().join("services/browser/tests/check.mjs"))
        .arg(workspace().join("services/browser/klero_browser.wasm"))
        .arg(directory.path())
        .arg(vectors.len().to_string())
        .output()
        .expect("node runs");
    assert!(output.status.success(), "node failed: {}", String::from_utf8_lossy(&output.stderr));
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).expect("node prints JSON");
    for (n, (name, _, expect, _)) in vectors.iter().enumerate() {
        let answer = run["answers"][n.to_string()].as_str().expect("an answer");
        assert_eq!(
            answer, native[n],
            "{name}: the module answers otherwise than the native code (rebuild it: services/browser/build)"
        );
        let verdict: serde_json::Value = serde_json::from_str(answer).expect("JSON");
        let got = verdict["failure"]["class"].as_str().unwrap_or("ok");
        assert_eq!(got, expect, "{name}: {}", verdict["failure"]["reason"]);
    }
}
