//! Tidy checks: they keep ARCHITECTURE.md and docs/RULES.md true, as plain tests.
//!
//! - The dependency rules of the code map, read from `cargo metadata`.
//! - Every crate of the workspace has its entry in the code map.
//! - The rule codes in the code, in docs/RULES.md and in the tests are one set, and a test
//!   names every code.

use klero_domain::RuleCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate sits in the workspace").to_path_buf()
}

/// A workspace crate's declared normal dependencies: name → whether it asks for klero-proto's
/// gRPC (default or `grpc` features).
struct Declared {
    normal: BTreeMap<String, bool>,
    any_kind: BTreeSet<String>,
}

fn declared_dependencies() -> BTreeMap<String, Declared> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut crates = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let mut declared = Declared { normal: BTreeMap::new(), any_kind: BTreeSet::new() };
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let name = dependency["name"].as_str().expect("name").to_string();
            declared.any_kind.insert(name.clone());
            // Optional dependencies come only with a feature; klero-proto's (tonic, behind
            // `grpc`) is followed through the features its dependents ask for.
            if dependency["kind"].is_null() && dependency["optional"].as_bool() != Some(true) {
                let features: Vec<&str> =
                    dependency["features"].as_array().expect("features").iter().filter_map(Value::as_str).collect();
                let grpc = dependency["uses_default_features"].as_bool() == Some(true) || features.contains(&"grpc");
                declared.normal.insert(name, grpc);
            }
        }
        crates.insert(package["name"].as_str().expect("name").to_string(), declared);
    }
    crates
}

/// Everything `root` depends on through normal dependencies: the workspace crates it reaches,
/// their external dependencies, and `tonic` when klero-proto is reached with its gRPC feature.
fn closure(crates: &BTreeMap<String, Declared>, root: &str) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(name) = stack.pop() {
        let Some(declared) = crates.get(&name) else { continue };
        for (dependency, grpc) in &declared.normal {
            if dependency == "klero-proto" && *grpc {
                reached.insert("tonic".to_string());
            }
            if reached.insert(dependency.clone()) {
                stack.push(dependency.clone());
            }
        }
    }
    reached
}

/// What a crate that runs beside the front ends (the cosigner, the notifier) never depends on:
/// the gRPC and HTTP front ends, a store implementation, anyhow, a solver.
const BESIDE_THE_FRONT_ENDS: &[&str] = &[
    "tonic",
    "klero-api",
    "klero-web",
    "klero-store-embedded",
    "klero-store-postgres",
    "anyhow",
    "microlp",
    "klero-selection",
];

#[test]
fn the_dependency_rules_of_the_code_map_hold() {
    let crates = declared_dependencies();
    let never: &[(&str, &[&str])] = &[
        ("klero-ledger", &["tokio", "tonic", "prost", "klero-store", "klero-domain", "serde_json"]),
        ("klero-store", &["klero-domain", "klero-proto", "tonic", "prost"]),
        ("klero-store-embedded", &["klero-domain", "klero-proto", "klero-log", "tonic", "prost"]),
        (
            "klero-store-postgres",
            &["klero-domain", "klero-proto", "klero-log", "klero-store-embedded", "tonic", "prost"],
        ),
        ("klero-store-conformance", &["klero-store-embedded", "klero-domain", "tonic", "prost"]),
        ("klero-log", &["klero-domain", "klero-proto", "klero-store-embedded", "tonic", "prost"]),
        ("klero-draw", &["microlp", "klero-selection", "tokio", "tonic", "prost"]),
        ("klero-domain", &["prost", "tonic", "tokio", "klero-store", "klero-proto", "microlp", "klero-selection"]),
        ("klero-catalogue", &["tonic", "tokio", "klero-store", "microlp"]),
        ("klero-projections", &["prost", "tonic", "tokio", "klero-store", "microlp"]),
        ("klero-fold", &["tonic", "tokio", "klero-store", "klero-log", "microlp"]),
        (
            "klero-verifier",
            &["tonic", "tokio", "klero-store", "klero-store-embedded", "klero-log", "microlp", "klero-selection"],
        ),
        (
            "klero-application",
            &[
                "tonic",
                "klero-api",
                "klero-web",
                "klero-transparency",
                "klero-notify",
                "axum",
                "hyper-util",
                "klero-store-embedded",
                "anyhow",
                "microlp",
                "klero-selection",
            ],
        ),
        (
            "klero-web",
            &[
                "tonic",
                "klero-api",
                "klero-store-embedded",
                "klero-store-postgres",
                "anyhow",
                "microlp",
                "klero-selection",
            ],
        ),
        ("klero-transparency", BESIDE_THE_FRONT_ENDS),
        ("klero-notify", BESIDE_THE_FRONT_ENDS),
        (
            "klero-pages",
            &["tonic", "tokio", "axum", "klero-store", "klero-log", "klero-application", "microlp", "klero-selection"],
        ),
        (
            "klero-browser",
            &[
                "tonic",
                "tokio",
                "axum",
                "klero-store",
                "klero-log",
                "klero-application",
                "klero-web",
                "microlp",
                "klero-selection",
                "getrandom",
            ],
        ),
        ("klero-api", &["anyhow", "klero-store-embedded"]),
        ("klero-client", &["klero-store", "klero-store-embedded", "klero-log", "klero-application", "klero-api"]),
        ("klero-selection", &["tokio", "tonic", "klero-store"]),
        ("klero-wiring", &["anyhow", "klero-testkit"]),
        ("klero-connections", &["tonic", "axum", "klero-log", "klero-store", "klero-domain", "anyhow"]),
    ];
    for (crate_name, forbidden) in never {
        let reached = closure(&crates, crate_name);
        for dependency in *forbidden {
            assert!(
                !reached.contains(*dependency),
                "{crate_name} depends on {dependency}, which ARCHITECTURE.md forbids"
            );
        }
    }
    // The ledger core's whole list of dependencies.
    let ledger: BTreeSet<&str> = crates["klero-ledger"].normal.keys().map(String::as_str).collect();
    let allowed: BTreeSet<&str> = ["sha2", "ed25519-dalek", "curve25519-dalek", "base64", "thiserror", "serde"].into();
    assert!(
        ledger.is_subset(&allowed),
        "klero-ledger depends on {:?}",
        ledger.difference(&allowed).collect::<Vec<_>>()
    );
    for (name, declared) in &crates {
        assert!(!declared.any_kind.contains("klero"), "{name} depends on the klero binary crate; nothing may");
        // The benchmarks and the black-box harness are not shipped.
        let ships = !matches!(name.as_str(), "klero-bench" | "klero-tests");
        assert!(
            !ships || !declared.normal.contains_key("klero-testkit"),
            "{name} ships klero-testkit's test builders; only dev-dependencies may use it"
        );
    }
}

#[test]
fn every_crate_has_its_entry_in_the_code_map() {
    let architecture = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for name in declared_dependencies().keys() {
        assert!(architecture.contains(&format!("`{name}`")), "ARCHITECTURE.md's code map has no entry for `{name}`");
    }
}

/// Every `a.b` code in backticks in the tables of docs/RULES.md.
fn documented_rule_codes() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(workspace_root().join("docs/RULES.md")).expect("docs/RULES.md");
    let mut codes = BTreeSet::new();
    for line in rules.lines().filter(|line| line.starts_with("| `")) {
        let code = line.trim_start_matches("| `").split('`').next().unwrap_or("");
        if code.contains('.') {
            codes.insert(code.to_string());
        }
    }
    codes
}

fn test_sources(directory: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            test_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn rule_codes_are_one_set_in_the_code_the_docs_and_the_tests() {
    let in_code: BTreeSet<String> = RuleCode::ALL
        .iter()
        .map(|rule| rule.as_str().to_string())
        .chain(klero_domain::text::FIELD_CHECK_CODES.iter().map(|code| code.to_string()))
        .collect();
    let documented = documented_rule_codes();
    assert_eq!(
        in_code.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "rule codes missing from docs/RULES.md"
    );
    assert_eq!(
        documented.difference(&in_code).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "docs/RULES.md lists codes the code does not have"
    );
    let root = workspace_root();
    let mut sources = Vec::new();
    test_sources(&root.join("tests/tests"), &mut sources);
    for service in std::fs::read_dir(root.join("services")).expect("services").flatten() {
        test_sources(&service.path().join("tests"), &mut sources);
    }
    let tests: String = sources
        .iter()
        .filter(|path| !path.ends_with("tidy.rs"))
        .map(|path| std::fs::read_to_string(path).expect("source"))
        .collect();
    let unexercised: Vec<&String> = in_code.iter().filter(|code| !tests.contains(&format!("\"{code}\""))).collect();
    assert!(unexercised.is_empty(), "no test names these rule codes: {unexercised:?}");
}

/// The event schema never reaches the page script: it knows no event type, no protobuf field
/// and no view's fields, because the browser derives pages with the module built from the same
/// crates as the server (klero-browser). A name of the record showing up in it means someone
/// began a second implementation of the fold in JavaScript.
#[test]
fn the_page_script_knows_nothing_of_the_record() {
    let root = workspace_root();
    let mut scripts = String::new();
    for directory in ["services/web/assets", "services/web/src"] {
        for entry in std::fs::read_dir(root.join(directory)).expect("a directory").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "js") {
                scripts.push_str(&std::fs::read_to_string(&path).expect("a script"));
            }
        }
    }
    assert!(scripts.contains("klero_check"), "the page script is where the tidy check looks");
    let mut names: BTreeSet<String> =
        klero_domain::DOMAIN_EVENT_TYPES.iter().map(|(name, _, _)| name.to_string()).collect();
    // The catalogue's protobuf packages, view names and fields, and the tools of a decoder.
    // (`log_index` is allowed: it is the receipt page's query parameter, an address of the site.)
    names.extend(
        [
            "klero.registry",
            "klero.assembly",
            "klero.selection",
            "klero.deliberation",
            "klero.recommendation",
            "klero.response",
            "klero.privacy",
            "recommendation_id",
            "event_hash",
            "sealed_commitment",
            "assembly-overview",
            "input-trace",
            "accountability",
            "decision",
            "rationale",
            "protobuf",
            "varint",
        ]
        .map(String::from),
    );
    let found: Vec<&String> = names.iter().filter(|name| scripts.contains(name.as_str())).collect();
    assert!(found.is_empty(), "the page script names the record's schema: {found:?}");
}

/// ARCHITECTURE.md's "Adding an event type" (issue 27): at most eight entries, each naming a
/// file that exists and the compiler's or a test's check that reports it missed.
#[test]
fn adding_an_event_type_is_a_short_list_that_checks_itself() {
    let root = workspace_root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = architecture.split("## Adding an event type").nth(1).expect("the section");
    let section = section.split("\n## ").next().unwrap_or(section);
    // Entries are the numbered lines; their continuation lines are indented.
    let mut entries: Vec<String> = Vec::new();
    for line in section.lines() {
        let numbered = line.split_once(". ").filter(|(number, _)| number.parse::<u32>().is_ok());
        match (numbered, entries.last_mut()) {
            (Some((_, text)), _) => entries.push(text.to_string()),
            (None, Some(entry)) if line.starts_with("   ") => {
                entry.push(' ');
                entry.push_str(line.trim());
            }
            _ => {}
        }
    }
    assert!(!entries.is_empty(), "the list has no numbered entries");
    assert!(entries.len() <= 8, "adding an event type takes {} entries; at most 8", entries.len());
    let stages = ["registry", "selection", "deliberation", "recommendation", "response", "privacy"];
    for entry in &entries {
        let paths: Vec<&str> =
            entry.split('`').skip(1).step_by(2).filter(|code| code.contains('/') && code.contains('.')).collect();
        assert!(!paths.is_empty(), "entry names no file: {entry}");
        for path in paths {
            // `<package>` and `<stage>` stand for any one of them; one must exist.
            let exists = if path.contains("<package>") {
                ["registry", "assembly", "selection", "deliberation", "recommendation", "response", "privacy"]
                    .iter()
                    .any(|p| root.join(path.replace("<package>", p)).exists())
            } else if path.contains("<stage>") {
                stages.iter().any(|stage| root.join(path.replace("<stage>", stage)).exists())
            } else {
                root.join(path).exists() || path.contains('*')
            };
            assert!(exists, "entry names {path}, which does not exist: {entry}");
        }
        let checked = ["(the compiler", "(the tidy test", "(the golden test"].iter().any(|c| entry.contains(c));
        assert!(checked, "entry names no check that reports it missed: {entry}");
    }
    // Entry 7's check: every event type is in its stream's row of docs/RULES.md.
    let rules = std::fs::read_to_string(root.join("docs/RULES.md")).expect("docs/RULES.md");
    let streams = rules.split("## Streams").nth(1).expect("the streams table");
    for (name, kind, _) in klero_domain::DOMAIN_EVENT_TYPES {
        // Registry events go to the platform's registry or a council's (`council/<id>`).
        let rows: Vec<String> = match kind {
            klero_domain::StreamKind::Registry => vec!["`registry`".to_string(), "`council/<id>`".to_string()],
            klero_domain::StreamKind::Assembly => vec!["`assembly/<id>`".to_string()],
            other => vec![format!("`assembly/<id>/{}`", format!("{other:?}").to_lowercase())],
        };
        let listed = rows.iter().any(|stream| {
            let row = streams.lines().find(|line| line.starts_with(&format!("| {stream} |")));
            let row = row.unwrap_or_else(|| panic!("docs/RULES.md has no row for the stream {stream}"));
            row.contains(&format!("`{name}`"))
        });
        let stream = rows.join(" or ");
        assert!(listed, "docs/RULES.md does not list {name} in the row of {stream}");
    }
}
