//! The log as C2SP tlog-tiles, read by code we did not write, and witness cosigning on loopback.
//!
//! - A third-party reader (Cloudflare's `tlog_tiles` and `signed_note`, ported from Go's sumdb)
//!   fetches klero's checkpoint and tiles over HTTP, checks the checkpoint's signature,
//!   recomputes the root from the tiles, and checks inclusion and consistency proofs it builds
//!   from them itself.
//! - Two witnesses (`klero_transparency::Witness`) run on loopback ports and a third port has
//!   nothing behind it; the server's cosignatures from the two verify by the spec, written out
//!   here from C2SP tlog-cosignature with ed25519-dalek, and a witness policy counts them.
//! - Every refusal the tlog-witness spec names, with its status.

use klero_application::Clock;
use klero_client::KleroClient;
use klero_ledger::checkpoint::{LogSigningKey, LogVerifierKey};
use klero_ledger::cosignature::{CosignerKey, CosignerVerifierKey, WitnessPolicy};
use klero_ledger::witness::AddCheckpointRequest;
use klero_ledger::Hash256;
use klero_tests::*;
use klero_transparency::{Witness, WitnessEndpoint};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tlog_tiles::tile::{Tile, TileHashReader, TileReader};
use tlog_tiles::tlog;

const ORIGIN: &str = "klero.test/blackbox";

/// A blocking HTTP/1.1 exchange (the third-party reader's interface is synchronous).
fn http(base: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let address = base.strip_prefix("http://").expect("http URL");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    parse_http_response(&raw)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The third party's tile reader, over HTTP. Its tiles have height 8; only the path layout
/// differs from Go's sumdb (`tile/8/0/…` there, `tile/0/…` in C2SP), so this maps paths and
/// nothing else.
struct HttpTiles {
    base: String,
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog::Error> {
        tiles
            .iter()
            .map(|tile| {
                let path = tile.path().replacen("tile/8/", "tile/", 1);
                let (status, _, body) = http(&self.base, "GET", &format!("/{path}"), b"");
                if status == 200 {
                    Ok(body)
                } else {
                    Err(tlog::Error::InvalidTile)
                }
            })
            .collect()
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

fn system_clock() -> Clock {
    klero_application::system_clock()
}

/// A server with tiles and `witnesses`, and an assembly of `submissions` public submissions.
async fn server_with_log(
    directory: &std::path::Path,
    witnesses: Vec<WitnessEndpoint>,
    submissions: usize,
) -> (RunningServer, KleroClient) {
    let trust_root = key("trust root").verifying_key().to_bytes();
    let server = start_server_with_witnesses(directory, trust_root, system_clock(), witnesses).await;
    let mut client = KleroClient::connect(&server.url).await.expect("connect");
    let cast = Cast::new("tiles");
    assembly_with_panel(&mut client, &cast, "tiles").await;
    let signed: Vec<_> =
        (0..submissions).map(|n| sign(&cast.facilitator, "tiles", &submission(format!("t{n}")))).collect();
    for batch in signed.chunks(50) {
        client.append_batch("assembly/tiles/deliberation", batch, None).await.expect("batch append");
    }
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_reader_verifies_the_log_from_its_tiles() {
    let directory = tempfile::tempdir().expect("temp dir");
    // 600 submissions and 9 set-up events: two full level-0 tiles, a partial one, and a
    // partial level-1 tile.
    let (server, mut client) = server_with_log(directory.path(), Vec::new(), 600).await;
    let checkpoint = client.checkpoint().await.expect("checkpoint");
    let size = checkpoint.tree_size;
    assert_eq!(size, 609);
    let base = server.pages_url.clone().expect("tiles served");
    let vkey = LogSigningKey::new(ORIGIN, key("log key")).expect("key").verifier().to_vkey_string();
    let old_size = 300u64;
    let application = server.running.application().clone();
    let expected_entries: Vec<Vec<u8>> = {
        let (events, _) = application.read_log(0, 1000).await.expect("read the log");
        events.iter().map(|e| e.event_hash.0.to_vec()).collect()
    };
    let old_root = {
        let mut tree = klero_ledger::merkle::MerkleTree::new();
        for entry in &expected_entries[..old_size as usize] {
            tree.push_entry(&Hash256(entry[..].try_into().expect("32 bytes")));
        }
        tree.root()
    };
    let base_for_reader = base.clone();
    let checked = tokio::task::spawn_blocking(move || {
        // The checkpoint, verified by the third party's signed-note code with our vkey.
        let (status, headers, note) = http(&base_for_reader, "GET", "/checkpoint", b"");
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), Some("text/plain; charset=utf-8"));
        assert!(header(&headers, "cache-control").is_some_and(|c| c.contains("max-age=2")), "{headers:?}");
        let note = signed_note::Note::from_bytes(&note).expect("a signed note");
        let verifier = signed_note::StandardVerifier::new(&vkey).expect("our vkey parses");
        note.verify(&signed_note::VerifierList::new(vec![Box::new(verifier)])).expect("the log's signature verifies");
        let parsed = tlog_tiles::checkpoint::Checkpoint::from_bytes(note.text()).expect("a C2SP checkpoint");
        assert_eq!(parsed.origin(), ORIGIN);
        let (size, root) = (parsed.size(), *parsed.hash());

        // The root, recomputed from tiles the reader authenticates against it.
        let tiles = HttpTiles { base: base_for_reader.clone() };
        let reader = TileHashReader::new(size, root, &tiles);
        assert_eq!(tlog::tree_hash(size, &reader).expect("tree hash from tiles"), root);

        // Every entry bundle holds the event hashes; each is proven in the tree.
        let mut entries = Vec::new();
        for index in 0..size.div_ceil(256) {
            let width = (size - index * 256).min(256);
            let path = if width == 256 {
                format!("/tile/entries/{index:03}")
            } else {
                format!("/tile/entries/{index:03}.p/{width}")
            };
            let (status, headers, bundle) = http(&base_for_reader, "GET", &path, b"");
            assert_eq!(status, 200, "{path}");
            assert_eq!(header(&headers, "content-type"), Some("application/octet-stream"));
            assert!(header(&headers, "cache-control").is_some_and(|c| c.contains("immutable")));
            let mut rest = &bundle[..];
            while !rest.is_empty() {
                let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                entries.push(rest[2..2 + length].to_vec());
                rest = &rest[2 + length..];
            }
        }
        assert_eq!(entries.len() as u64, size);
        for index in [0u64, 1, 255, 256, 300, 511, 512, size - 1] {
            let proof = tlog::prove_record(size, index, &reader).expect("an inclusion proof from tiles");
            let leaf = tlog::record_hash(&entries[index as usize]);
            tlog::check_record(&proof, size, root, index, leaf).expect("the entry is in the tree");
        }
        // Consistency with an older checkpoint, from tiles alone.
        let proof = tlog::prove_tree(size, old_size, &reader).expect("a consistency proof from tiles");
        (proof, size, root, entries)
    })
    .await
    .expect("the reader ran");
    let (proof, size_read, root, entries) = checked;
    assert_eq!(size_read, size);
    assert_eq!(root.0[..], checkpoint.root_hash[..]);
    tlog::check_tree(&proof, size, root, old_size, tlog::Hash(old_root.0)).expect("the log only grew");
    assert_eq!(entries, expected_entries, "each entry is the event hash of the event at that index");

    // The envelope bundles hold the events themselves, each hashing to its entry.
    let (status, _, bundle) = http(&base, "GET", "/klero/envelopes/001", b"");
    assert_eq!(status, 200);
    let envelopes = klero_ledger::tiles::parse_envelope_bundle(&bundle, 256).expect("a full envelope bundle");
    for (offset, envelope) in envelopes.iter().enumerate() {
        let hash = klero_ledger::envelope::event_hash_of_envelope_bytes(envelope);
        assert_eq!(hash.0.to_vec(), expected_entries[256 + offset]);
    }
    // What no checkpoint needs is not served; a malformed path is refused by name.
    for (path, status) in [
        ("/tile/0/002", 404),
        ("/tile/0/002.p/99", 404),
        ("/tile/entries/003", 404),
        ("/tile/2/000.p/1", 404),
        ("/tile/0/x000/001", 400),
        ("/tile/0/001.p/256", 400),
        ("/tile/64/000", 400),
    ] {
        let (got, _, body) = http(&base, "GET", path, b"");
        assert_eq!(got, status, "{path}: {}", String::from_utf8_lossy(&body));
    }
    server.stop().await;
}

/// A witness on a loopback port, with its key.
async fn start_witness(directory: &std::path::Path, name: &str) -> (WitnessEndpoint, Arc<Witness>) {
    let key = CosignerKey::new(name, key(name)).expect("witness key");
    let vkey = key.verifier();
    let log = LogVerifierKey::parse_vkey(
        &LogSigningKey::new(ORIGIN, klero_tests::key("log key")).expect("key").verifier().to_vkey_string(),
    )
    .expect("vkey");
    let witness = Arc::new(Witness::open(key, vec![log], directory.join(name)).expect("witness opens"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(witness.clone().serve(listener, std::future::pending()));
    (WitnessEndpoint { url, key: vkey }, witness)
}

/// A cosignature line checked from the spec alone: key ID `SHA-256(name | 0x0A | 0x04 | key)`
/// computed by the third party's `key_id`, message `cosignature/v1\ntime T\n<body>`, and the
/// signature checked with ed25519-dalek.
fn cosignature_verifies_by_the_spec(note: &str, witness: &CosignerVerifierKey) -> bool {
    let vkey = witness.to_vkey_string();
    let raw = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(vkey.splitn(3, '+').nth(2).expect("key")).expect("base64")
    };
    assert_eq!(raw[0], 0x04, "a cosignature/v1 vkey");
    let key_id = signed_note::key_id(witness.name(), &raw).to_be_bytes();
    let public = ed25519_dalek::VerifyingKey::from_bytes(raw[1..].try_into().expect("32 bytes")).expect("key");
    let (body, signatures) = note.split_once("\n\n").expect("a note");
    let body = format!("{body}\n");
    signatures.lines().any(|line| {
        let Some(blob) = line.strip_prefix(&format!("\u{2014} {} ", witness.name())) else { return false };
        use base64::Engine as _;
        let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(blob) else { return false };
        if blob.len() != 76 || blob[..4] != key_id {
            return false;
        }
        let timestamp = u64::from_be_bytes(blob[4..12].try_into().expect("8 bytes"));
        let message = format!("cosignature/v1\ntime {timestamp}\n{body}");
        let signature = ed25519_dalek::Signature::from_slice(&blob[12..]).expect("64 bytes");
        public.verify_strict(message.as_bytes(), &signature).is_ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnesses_cosign_the_log_and_one_down_does_not_stop_it() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (w1, _) = start_witness(directory.path(), "w1.klero.test").await;
    let (w2, witness2) = start_witness(directory.path(), "w2.klero.test").await;
    // The third witness is down: a port with nothing listening.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let w3 = WitnessEndpoint {
        url: down,
        key: CosignerKey::new("w3.klero.test", key("w3.klero.test")).expect("key").verifier(),
    };
    let witnesses = vec![w1.clone(), w2.clone(), w3.clone()];
    let (server, mut client) = server_with_log(&directory.path().join("log"), witnesses, 40).await;
    let base = server.pages_url.clone().expect("tiles served");
    let size = client.checkpoint().await.expect("checkpoint").tree_size;

    // The served checkpoint gathers the two live witnesses' cosignatures.
    let started = Instant::now();
    let note = loop {
        let (_, _, note) = http(&base, "GET", "/checkpoint", b"");
        let note = String::from_utf8(note).expect("UTF-8");
        if note.contains(&format!("\n{size}\n")) && note.matches('\u{2014}').count() == 3 {
            break note;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no cosigned checkpoint of size {size}: {note}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(cosignature_verifies_by_the_spec(&note, &w1.key), "w1's cosignature verifies by the spec:\n{note}");
    assert!(cosignature_verifies_by_the_spec(&note, &w2.key), "w2's cosignature verifies by the spec");
    let policy = |quorum| WitnessPolicy::new(vec![w1.key.clone(), w2.key.clone(), w3.key.clone()], quorum).unwrap();
    assert_eq!(policy(2).check(&note).expect("two of three cosigned").len(), 2);
    assert!(policy(3).check(&note).is_err(), "the witness that is down cosigned nothing");
    // The gRPC API and exports carry the same cosignatures.
    let over_grpc = client.checkpoint().await.expect("checkpoint");
    assert!(policy(2).check(&over_grpc.signed_note).is_ok(), "GetCheckpoint serves the cosigned note");
    assert_eq!(witness2.latest_cosigned(ORIGIN).await.map(|(s, _)| s), Some(size));

    // The refusals the spec names, each with its status, asked of w2 directly.
    let log_key = LogSigningKey::new(ORIGIN, key("log key")).expect("key");
    let (held_size, held_root) = witness2.latest_cosigned(ORIGIN).await.expect("w2 holds a checkpoint");
    let forged = log_key
        .sign(&klero_ledger::checkpoint::Checkpoint {
            origin: ORIGIN.into(),
            tree_size: held_size,
            root_hash: Hash256([7; 32]),
            stream_heads: None,
        })
        .expect("sign");
    let bigger = log_key
        .sign(&klero_ledger::checkpoint::Checkpoint {
            origin: ORIGIN.into(),
            tree_size: held_size + 5,
            root_hash: Hash256([8; 32]),
            stream_heads: None,
        })
        .expect("sign");
    let request = |old_size, proof: Vec<Hash256>, note: &str| {
        AddCheckpointRequest { old_size, consistency_proof: proof, checkpoint_note: note.to_string() }.to_body()
    };
    let other_log = LogSigningKey::new("other.klero.test/log", key("other")).expect("key");
    let other = other_log
        .sign(&klero_ledger::checkpoint::Checkpoint {
            origin: "other.klero.test/log".into(),
            tree_size: 1,
            root_hash: Hash256([1; 32]),
            stream_heads: None,
        })
        .expect("sign");
    let unsigned = bigger.note().split("\n\n").next().expect("text").to_string()
        + "\n\n\u{2014} klero.test/blackbox AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    let w2_url = w2.url.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let post = |body: String| http(&w2_url, "POST", "/add-checkpoint", body.as_bytes());
        vec![
            ("a rollback: an old size it does not hold", post(request(held_size - 1, vec![], forged.note()))),
            ("a fork: the same size, another root", post(request(held_size, vec![], forged.note()))),
            ("a proof that does not verify", post(request(held_size, vec![Hash256([3; 32])], bigger.note()))),
            ("an old size above the checkpoint's", post(request(held_size + 6, vec![], bigger.note()))),
            ("an unknown log", post(request(0, vec![], other.note()))),
            ("no trusted signature", post(request(held_size, vec![Hash256([3; 32])], &unsigned))),
            ("a malformed body", post("old 01\n\nnot a checkpoint".into())),
        ]
    })
    .await
    .expect("posts");
    let expected = [409, 409, 422, 400, 404, 403, 400];
    for ((what, (status, headers, body)), expected) in answers.iter().zip(expected) {
        assert_eq!(*status, expected, "{what}: {}", String::from_utf8_lossy(body));
        if expected == 409 {
            assert_eq!(header(headers, "content-type"), Some("text/x.tlog.size"), "{what}");
            assert_eq!(String::from_utf8_lossy(body), format!("{held_size}\n"), "{what}: the size it holds");
        }
    }
    assert_eq!(witness2.latest_cosigned(ORIGIN).await, Some((held_size, held_root)), "refusals change nothing");
    server.stop().await;

    // The witness's record survives a restart, so a rollback stays refused.
    let reopened = Witness::open(
        CosignerKey::new("w2.klero.test", key("w2.klero.test")).expect("key"),
        vec![log_key.verifier()],
        directory.path().join("w2.klero.test"),
    )
    .expect("the witness reopens");
    assert_eq!(reopened.latest_cosigned(ORIGIN).await, Some((held_size, held_root)));
}

/// Issue 29, independent time (FORMAT.md §13.6): an answer is proven recorded no later than
/// the earliest time a quorum of witnesses cosigned a checkpoint covering it. A server whose
/// clock is set back three days records a council's answer "on time" by its own clock; its
/// witnesses' clocks expose it, and `klero verify --witness` names the answer. The same record
/// on an honest clock raises nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_clock_is_set_back_is_exposed_by_its_witnesses() {
    const SET_BACK_MS: u64 = 3 * 86_400_000;
    for set_back in [false, true] {
        let directory = tempfile::tempdir().expect("temp dir");
        let (w1, _) = start_witness(directory.path(), "w1.klero.test").await;
        let (w2, _) = start_witness(directory.path(), "w2.klero.test").await;
        let system = klero_application::system_clock();
        let clock: Clock =
            if set_back { Arc::new(move || system().saturating_sub(SET_BACK_MS)) } else { system.clone() };
        let keep_every_round: Configure = Arc::new(|config| config.witnessed_keep_interval_ms = 0);
        let server = start_server_with_witnesses_configured(
            &directory.path().join("log"),
            key("trust root").verifying_key().to_bytes(),
            clock.clone(),
            vec![w1.clone(), w2.clone()],
            keep_every_round,
        )
        .await;
        let mut client = KleroClient::connect(&server.url).await.expect("connect");
        // Every author signs by the server's clock, as an operator who set it back would.
        // A council's assembly: the programme's figures are judged by the witnesses too.
        let cast = Cast::with_council("time", "time: council root");
        let assembly = "t.time";
        let now = || clock();
        macro_rules! put {
            ($author:expr, $payload:expr) => {{
                let payload = $payload;
                let stream = klero_client::stream_name(payload_kind(&payload), assembly).expect("stream");
                let event = $author.sign_with(stream, klero_client::new_event_id(), now(), &payload).expect("sign");
                client.append(&event, None).await.unwrap_or_else(|e| panic!("append: {e}"))
            }};
        }
        use klero_proto as pb;
        put!(
            klero_client::Author::new(key("trust root")),
            pb::registry::CouncilRegistered {
                council_id: "t".into(),
                name: "Time Council".into(),
                root_public_key: cast.council.public_key().to_vec(),
            }
        );
        for (who, role) in [
            (&cast.convenor, pb::registry::Role::Convenor),
            (&cast.operator, pb::registry::Role::SelectionOperator),
            (&cast.secretary, pb::registry::Role::PanelSecretary),
            (&cast.decision_maker, pb::registry::Role::CouncilDecisionMaker),
        ] {
            put!(
                cast.council,
                pb::registry::KeyGranted {
                    public_key: who.public_key().to_vec(),
                    role: role as i32,
                    scope: assembly.into(),
                    holder_title: "officer".into(),
                }
            );
        }
        // The council has one day to answer.
        put!(cast.convenor, pb::assembly::AssemblyConvened { response_deadline_days: 1, ..convened(assembly) });
        put!(cast.operator, plan());
        put!(cast.operator, pool());
        put!(
            cast.operator,
            pb::selection::PanelDrawn {
                seed: SEED.to_vec(),
                member_ids: vec!["p0".into(), "p1".into(), "p2".into(), "p3".into()],
                reserve_member_ids: Vec::new(),
            }
        );
        put!(
            cast.secretary,
            pb::recommendation::RecommendationDrafted {
                recommendation_id: "R1".into(),
                title: "Safer crossings".into(),
                text_hash: sha("R1"),
            }
        );
        put!(
            cast.secretary,
            pb::recommendation::VoteRecorded {
                recommendation_id: "R1".into(),
                in_favour: 3,
                against: 1,
                abstaining: 0
            }
        );
        let adoption = put!(
            cast.secretary,
            pb::recommendation::RecommendationAdopted {
                recommendation_id: "R1".into(),
                final_text_hash: sha("R1"),
                in_favour: 3,
                against: 1,
                abstaining: 0,
            }
        );
        let answer = put!(cast.decision_maker, response(&adoption.event_hash, pb::response::Decision::Accepted));

        // Wait until the server kept a witnessed checkpoint that covers the answer.
        let started = Instant::now();
        let kept_size = loop {
            let kept = client
                .ledger()
                .list_witnessed_checkpoints(pb::ledger::ListWitnessedCheckpointsRequest {
                    from_size: answer.log_index + 1,
                    max_count: 1,
                })
                .await
                .expect("list")
                .into_inner()
                .signed_notes;
            if let Some(note) = kept.first() {
                break note.lines().nth(1).and_then(|size| size.parse::<u64>().ok()).expect("a size");
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no witnessed checkpoint covers the answer");
            let _ = client.checkpoint().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let export = klero_client::export::export_from_server(&mut client).await.expect("export");
        assert!(export.checkpoints.len() >= 2, "the export carries the witnessed history");
        let options = klero_verifier::VerifyOptions {
            witness_policy: Some(WitnessPolicy::new(vec![w1.key.clone(), w2.key.clone()], 2).expect("policy")),
            ..Default::default()
        };
        let report = klero_verifier::verify_export_with(&export, &options, &mut |_, _| {});
        assert!(report.complete(), "the record itself holds either way: {}", report.to_text());
        assert_eq!(report.answer_times.len(), 1, "{}", report.to_text());
        let time = &report.answer_times[0];
        assert_eq!(time.log_index, answer.log_index);
        assert!(time.on_time_by_log(), "by the server's own clock the answer was on time");
        let bound = time.attested_by_unix_ms.expect("attested by the witnesses");
        let text = report.to_text();
        if set_back {
            assert!(bound >= time.recorded_at_unix_ms + SET_BACK_MS - 60_000, "the witnesses saw it days later");
            assert!(time.time_disagrees(klero_verifier::TIME_TOLERANCE_MS), "{text}");
            assert_eq!(time.on_time_attested(), Some(false), "not attested by the deadline: {text}");
            assert_eq!(report.time_disagreements(), 1);
            assert!(text.contains("WARNING") && text.contains("attested by 2 of 2 witnesses"), "{text}");
        } else {
            assert!(bound >= time.recorded_at_unix_ms, "a bound is never before the log's time");
            assert!(!time.time_disagrees(klero_verifier::TIME_TOLERANCE_MS), "an honest clock: {text}");
            assert_eq!(time.on_time_attested(), Some(true), "{text}");
            assert_eq!(report.time_disagreements(), 0);
            assert!(!text.contains("WARNING"), "{text}");
        }
        // Without a witness policy nothing is said of time.
        assert!(klero_verifier::verify_export(&export, &mut |_, _| {}).answer_times.is_empty());

        // The assembly's page shows both times, from its slice: the same in the browser. The
        // log grows first, so that the page's checkpoint is past the witnessed one that covers
        // the answer, which the slice then carries with its consistency proof.
        put!(
            cast.council,
            pb::registry::KeyGranted {
                public_key: key("time: later officer").verifying_key().to_bytes().to_vec(),
                role: pb::registry::Role::Facilitator as i32,
                scope: assembly.into(),
                holder_title: "officer".into(),
            }
        );
        let pages = server.pages_url.clone().expect("pages");
        let started = Instant::now();
        let html = loop {
            let (status, _, html) = http(&pages, "GET", "/assemblies/t.time", b"");
            let html = String::from_utf8(html).expect("UTF-8");
            assert_eq!(status, 200, "{html}");
            if html
                .split("data-tree-size=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|s| s.parse::<u64>().ok())
                > Some(kept_size)
            {
                break html;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the pages never moved past the witnessed checkpoint");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(html.contains("Attested by 2 of 2 witnesses as recorded by"), "{html}");
        assert_eq!(html.contains("The witnesses saw it only after the deadline."), set_back, "{html}");
        let size: u64 = html
            .split("data-tree-size=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|size| size.parse().ok())
            .expect("the page's size");
        let (status, _, slice) = http(&pages, "GET", &format!("/api/v1/slices/assembly/t.time?size={size}"), b"");
        let slice = String::from_utf8(slice).expect("UTF-8");
        assert_eq!(status, 200, "{slice}");
        assert!(slice.contains("\nwitnessed "), "the slice carries the witnessed checkpoint that covers the answer");
        let result = klero_browser::check(
            &klero_browser::CheckRequest { page: "/assemblies/t.time".into(), ..Default::default() },
            &slice,
        );
        assert!(result.ok, "{:?}", result.failure);
        let body =
            &html[html.find("<body>\n").expect("a body") + "<body>\n".len()..html.rfind("</body>").expect("its end")];
        assert_eq!(result.body.as_deref(), Some(body), "the browser derives the same page");
        // The programme judges the council's answers by the witnesses as well: the answer the
        // log calls on time was seen only after its deadline by the set-back server's witnesses.
        let (status, _, programme) = http(&pages, "GET", "/programme", b"");
        let programme = String::from_utf8(programme).expect("UTF-8");
        assert_eq!(status, 200);
        let late = if set_back { "1 of 1 attested" } else { "0 of 1 attested" };
        assert!(programme.contains(late), "{late}: {programme}");
        let (_, _, csv) = http(&pages, "GET", "/programme.csv", b"");
        let csv = String::from_utf8(csv).expect("UTF-8");
        let row = csv.lines().find(|line| line.starts_with("t,")).expect("the council's row");
        assert!(row.ends_with(if set_back { ",1,1" } else { ",1,0" }), "{row}");
        // Lies about the witnessed time fail: a witnessed checkpoint of another tree (signed
        // with the log key, as only the operator could), or one above the page's checkpoint.
        let parsed = klero_verifier::slice::Slice::parse(&slice).expect("parses");
        let (note, proof) = parsed.witnessed.first().cloned().expect("a witnessed line");
        let witnessed_size: u64 = note.lines().nth(1).and_then(|s| s.parse().ok()).expect("size");
        let log_key = LogSigningKey::new(ORIGIN, key("log key")).expect("key");
        let forge = |tree_size: u64| {
            log_key
                .sign(&klero_ledger::checkpoint::Checkpoint {
                    origin: ORIGIN.into(),
                    tree_size,
                    root_hash: Hash256([9; 32]),
                    stream_heads: None,
                })
                .expect("sign")
                .note()
                .to_string()
        };
        let target =
            klero_verifier::slice::SliceTarget::Assembly(klero_domain::AssemblyId::parse("t.time").expect("id"));
        for (lie, witnessed, class) in [
            ("another tree at the witnessed size", vec![(forge(witnessed_size), proof.clone())], "fork"),
            ("a witnessed checkpoint above the page's", vec![(forge(size + 1), Vec::new())], "format"),
        ] {
            let mut forged = parsed.clone();
            forged.witnessed = witnessed;
            let failure = klero_verifier::slice::verify_slice(&forged, &target, &Default::default()).expect_err(lie);
            assert_eq!(failure.class.as_str(), class, "{lie}: {failure}");
        }
        server.stop().await;
    }
}

/// The stream kind of a payload's event type, for signing it by hand.
fn payload_kind<P: klero_catalogue::EventMessage>(_: &P) -> klero_catalogue::StreamKind {
    P::STREAM_KIND
}
