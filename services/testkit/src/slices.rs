//! Slices cut from the fixtures (docs/FORMAT.md §15), honest and attacked: the golden slice
//! vectors (`tests/tests/golden/slice-vectors.txt`) that the native verifier and the browser's
//! WebAssembly module must both judge as expected.
//!
//! An attacker here is competent: whatever proof it can recompute (it holds the whole log and
//! its trees) it recomputes, so that each case fails for the lie it tells, not for a stale
//! proof. What it never holds is an author's key, or (unless the case says so) the log key.

use crate::fixture::{self, Fixture};
use klero_ledger::checkpoint::{Checkpoint, LogSigningKey};
use klero_ledger::envelope::{AuthorPart, Envelope, SignedAuthorPart};
use klero_ledger::heads::HeadsTree;
use klero_ledger::merkle::MerkleTree;
use klero_ledger::Hash256;
use klero_verifier::slice::{cut, Slice, SliceTarget, WholeLog};
use klero_verifier::Opening;
use std::collections::HashMap;

/// One case: a page, what the browser already trusts, the slice it is given, and the verdict.
#[derive(Clone, Debug)]
pub struct SliceCase {
    pub name: &'static str,
    /// The page's address.
    pub page: String,
    /// The browser's request to the module, as JSON (`klero_browser::CheckRequest`).
    pub request: serde_json::Value,
    pub slice: Slice,
    /// `None` when the slice must check; otherwise the failure class it must fail with.
    pub expect: Option<&'static str>,
}

/// The log behind a fixture, with the trees an attacker recomputes proofs from.
struct Log {
    envelopes: Vec<Vec<u8>>,
    parsed: Vec<Envelope>,
    log_key: LogSigningKey,
    trust_root: [u8; 32],
}

impl Log {
    fn of(fixture: &Fixture) -> Log {
        let envelopes = fixture.export.events.clone();
        let parsed =
            envelopes.iter().map(|bytes| Envelope::parse(bytes.clone()).expect("fixture envelopes parse")).collect();
        Log { envelopes, parsed, log_key: fixture.log_key.clone(), trust_root: fixture.trust_root }
    }

    fn tree(&self) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for envelope in &self.parsed {
            tree.push_entry(&envelope.event_hash());
        }
        tree
    }

    fn heads(&self) -> HeadsTree {
        let mut chains = klero_ledger::chain::StreamChainChecker::new();
        for envelope in &self.parsed {
            chains.check_next(envelope, envelope.event_hash()).expect("fixture chains hold");
        }
        chains.heads_tree()
    }

    /// A checkpoint of the whole log, signed by `key` (the log's, unless a case forges).
    fn checkpoint(&self, key: &LogSigningKey, heads: Option<&HeadsTree>) -> String {
        let checkpoint = Checkpoint {
            origin: self.log_key.name().to_string(),
            tree_size: self.parsed.len() as u64,
            root_hash: self.tree().root(),
            stream_heads: heads.map(HeadsTree::commitment),
        };
        key.sign(&checkpoint).expect("sign").note().to_string()
    }

    fn cut(&self, target: &SliceTarget, documents: &HashMap<Hash256, Vec<u8>>, openings: &[Opening]) -> Slice {
        let note = self.checkpoint(&self.log_key, Some(&self.heads()));
        let log_key = self.log_key.verifier().to_vkey_string();
        let whole = WholeLog {
            envelopes: &self.envelopes,
            log_key: &log_key,
            trust_root: self.trust_root,
            documents,
            openings,
        };
        cut(&whole, &note, target, &[]).expect("the fixture's slices can be cut")
    }

    /// Recomputes the inclusion proof for the slice's events as they now stand, and the heads
    /// proof for its leaves: what an attacker who removed or moved something does.
    fn reprove(&self, slice: &mut Slice) {
        let tree = self.tree();
        let size = self.parsed.len() as u64;
        let indices: Vec<u64> = slice.events.iter().map(|(index, _)| *index).collect();
        slice.inclusion = tree.batch_inclusion_proof(&indices, size).expect("indices in the log");
        let positions: Vec<u64> = slice.heads.iter().map(|(position, _)| *position).collect();
        slice.heads_proof = self.heads().prove_positions(&positions).proof;
    }

    fn index_of(&self, matches: impl Fn(&Envelope) -> bool) -> u64 {
        self.parsed.iter().position(matches).expect("the fixture holds such an event") as u64
    }
}

fn request(page: &str) -> serde_json::Value {
    serde_json::json!({ "page": page })
}

fn assembly_page() -> String {
    format!("/assemblies/{}", fixture::ASSEMBLY)
}

fn assembly_target() -> SliceTarget {
    SliceTarget::Assembly(klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id"))
}

fn response_stream() -> String {
    format!("assembly/{}/response", fixture::ASSEMBLY)
}

/// The fixture's documents, by hash, as a server that holds them all would include them.
fn documents_of(fixture: &Fixture) -> HashMap<Hash256, Vec<u8>> {
    fixture.documents().into_iter().map(|bytes| (Hash256::of(&bytes), bytes)).collect()
}

/// Every case.
pub fn slice_cases() -> Vec<SliceCase> {
    let mut cases = Vec::new();
    let fixture = fixture::lifecycle();
    let log = Log::of(&fixture);
    let documents = documents_of(&fixture);
    let page = assembly_page();
    let honest = log.cut(&assembly_target(), &documents, &[]);
    let case = |name, request: serde_json::Value, slice: Slice, expect| SliceCase {
        name,
        page: request["page"].as_str().unwrap_or_default().to_string(),
        request,
        slice,
        expect,
    };

    // Honest slices of every kind check.
    cases.push(case("honest assembly", request(&page), honest.clone(), None));
    cases.push(case("honest index", request("/"), log.cut(&SliceTarget::Index { after: None }, &documents, &[]), None));
    cases.push(case(
        "honest dashboard",
        request("/dashboard"),
        log.cut(&SliceTarget::Dashboard { after: None }, &documents, &[]),
        None,
    ));
    let answer = log.index_of(|e| e.author().event_type == "klero.response.v1.ResponseIssued");
    cases.push(case(
        "honest event",
        request(&format!("/events/{answer}")),
        log.cut(&SliceTarget::Event(answer), &documents, &[]),
        None,
    ));
    let submission = log.index_of(|e| e.author().event_type == "klero.deliberation.v1.PublicSubmissionReceived");
    cases.push(case(
        "honest receipt trace",
        request(&format!("/receipt?log_index={submission}")),
        log.cut(&SliceTarget::Input(submission), &documents, &[]),
        None,
    ));

    // Omission: the newest event of a stream (the council's latest answer), a whole stream,
    // an event in the middle of a stream.
    let newest_answer = log.heads().head(&response_stream()).map(|head| head.revision).expect("a response stream");
    let mut omitted = honest.clone();
    omitted.events.retain(|(index, _)| {
        let e = &log.parsed[*index as usize];
        !(e.author().stream == response_stream() && e.ledger().stream_revision == newest_answer)
    });
    log.reprove(&mut omitted);
    cases.push(case("omit the newest answer", request(&page), omitted, Some("incomplete")));
    let mut no_stream = honest.clone();
    no_stream.events.retain(|(index, _)| log.parsed[*index as usize].author().stream != response_stream());
    let response_position =
        log.heads().positions(&klero_ledger::heads::StreamRange::exact(&response_stream())).start as u64;
    no_stream.heads.retain(|(position, _)| *position != response_position);
    log.reprove(&mut no_stream);
    cases.push(case("omit every answer (a whole stream)", request(&page), no_stream, Some("incomplete")));
    let recommendation_stream = format!("assembly/{}/recommendation", fixture::ASSEMBLY);
    let mut gap = honest.clone();
    gap.events.retain(|(index, _)| {
        let e = &log.parsed[*index as usize];
        !(e.author().stream == recommendation_stream && e.ledger().stream_revision == 1)
    });
    log.reprove(&mut gap);
    cases.push(case("omit a recommendation's event mid-stream", request(&page), gap, Some("incomplete")));

    // Transplant: two answers swapped between their places; an event made up.
    let answers: Vec<u64> = honest
        .events
        .iter()
        .filter(|(index, _)| log.parsed[*index as usize].author().stream == response_stream())
        .map(|(index, _)| *index)
        .collect();
    let mut swapped = honest.clone();
    let (a, b) = (answers[0], answers[2]);
    let bytes_a = log.envelopes[a as usize].clone();
    let bytes_b = log.envelopes[b as usize].clone();
    for (index, bytes) in swapped.events.iter_mut() {
        if *index == a {
            *bytes = bytes_b.clone();
        } else if *index == b {
            *bytes = bytes_a.clone();
        }
    }
    cases.push(case("transplant one answer to another's place", request(&page), swapped, Some("inclusion")));
    let mut invented = honest.clone();
    let last = invented.events.last().cloned().expect("events");
    let mut changed = last.1.clone();
    let at = changed.len() - 60;
    changed[at] ^= 1;
    invented.events.last_mut().expect("events").1 = changed;
    cases.push(case("alter an event's bytes", request(&page), invented, Some("inclusion")));

    // An event the page does not need.
    let mut extra = log.cut(&SliceTarget::Event(answer), &documents, &[]);
    let far = log
        .parsed
        .iter()
        .enumerate()
        .find(|(index, e)| {
            e.author().stream == response_stream()
                && *index as u64 > answer + 1
                && !extra.events.iter().any(|(i, _)| *i == *index as u64)
        })
        .map(|(index, _)| index as u64);
    if let Some(far) = far {
        extra.events.push((far, log.envelopes[far as usize].clone()));
        extra.events.sort_by_key(|(index, _)| *index);
        log.reprove(&mut extra);
        cases.push(case(
            "an event page with an event it does not need",
            request(&format!("/events/{answer}")),
            extra,
            Some("format"),
        ));
    }

    // What the browser saw before: an older record, a rewritten one, other keys.
    let size = log.parsed.len() as u64;
    let root = log.tree().root().to_hex();
    let seen = |size: u64, root: &str| serde_json::json!({ "page": page, "seen": { "size": size, "root": root } });
    cases.push(case(
        "a record older than the browser saw (frozen)",
        seen(size + 5, &root),
        honest.clone(),
        Some("stale"),
    ));
    let other_root = Hash256::of(b"another history").to_hex();
    cases.push(case(
        "a history other than the browser saw (fork)",
        seen(size, &other_root),
        honest.clone(),
        Some("fork"),
    ));
    let mut consistent = honest.clone();
    consistent.consistency = vec![(size - 4, log.tree().consistency_proof(size - 4, size).expect("proof"))];
    let earlier_root = log.tree().root_at(size - 4).expect("root").to_hex();
    cases.push(case(
        "a record extending the one the browser saw",
        seen(size - 4, &earlier_root),
        consistent.clone(),
        None,
    ));
    let forked_root = Hash256::of(b"rewritten").to_hex();
    cases.push(case(
        "a record not extending the one the browser saw",
        seen(size - 4, &forked_root),
        consistent,
        Some("fork"),
    ));
    let other_key = LogSigningKey::new(log.log_key.name(), crate::key("another log key")).expect("key");
    let pins = |log_key: String, trust_root: [u8; 32]| serde_json::json!({ "page": page, "pins": { "log_key": log_key, "trust_root": klero_ledger::hash::to_hex(&trust_root) } });
    cases.push(case(
        "a log key other than the pinned one",
        pins(other_key.verifier().to_vkey_string(), log.trust_root),
        honest.clone(),
        Some("pin"),
    ));
    cases.push(case(
        "a trust root other than the pinned one",
        pins(log.log_key.verifier().to_vkey_string(), [7; 32]),
        honest.clone(),
        Some("pin"),
    ));
    cases.push(case(
        "the pinned keys",
        pins(log.log_key.verifier().to_vkey_string(), log.trust_root),
        honest.clone(),
        None,
    ));

    // The next visit: heads an earlier slice showed hold (honest), or hid the newest answer
    // under a checkpoint whose heads lied (the log key's holder did it; caught now).
    let earlier_size = size - 2;
    let mut earlier_chains = klero_ledger::chain::StreamChainChecker::new();
    for envelope in &log.parsed[..earlier_size as usize] {
        earlier_chains.check_next(envelope, envelope.event_hash()).expect("chains hold");
    }
    let earlier: std::collections::BTreeMap<String, u64> =
        earlier_chains.heads().into_iter().map(|(stream, next, _)| (stream, next - 1)).collect();
    let with_heads = |streams: &std::collections::BTreeMap<String, u64>| serde_json::json!({ "page": page, "heads": { "size": earlier_size, "streams": streams } });
    cases.push(case("stream heads that held on the last visit", with_heads(&earlier), honest.clone(), None));
    let mut hid = earlier.clone();
    if let Some(revision) = hid.get_mut(&response_stream()) {
        *revision -= 1;
    }
    cases.push(case("an answer hidden on the last visit", with_heads(&hid), honest.clone(), Some("incomplete")));

    // Checkpoints: signed by another key; with no stream heads.
    let mut forged = honest.clone();
    forged.checkpoint = log.checkpoint(&other_key, Some(&log.heads()));
    cases.push(case("a checkpoint another key signed", request(&page), forged, Some("checkpoint")));
    let mut headless = honest.clone();
    headless.checkpoint = log.checkpoint(&log.log_key, None);
    cases.push(case("a checkpoint that commits to no stream heads", request(&page), headless, Some("checkpoint")));

    // Documents: altered, and one no event commits to.
    if let Some((hash, _)) = honest.documents.first().cloned() {
        let mut altered = honest.clone();
        altered.documents[0].1.extend_from_slice(b" (and more)");
        cases.push(case("a document's text altered", request(&page), altered, Some("document")));
        let mut stray = honest.clone();
        let bytes = b"a document no event commits to".to_vec();
        stray.documents.push((Hash256::of(&bytes), bytes));
        stray.documents.sort_by_key(|(hash, _)| *hash);
        cases.push(case("a document no event commits to", request(&page), stray, Some("document")));
        let _ = hash;
    }

    // Sealed text: an opening that does not match its commitment.
    let sealed = fixture::personal_data();
    let sealed_log = Log::of(&sealed);
    let openings = sealed.openings();
    let mut with_openings = sealed_log.cut(&assembly_target(), &documents_of(&sealed), &openings);
    cases.push(case("honest sealed text and erasure", request(&page), with_openings.clone(), None));
    if let Some(opening) = with_openings.openings.first_mut() {
        opening.text.push_str(" (edited)");
        cases.push(case("sealed text altered", request(&page), with_openings, Some("opening")));
    }

    // A server holding the log key, but no author's: a forged answer, an answer by a key with no
    // grant, an answer that breaks a rule. Each is in the log, under a checkpoint it signed.
    let decision_maker = crate::key("fixture: council decision-maker");
    let answered = &log.parsed[answer as usize];
    let forged_author =
        AuthorPart { authored_at_unix_ms: answered.author().authored_at_unix_ms + 1, ..answered.author().clone() };
    let mut forged_author = forged_author;
    forged_author.event_id.0[15] ^= 0x55;
    let last_byte = forged_author.payload.len() - 1;
    forged_author.payload[last_byte] ^= 1;
    let encoding = forged_author.encode().expect("encodes");
    let forged_signed = SignedAuthorPart::from_wire(encoding, answered.signed_author_part().signature()).expect("wire");
    cases.push(malicious(&log, forged_signed, &page, "an answer whose signature does not verify", "signature"));
    // Signed when the log records it (the rule event.authored_at_plausible holds).
    let now = log.parsed.last().map_or(0, |e| e.ledger().recorded_at_unix_ms) + MALICIOUS_STEP_MS;
    let intruder = crate::key("an intruder");
    let mut by_intruder = AuthorPart { authored_at_unix_ms: now, ..answered.author().clone() };
    by_intruder.author_public_key = intruder.verifying_key().to_bytes();
    by_intruder.event_id.0[15] ^= 0x66;
    cases.push(malicious(
        &log,
        by_intruder.sign(&intruder).expect("sign"),
        &page,
        "an answer by a key with no grant",
        "authority",
    ));
    let mut twice = AuthorPart { authored_at_unix_ms: now, ..answered.author().clone() };
    twice.event_id.0[15] ^= 0x77;
    cases.push(malicious(
        &log,
        twice.sign(&decision_maker).expect("sign"),
        &page,
        "a second answer to one recommendation",
        "rule",
    ));
    listing_cases(&mut cases);
    // A page of an assembly's submissions: each one's text, cited or not, and nothing else's.
    let submissions_target =
        SliceTarget::Submissions { assembly: klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id"), page: 1 };
    let submissions_page = format!("/assemblies/{}/submissions", fixture::ASSEMBLY);
    let submissions = log.cut(&submissions_target, &documents, &[]);
    cases.push(case("honest page of submissions", request(&submissions_page), submissions.clone(), None));
    // Residents' submissions: the published ones' text shows; a resident's contact and a
    // withheld submission's text never do, and a slice that shows either fails.
    let openings = fixture.openings();
    let with_residents = log.cut(&submissions_target, &documents, &openings);
    cases.push(case(
        "honest page of submissions, residents' published texts opened",
        request(&submissions_page),
        with_residents.clone(),
        None,
    ));
    for (name, field, text) in [
        ("a page that shows a resident's contact", "sealed_contact", "email: resident@example.org"),
        ("a page that shows a withheld submission's text", "sealed_text", "The council never listens."),
    ] {
        let leaked = openings
            .iter()
            .find(|o| o.field == field && o.text == text)
            .cloned()
            .unwrap_or_else(|| panic!("the fixture opens {text:?}"));
        let mut slice = with_residents.clone();
        slice.openings.push(leaked);
        slice.openings.sort_by(|a, b| (a.log_index, &a.field).cmp(&(b.log_index, &b.field)));
        cases.push(case(name, request(&submissions_page), slice, Some("opening")));
    }
    if let Some((hash, bytes)) = submissions.documents.first().cloned() {
        let mut altered = submissions.clone();
        let mut changed = bytes;
        changed[0] ^= 0x20;
        altered.documents[0] = (hash, changed);
        cases.push(case(
            "a submission's text altered on its page",
            request(&submissions_page),
            altered,
            Some("document"),
        ));
    }
    // The server's word on erasures rides along unchecked, and changes no verdict.
    let mut stated = honest.clone();
    stated.erasures_complete = Some(klero_verifier::slice::ErasuresComplete::Before(1_767_225_600_000));
    cases.push(case("honest assembly, with the server's word on erasures", request(&page), stated, None));
    cases
}

/// Listings longer than a page: honest pages (the first, whose slice also holds leaves past
/// its end as the registry's neighbours, and the later ones) and pages that leave an assembly
/// out or hide that more follow.
fn listing_cases(cases: &mut Vec<SliceCase>) {
    let listed = Log::of(&fixture::many_assemblies(23));
    let documents = HashMap::new();
    let after = |id: &str| Some(klero_domain::AssemblyId::parse(id).expect("id"));
    let honest = |name, page: &str, target: SliceTarget| SliceCase {
        name,
        page: page.to_string(),
        request: request(page),
        slice: listed.cut(&target, &documents, &[]),
        expect: None,
    };
    let first_page = listed.cut(&SliceTarget::Index { after: None }, &documents, &[]);
    cases.push(honest("honest index, the first of two pages", "/", SliceTarget::Index { after: None }));
    cases.push(honest(
        "honest index, the second page",
        "/?after=listed-19",
        SliceTarget::Index { after: after("listed-19") },
    ));
    cases.push(honest(
        "honest dashboard, the third page",
        "/dashboard?after=listed-19",
        SliceTarget::Dashboard { after: after("listed-19") },
    ));
    // An assembly left out of the page: its stream's leaf and its events, with proofs remade.
    let mut skipped = first_page.clone();
    let left_out = |stream: &str| stream == "assembly/listed-05";
    skipped.heads.retain(|(_, entry)| {
        !left_out(&klero_ledger::heads::StreamHead::parse_entry(entry).expect("a head entry").stream)
    });
    skipped.events.retain(|(index, _)| !left_out(&listed.parsed[*index as usize].author().stream));
    listed.reprove(&mut skipped);
    cases.push(SliceCase {
        name: "an index page that leaves an assembly out",
        page: "/".into(),
        request: request("/"),
        slice: skipped,
        expect: Some("incomplete"),
    });
    // The leaf that ends the page removed: nothing shows that more assemblies follow.
    let mut unended = first_page;
    unended.heads.retain(|(_, entry)| {
        klero_ledger::heads::StreamHead::parse_entry(entry).expect("a head entry").stream != "assembly/listed-20"
    });
    listed.reprove(&mut unended);
    cases.push(SliceCase {
        name: "an index page that hides that more assemblies follow",
        page: "/".into(),
        request: request("/"),
        slice: unended,
        expect: Some("incomplete"),
    });
}

/// How long after the fixture's last event a malicious server records its own.
const MALICIOUS_STEP_MS: u64 = 60_000;

/// The fixture's log with `event` appended on its stream, under a checkpoint the log key signs.
fn malicious(log: &Log, event: SignedAuthorPart, page: &str, name: &'static str, expect: &'static str) -> SliceCase {
    let mut builder = crate::ExportBuilder::new(log.log_key.clone(), log.trust_root).extend_from(&log.envelopes);
    let recorded = log.parsed.last().map_or(0, |e| e.ledger().recorded_at_unix_ms) + MALICIOUS_STEP_MS;
    builder.append_signed(&event, recorded);
    let export = builder.finish();
    let grown = Log {
        parsed: export.events.iter().map(|b| Envelope::parse(b.clone()).expect("parses")).collect(),
        envelopes: export.events,
        log_key: log.log_key.clone(),
        trust_root: log.trust_root,
    };
    let slice = grown.cut(&assembly_target(), &HashMap::new(), &[]);
    SliceCase { name, page: page.to_string(), request: request(page), slice, expect: Some(expect) }
}
