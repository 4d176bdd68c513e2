//! `browser`: how long a resident waits for the badge. One server with `--http` holds the
//! demonstration's assembly (recorded by the `klero demo --server` command against it), an
//! assembly of 10,000 events,
//! and enough assemblies for a full index page. Debian's headless Chromium, driven by
//! tests/browser/settle.mjs, opens each page in fresh contexts (a first visit every time: no
//! cache, nothing pinned) and times navigation to the settled badge; the baseline is the same
//! page loaded with JavaScript off, in the same run: the page as served, unchecked.

use crate::grpc_benches::BenchServer;
use crate::report::{emit, median};
use klero_client::{Author, KleroClient};
use klero_proto as pb;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The targets (issue 25), in milliseconds from navigation to a settled badge.
const DEMO_TARGET_MS: f64 = 1_000.0;
const LARGE_TARGET_MS: f64 = 2_000.0;
const INDEX_TARGET_MS: f64 = 500.0;

/// `klero demo --server URL` against the bench server, with the bench council's key as the
/// trust root's (in a file, as the command takes it). The binary is `klero`, built beside this
/// one (`cargo build --release --bins`): the bench runs it as a resident's council would, and
/// links none of it. Its story goes to a null stdout, so that it does not mix with the JSON.
async fn run_demo(url: &str) {
    let klero = std::env::current_exe().expect("this binary").with_file_name("klero");
    assert!(
        klero.exists(),
        "{} is missing: build it beside klero-bench first (cargo build --release --bins)",
        klero.display()
    );
    let key_file = tempfile::NamedTempFile::new().expect("temp file");
    let seed = klero_ledger::hash::to_hex(&klero_testkit::key("bench council").to_bytes());
    std::fs::write(key_file.path(), seed).expect("write the key file");
    let status = tokio::process::Command::new(&klero)
        .args(["demo", "--server", url, "--trust-root-key"])
        .arg(key_file.path())
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("run klero demo");
    assert!(status.success(), "klero demo failed: {status}");
}

/// Convenes small assemblies until the log holds `total` of them, so that the index's first
/// page is full and there are more after it.
async fn convene_until(server: &BenchServer, total: usize) {
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    let convenor = Author::new(klero_testkit::key("bench index convenor"));
    let grant = pb::registry::KeyGranted {
        public_key: convenor.public_key().to_vec(),
        role: pb::registry::Role::Convenor as i32,
        scope: "*".into(),
        holder_title: "bench".into(),
    };
    client.append(&server.council.sign("", &grant).expect("sign"), None).await.expect("grant");
    let existing = application(server).assembly_ids().await.expect("assemblies").len();
    for number in existing..total {
        let id = format!("index-bench-{number:04}");
        let convened = crate::report::convened(&id, "What should the district do about its high street?", 30);
        client.append(&convenor.sign(&id, &convened).expect("sign"), None).await.expect("convene");
    }
}

fn application(server: &BenchServer) -> &std::sync::Arc<klero_application::Application> {
    match &server.running {
        crate::grpc_benches::BenchRunning::Embedded(running) => running.application(),
        crate::grpc_benches::BenchRunning::Postgres(_) => unreachable!("the browser bench runs on the embedded store"),
    }
}

/// Chromium and the script that drives it, or a panic that says how to install them.
fn browser_parts() -> (PathBuf, PathBuf) {
    let hint = "install what the tests need first (README: tests/run installs Debian's chromium and the npm packages in tests/browser)";
    let chromium = PathBuf::from(std::env::var("KLERO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(chromium.exists(), "{} is missing: {hint}", chromium.display());
    let browser = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(browser.join("node_modules/playwright-core").exists(), "tests/browser/node_modules is missing: {hint}");
    (chromium, browser.join("settle.mjs"))
}

/// Runs settle.mjs over `pages` (name, URL) and returns its results, one per page.
fn settle(pages: &[(&str, String)], contexts: usize) -> Vec<Value> {
    let (chromium, script) = browser_parts();
    let config = json!({
        "chromium": chromium,
        "contexts": contexts,
        "pages": pages.iter().map(|(name, url)| json!({"name": name, "url": url})).collect::<Vec<_>>(),
    });
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), config.to_string()).expect("write the config");
    let output = std::process::Command::new("node").arg(&script).arg(file.path()).output().expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(result) = stdout.lines().find_map(|line| line.strip_prefix("RESULT ")) else {
        panic!("settle.mjs gave no result ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    };
    serde_json::from_str::<Vec<Value>>(result).expect("settle.mjs's result is JSON")
}

fn numbers(visits: &Value, field: &str) -> Vec<f64> {
    visits.as_array().expect("visits").iter().map(|visit| visit[field].as_f64().expect("a number")).collect()
}

pub fn browser(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let server = BenchServer::start_with_pages().await;
        run_demo(&server.url).await;
        let demo_assembly = application(&server)
            .assembly_ids()
            .await
            .expect("assemblies")
            .into_iter()
            .find(|id| id.as_str().starts_with("demo-"))
            .expect("the demonstration convened an assembly");
        let demo_events = application(&server).log_size();
        let large_events = if quick { 2_000 } else { 10_000 };
        crate::page_benches::record(&server, large_events).await;
        let assemblies = if quick { 30 } else { 151 };
        convene_until(&server, assemblies).await;
        let log_events = application(&server).log_size();
        let pages_url = server.pages_url.clone().expect("pages");
        let contexts = if quick { 2 } else { 5 };
        let pages = [
            ("demo_assembly", format!("{pages_url}/assemblies/{}", demo_assembly.as_str()), DEMO_TARGET_MS),
            ("large_assembly", format!("{pages_url}/assemblies/{}", crate::page_benches::ASSEMBLY), LARGE_TARGET_MS),
            ("index", format!("{pages_url}/"), INDEX_TARGET_MS),
        ];
        let named: Vec<(&str, String)> = pages.iter().map(|(name, url, _)| (*name, url.clone())).collect();
        // The browser's work and the server's: let the server render each page once first, as
        // it would have for an earlier visitor, so that the timings are the visitor's.
        for (_, url, _) in &pages {
            let path = url.trim_start_matches(&pages_url);
            let address = pages_url.trim_start_matches("http://");
            let mut connection =
                tokio::io::BufReader::new(tokio::net::TcpStream::connect(address).await.expect("connect"));
            let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept-Encoding: gzip\r\n\r\n");
            crate::page_benches::get(&mut connection, request.as_bytes()).await;
        }
        let results = tokio::task::spawn_blocking(move || settle(&named, contexts)).await.expect("settle");
        for ((name, url, target), result) in pages.iter().zip(&results) {
            let checked = &result["checked"];
            let states: Vec<&str> =
                checked.as_array().expect("visits").iter().map(|v| v["state"].as_str().unwrap_or("none")).collect();
            assert!(states.iter().all(|s| *s == "verified"), "{url}: the badges were {states:?}, not all verified");
            let first = &checked[0];
            let requests: Vec<Value> = first["requests"]
                .as_array()
                .expect("requests")
                .iter()
                .map(|r| json!({"path": r["path"], "bytes": r["bytes"]}))
                .collect();
            let extra = json!({
                "contexts": contexts,
                "target_ms": target,
                "log_events": log_events,
                "demo_log_events": demo_events,
                "large_assembly_events": large_events,
                "assemblies": assemblies,
                "settled_ms_each": numbers(checked, "milliseconds"),
                "bytes_fetched": median(&mut numbers(checked, "bytes")),
                "baseline_bytes_fetched": median(&mut numbers(&result["unchecked"], "bytes")),
                "requests": requests,
                "baseline_name": "the same page with JavaScript off, navigation to the load event, same run",
            });
            emit(
                "browser",
                &format!("{name}_settled_ms"),
                median(&mut numbers(checked, "milliseconds")),
                "ms",
                median(&mut numbers(&result["unchecked"], "milliseconds")),
                extra,
            );
        }
        let module_bytes = |result: &Value| -> Option<f64> {
            result["checked"][0]["requests"]
                .as_array()?
                .iter()
                .find(|r| r["path"] == "/static/klero.wasm")
                .and_then(|r| r["bytes"].as_f64())
        };
        let module = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../browser/klero_browser.wasm");
        let raw = std::fs::metadata(&module).expect("the committed module").len();
        emit(
            "browser",
            "module_bytes_on_the_wire",
            module_bytes(&results[0]).expect("the page fetched the module"),
            "bytes",
            raw as f64,
            json!({"baseline_name": "the module's own size, uncompressed (services/browser/klero_browser.wasm)"}),
        );
        server.stop().await;
    });
}
