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

/// How the page escapes what the public wrote (askama's escaping), for the proxy to find it.
/// The event hash of the event at `log_index`, from its receipt.
async fn submission_hash(client: &mut KleroClient, log_index: u64) -> Vec<u8> {
    let bundle = klero_ledger::bundle::ProofBundle::parse(&client.proof_bundle(log_index).await.expect("a receipt"))
        .expect("a bundle");
    klero_ledger::envelope::event_hash_of_envelope_bytes(&bundle.envelope).0.to_vec()
}

/// Waits until a checkpoint covers the log as it is, so that pages show it.
async fn checkpoint_now(server: &PagesServer) {
    let size = server.server.running.application().log_size();
    server.server.running.application().checkpoint_covering(size).await.expect("a checkpoint covers it");
}

fn sha256_of(text: &str) -> Vec<u8> {
    klero_ledger::Hash256::of(text.as_bytes()).0.to_vec()
}

fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&#60;".to_string(),
            '>' => "&#62;".to_string(),
            '&' => "&#38;".to_string(),
            '"' => "&#34;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A witness on a loopback port for the test servers' log key.
async fn start_witness(directory: &Path) -> klero_transparency::WitnessEndpoint {
    use klero_ledger::checkpoint::{LogSigningKey, LogVerifierKey};
    let key = klero_ledger::cosignature::CosignerKey::new("witness.test/w1", klero_tests::key("browser witness"))
        .expect("witness key");
    let vkey = key.verifier();
    let log = LogVerifierKey::parse_vkey(
        &LogSigningKey::new("klero.test/blackbox", klero_tests::key("log key"))
            .expect("key")
            .verifier()
            .to_vkey_string(),
    )
    .expect("vkey");
    let witness =
        std::sync::Arc::new(klero_transparency::Witness::open(key, vec![log], directory.join("w1")).expect("opens"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(witness.serve(listener, std::future::pending()));
    klero_transparency::WitnessEndpoint { url, key: vkey }
}

/// Waits until the pages of `server` serve a cosigned checkpoint of the whole log: one of an
/// earlier size, cosigned while a later one was still out with the witness, is not enough.
async fn wait_for_cosignature(server: &PagesServer) {
    let size = server.client().await.checkpoint().await.expect("checkpoint").tree_size;
    for _ in 0..100 {
        let note = get(&server.pages(), "/checkpoint").await.text();
        let served_size = note.lines().nth(1).and_then(|line| line.parse::<u64>().ok());
        if note.contains("witness.test/w1") && served_size == Some(size) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the witness never cosigned the checkpoint of {size} events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_read_and_their_browser_verifies() {
    let (chromium, script) = require_browser();
    let mut a = PagesServer::start().await;
    let b = PagesServer::start().await;
    let c = PagesServer::start_with("another council", Vec::new()).await;
    let recorded_a = record(&a, "pages-browser").await;
    // B: the same log key, another history, longer than A's.
    let recorded_b = record(&b, "pages-fork").await;
    // A also serves a council of its own (issue 29): registered by A's trust root, with an
    // assembly its own root's convenor convened, for the programme's pages. 3 events.
    {
        let mut client = a.client().await;
        let root = klero_client::Author::new(key("pages: north root"));
        let convenor = klero_client::Author::new(key("pages: north convenor"));
        let registration = pb::registry::CouncilRegistered {
            council_id: "north".into(),
            name: "North Council".into(),
            root_public_key: root.public_key().to_vec(),
        };
        let platform = klero_client::Author::new(key("trust root"));
        let grant = pb::registry::KeyGranted {
            public_key: convenor.public_key().to_vec(),
            role: pb::registry::Role::Convenor as i32,
            scope: "*".into(),
            holder_title: "Head of democratic services".into(),
        };
        for event in [
            a.sign_now(&platform, "north.transport", &registration),
            a.sign_now(&root, "north.transport", &grant),
            a.sign_now(&convenor, "north.transport", &convened("north.transport")),
        ] {
            client.append(&event, None).await.expect("the council's record");
        }
    }
    let mut client_b = b.client().await;
    // Beyond A's own growth (3 events of its council above, and 8 in the script: a submission
    // while the browser watches, one through the plain form, one signed in the browser, its
    // withholding, appeal, publication and citation, and one signed from the Welsh form), so
    // that B's history is the longer one.
    for n in 0..13 {
        let extra = b.sign_now(&Cast::new("pages").facilitator, "pages-fork", &submission(format!("s999{n}")));
        client_b.append(&extra, None).await.expect("B grows beyond A");
    }
    // C: the same log key, another trust root.
    let recorded_c = record_as(&c, "pages-other-keys", &Cast::with_council("pages", "another council")).await;
    // A witnessed log, and a fork of it under the same log key that its witness never cosigns.
    let witnesses = tempfile::tempdir().expect("temp dir");
    let witness = start_witness(witnesses.path()).await;
    let witnessed = PagesServer::start_with("trust root", vec![witness.clone()]).await;
    let recorded_witnessed = record(&witnessed, "pages-witnessed").await;
    wait_for_cosignature(&witnessed).await;
    let split = PagesServer::start_with("trust root", vec![witness]).await;
    let recorded_split = record(&split, "pages-split").await;

    let directory = tempfile::tempdir().expect("temp dir");
    let screenshot =
        std::env::var("KLERO_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|_| directory.path().join("assembly.png"));
    let config = serde_json::json!({
        "chromium": chromium,
        "a": {"pages": a.pages(), "assembly": recorded_a.assembly, "response": recorded_a.response,
              "clockOffsetMs": a.offset_ms.load(Ordering::SeqCst),
              "facilitator_grant": recorded_a.facilitator_grant, "submission": recorded_a.submission,
              "uncited": recorded_a.uncited_submission},
        "b": {"pages": b.pages(), "assembly": recorded_b.assembly},
        "c": {"pages": c.pages(), "assembly": recorded_c.assembly},
        "witnessed": {"pages": witnessed.pages(), "assembly": recorded_witnessed.assembly},
        "split": {"pages": split.pages(), "assembly": recorded_split.assembly},
        "rationale": RATIONALE,
        "submissionHtml": escaped(SCRIPT_SUBMISSION),
        "screenshot": screenshot,
        "screenshotDir": std::env::var("KLERO_SCREENSHOT_DIR").ok(),
    });
    let config_path = directory.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).expect("config");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&config_path)
        .current_dir(workspace().join("tests/browser"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().expect("stdout")));
    let mut result = None;
    while let Some(line) = lines.next_line().await.expect("read") {
        if line == "PHASE grow" {
            // The record grows while the browser watches: another submission to A.
            let mut client = a.client().await;
            let grown = a.sign_now(&Cast::new("pages").facilitator, "pages-browser", &submission("s7777"));
            client.append(&grown, None).await.expect("A grows");
            let size = a.server.running.application().log_size();
            a.server.running.application().checkpoint_covering(size).await.expect("a checkpoint covers it");
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n").await.expect("write");
        } else if let Some((decided, log_index)) = line
            .strip_prefix("PHASE withhold ")
            .map(|n| ("withhold", n))
            .or_else(|| line.strip_prefix("PHASE publish ").map(|n| ("publish", n)))
        {
            // A moderator withholds the resident's submission; after the appeal, another
            // publishes it.
            let log_index: u64 = log_index.parse().expect("a log index");
            let mut client = a.client().await;
            let hash = submission_hash(&mut client, log_index).await;
            let (moderator, decision, reason) = match decided {
                "withhold" => ("pages: moderator", pb::deliberation::ModerationDecision::Withhold, "personal_attack"),
                _ => ("pages: second moderator", pb::deliberation::ModerationDecision::Publish, ""),
            };
            let moderator = klero_client::Author::new(key(moderator));
            let published = pb::deliberation::SubmissionModerated {
                submission_event_hash: hash,
                decision: decision as i32,
                reason: reason.into(),
            };
            client.append(&a.sign_now(&moderator, "pages-browser", &published), None).await.expect("published");
            checkpoint_now(&a).await;
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n").await.expect("write");
        } else if let Some(log_index) = line.strip_prefix("PHASE cite ") {
            // R1, which the council answered, cites it.
            let log_index: u64 = log_index.parse().expect("a log index");
            let mut client = a.client().await;
            let hash = submission_hash(&mut client, log_index).await;
            let cited = pb::recommendation::RecommendationInputsCited {
                recommendation_id: "R1".into(),
                text_hash: sha256_of(R1_TEXT),
                citations: vec![pb::deliberation::InputCitation {
                    input_event_hash: hash,
                    note: "a crossing is in the plan".into(),
                }],
            };
            let secretary = &Cast::new("pages").secretary;
            client.append(&a.sign_now(secretary, "pages-browser", &cited), None).await.expect("cited");
            checkpoint_now(&a).await;
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n").await.expect("write");
        } else if line == "PHASE restart" {
            // The operator restarts the server (pages at the same address).
            a = a.restarted().await;
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n").await.expect("write");
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(json.to_string());
        }
    }
    let output = child.wait_with_output().await.expect("node ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser script failed:\n{stderr}");
    let seen: serde_json::Value = serde_json::from_str(&result.expect("a result")).expect("JSON");
    if let Ok(path) = std::env::var("KLERO_BROWSER_REPORT") {
        std::fs::write(path, serde_json::to_string_pretty(&seen).expect("JSON")).expect("report");
    }

    // An honest server: every kind of page verifies, and shows the record.
    for (path, page) in seen["pages"].as_object().expect("pages") {
        assert_eq!(page["status"], 200, "{path}");
        let expected = if path == "/receipt" { "neutral" } else { "verified" };
        assert_eq!(page["state"], expected, "{path}: {page:#}");
    }
    let assembly = format!("/assemblies/{}", recorded_a.assembly);
    let page = &seen["pages"][&assembly];
    assert_eq!(page["badge"], "✓ Verified");
    let text = page["text"].as_str().expect("text");
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
        SCRIPT_TITLE,
        SCRIPT_SUBMISSION,
        "Read every submission, numbered, with what became of it",
        // An honest record with a document never uploaded stays verified, and says so.
        NEVER_UPLOADED_TITLE,
        "This server holds no copy of the evidence",
        // The date a session was held, not only the day it was recorded.
        "Held on 17 January 2026",
    ] {
        assert!(text.contains(shown), "the page shows {shown:?}");
    }
    let erased =
        seen["pages"][format!("/receipt?log_index={}", recorded_a.uncited_submission)]["text"].as_str().unwrap_or("");
    assert!(erased.contains("Erased on 21 March 2026"), "an erased document's receipt says so: {erased}");
    // When an erasure was complete in the server's old copies: its word, and said to be.
    assert!(
        text.contains("This server says these 2 erasures are complete in every copy it keeps")
            && text.contains("Your browser cannot check this"),
        "the assembly page says what the server says of its copies"
    );
    assert!(erased.contains("This server says this erasure is complete in every copy it keeps"), "{erased}");
    // Every submission, cited or not, numbered, with its text and what became of it.
    let submissions = seen["pages"][format!("{assembly}/submissions")]["text"].as_str().unwrap_or("");
    for shown in [
        "Submission 1",
        SCRIPT_SUBMISSION,
        "Cited by R1: adopted by the panel; the council's answer: Accepted",
        "Submission 2",
        "Erased on 21 March 2026",
        "No recommendation and no answer of the council cites it.",
        "Submission 3",
        UNCITED_SUBMISSION,
    ] {
        assert!(submissions.contains(shown), "the submissions page shows {shown:?}: {submissions}");
    }
    assert!(!text.contains(ERASED_NOTE), "an erased note never shows");
    let steps =
        page["steps"].as_array().expect("steps").iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join("\n");
    assert!(steps.contains("no event of the page's") && steps.contains("signatures"), "{steps}");
    assert!(seen["pages"]["/dashboard"]["text"].as_str().unwrap_or("").contains("1 overdue"));
    let receipt = seen["pages"][format!("/receipt?log_index={}", recorded_a.submission)]["text"].as_str().unwrap_or("");
    assert!(receipt.contains(RATIONALE), "a submission is followed to the council's answer");
    let honest = &seen["honest"];
    assert_eq!(honest["scripts"], serde_json::json!(["/static/klero.js"]), "no script but the page's own");
    for empty in ["dialogs", "errors", "cookies"] {
        assert_eq!(honest[empty], serde_json::json!([]), "{empty}");
    }
    assert_eq!(honest["headers"]["content-security-policy"], klero_web::CONTENT_SECURITY_POLICY);
    assert_eq!(seen["requestsElsewhere"], serde_json::json!([]), "no request leaves the servers");

    // Without JavaScript the page is complete, and says it was not checked.
    let nojs = &seen["nojs"];
    assert!(nojs["text"].as_str().unwrap_or("").contains(RATIONALE));
    assert_eq!(nojs["badge"], "Not checked");
    // Issue 28: a resident with no script submits through the plain form, and is told where it is.
    let submitted = &nojs["submitted"];
    assert_eq!(submitted["status"], 201, "{submitted:#}");
    assert!(submitted["heading"].as_str().unwrap_or("").contains("your submission is in the record"), "{submitted:#}");
    assert!(submitted["text"].as_str().unwrap_or("").contains("received from the web form"), "{submitted:#}");

    // Issue 28: with scripts, the resident's own browser signs the submission with a key only it
    // holds; the record says so, and the receipt page, checked, shows it awaiting moderation.
    let signed = &seen["signed"];
    assert!(signed["note"].as_str().unwrap_or("").contains("signed in this browser"), "{signed:#}");
    assert!(signed["note"].as_str().unwrap_or("").contains("Download your receipt"), "{signed:#}");
    let log_index: u64 = signed["receipt"]
        .as_str()
        .and_then(|r| r.strip_prefix("/receipt?log_index="))
        .and_then(|n| n.parse().ok())
        .expect("a receipt link");
    assert_eq!(signed["mine"][0]["log_index"], log_index, "the browser keeps what it sent");
    assert_eq!(signed["listed"], signed["receipt"], "coming back, the receipt page lists it: {signed:#}");
    assert_eq!(signed["followed"]["state"], "verified", "{signed:#}");
    assert!(signed["followed"]["text"].as_str().unwrap_or("").contains("Awaiting moderation"), "{signed:#}");
    let withheld = &signed["withheld"];
    assert_eq!(withheld["state"], "verified", "{signed:#}");
    assert!(
        withheld["text"].as_str().unwrap_or("").contains("Withheld by a moderator (personal attack)"),
        "{withheld:#}"
    );
    assert_eq!(withheld["appealOffered"], true, "the browser that sent it is offered the appeal");
    assert!(withheld["appealed"].as_str().unwrap_or("").contains("Your appeal is in the record"), "{withheld:#}");
    let published = signed["published"]["text"].as_str().unwrap_or("");
    assert_eq!(signed["published"]["state"], "verified", "{signed:#}");
    assert!(published.contains("A crossing by the library, signed in my own browser."), "published: {published}");
    let cited = signed["cited"]["text"].as_str().unwrap_or("");
    assert_eq!(signed["cited"]["state"], "verified", "{signed:#}");
    assert!(cited.contains("a crossing is in the plan") && cited.contains("Accepted"), "cited, answered: {cited}");
    // After the server restarts, the same browser still follows it, checked.
    let restarted = signed["restarted"]["text"].as_str().unwrap_or("");
    assert_eq!(signed["restarted"]["state"], "verified", "{signed:#}");
    assert!(restarted.contains("a crossing is in the plan") && restarted.contains("Accepted"), "{restarted}");

    // In Welsh: verified, and said in Welsh; the Welsh form signs and answers in Welsh; axe finds
    // nothing.
    let welsh = &seen["welsh"];
    assert_eq!(welsh["assembly"]["state"], "verified", "{welsh:#}");
    assert_eq!(welsh["assembly"]["badge"], "✓ Wedi'i wirio", "{welsh:#}");
    assert!(welsh["assembly"]["summary"].as_str().unwrap_or("").starts_with("Ailadeiladodd eich porwr"), "{welsh:#}");
    assert!(welsh["note"].as_str().unwrap_or("").contains("Wedi dod i law"), "{welsh:#}");
    assert!(welsh["receipt"].as_str().unwrap_or("").starts_with("/cy/receipt?log_index="), "{welsh:#}");
    assert_eq!(welsh["status"]["state"], "verified", "{welsh:#}");
    assert!(welsh["status"]["text"].as_str().unwrap_or("").contains("Yn aros am gymedroli"), "{welsh:#}");
    for (path, violations) in welsh["axe"].as_object().expect("axe") {
        assert_eq!(violations, &serde_json::json!([]), "{path}");
    }
    for (prefix, fit) in welsh["narrow"].as_object().expect("320 px") {
        let width = fit["width"].as_f64().expect("width");
        assert!(fit["scrollWidth"].as_f64().expect("scrollWidth") <= width, "{prefix} at 320 px: {fit}");
        assert!(fit["formRight"].as_f64().expect("the form") <= width, "{prefix}: the form fits at 320 px: {fit}");
    }
    let mut client = a.client().await;
    let chain = read_stream_chain(&mut client, "assembly/pages-browser/deliberation").await;
    let intake = klero_client::Author::new(key(INTAKE_KEY)).public_key();
    let by_browser = chain
        .iter()
        .filter(|e| e.author().event_type.ends_with("ResidentSubmitted"))
        .find(|e| e.author().author_public_key != intake)
        .expect("one signed by the browser's own key");
    let Ok(klero_domain::DomainEvent::ResidentSubmitted(submitted)) = klero_fold::LogFold::decode(by_browser) else {
        panic!("a resident's submission")
    };
    assert_eq!(submitted.path, klero_domain::SubmissionPath::Browser);
    assert!(submitted.contact.is_some(), "the email is sealed as the contact");

    // Accessibility: no violation on any page; the keyboard and a phone's screen work.
    for (path, violations) in seen["axe"].as_object().expect("axe") {
        assert_eq!(violations, &serde_json::json!([]), "{path}");
    }
    assert_eq!(seen["firstTab"], "Skip to the content", "the keyboard reaches the skip link first");
    for (path, phone) in seen["phone"].as_object().expect("phone") {
        assert!(phone["scrollWidth"].as_u64() <= phone["width"].as_u64(), "{path} runs off a phone's screen: {phone}");
        if let Some(height) = phone["chartTextPx"].as_f64() {
            assert!(height >= 11.0, "{path}: the quota chart's text is {height} px high on a phone");
        }
    }
    assert_eq!(seen["phone"]["/dashboard"]["scrollHint"], true, "the dashboard says its table scrolls");

    // Every lie, in the markup or in the slice, fails the badge, and the page then shows what
    // the browser derived, not the lie.
    let lies = seen["lies"].as_object().expect("lies");
    assert!(lies.len() >= 27, "every kind of lie ran");
    for (name, lie) in lies {
        assert_eq!(lie["applied"], true, "{name}: the proxy told its lie");
        assert_eq!(lie["state"], "failed", "{name}: {lie:#}");
        assert_eq!(lie["badge"], "✗ Not verified", "{name}");
    }
    assert_eq!(
        lies["transplant an answer"]["where"], "The council's answer to R2",
        "{:#}",
        lies["transplant an answer"]
    );
    assert_eq!(lies["a slice with an event left out"]["class"], "inclusion");
    assert_eq!(
        seen["serverWord"],
        serde_json::json!({"state": "verified", "showsLie": false}),
        "a lie marked as the server's word is skipped by the comparison, and never shown"
    );

    // A frozen page after the browser saw a newer record.
    let freeze = &seen["freeze"];
    assert_eq!(
        (&freeze["before"], &freeze["grown"]),
        (&serde_json::json!("verified"), &serde_json::json!("verified")),
        "{freeze:#}"
    );
    assert_eq!(freeze["frozen"]["state"], "failed", "{freeze:#}");
    assert_eq!(freeze["frozen"]["class"], "stale", "{freeze:#}");
    assert_eq!(freeze["after"], "verified", "the honest page checks again once it is served: {freeze:#}");

    // A forked log is caught on the visit after the browser saw the honest one.
    assert_eq!(seen["fork"]["before"], "verified");
    assert_eq!(seen["fork"]["forked"]["class"], "fork", "{:#}", seen["fork"]);

    // Other keys: explained, with a way to trust the new ones after reading why.
    let keys = &seen["keys"];
    assert_eq!(keys["before"], "verified");
    assert_eq!(keys["swapped"]["class"], "pin", "{keys:#}");
    assert!(keys["swapped"]["summary"].as_str().unwrap_or("").contains("not the ones your browser trusts"), "{keys:#}");
    assert_eq!(keys["button"], true, "the visitor is offered to trust the new keys");
    assert_eq!(keys["recovered"]["state"], "verified", "after resetting, the record checks: {keys:#}");

    // Witnesses: a cosigned record names its witness; a split view fails on the first visit.
    assert_eq!(seen["witnessed"]["state"], "verified", "{:#}", seen["witnessed"]);
    assert!(seen["witnessed"]["steps"].to_string().contains("witness.test/w1"), "{:#}", seen["witnessed"]);
    assert_eq!(seen["splitView"]["class"], "witness", "{:#}", seen["splitView"]);

    // The standalone verifier on another origin checks A across origins.
    let standalone = &seen["standalone"];
    assert_eq!(standalone["badge"], "✓ Verified", "{standalone:#}");
    assert!(standalone["derived"].as_str().unwrap_or("").contains(RATIONALE), "{standalone:#}");

    for server in [a, b, c, witnessed, split] {
        server.server.stop().await;
    }
}
