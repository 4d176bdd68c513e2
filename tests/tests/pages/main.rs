//! The public pages, served by a real server over the real embedded store:
//! - `http`: what any HTTP client sees: statuses, headers, open data, feeds, limits;
//! - `browser`: what a resident's browser sees and checks, in Debian's headless Chromium driven
//!   by `tests/browser/check-pages.mjs` (playwright-core), with a proxy that plays a dishonest
//!   server.
//!
//! Both need the assembly that [`record`] writes. `tests/run` installs Chromium, Node's
//! packages and everything else; a missing part fails the test with that hint, never skips it.

mod browser;
mod http;

use klero_application::Clock;
use klero_client::KleroClient;
use klero_proto as pb;
use klero_tests::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The rationale of R1's response: the browser test alters one byte of it in transit.
pub const RATIONALE: &str = "Funded from the 2027 transport budget.";
/// Strings from the public that must show as text, never run.
pub const SCRIPT_TITLE: &str = "<script>alert(\"evidence\")</script> Transport briefing";
/// The call `record` opens for residents' submissions.
pub const CALL: &str = "crossing-call";
/// The proof of work the recorded call asks of each browser's submission, in bits.
pub const WORK_BITS: u32 = 10;

/// A submission nothing cites, never erased: its text shows on the page of submissions.
pub const UNCITED_SUBMISSION: &str = "Open the library on Sundays, please.";
pub const SCRIPT_SUBMISSION: &str = "The bus stops at 7pm <script>alert(1)</script> & \"I cannot get home\".";
pub const R1_TEXT: &str = "R1. A frequent bus network.\nThe panel recommends buses every 10 minutes until 11pm.";
/// An implementation note sealed as personal text (issue 19): the page shows it opened, and
/// the browser checks it against its signed commitment.
pub const SEALED_NOTE: &str = "Route 12 now stops outside Mrs Okafor's house on Elm Road.";
/// The title of evidence whose document was never uploaded.
pub const NEVER_UPLOADED_TITLE: &str = "The depot's costs (not yet uploaded)";
/// Another sealed note, erased: the page says when and why.
pub const ERASED_NOTE: &str = "Mr Patel at 14 Mill Lane objected to the new stop.";
pub const ERASURE_REASON: &str = "UK GDPR Art. 17(1)(a): the data subject asked";

/// A server with pages, and the clock it records with (tests move it forward).
#[derive(Debug)]
pub struct PagesServer {
    pub server: RunningServer,
    pub directory: tempfile::TempDir,
    pub offset_ms: Arc<AtomicU64>,
}

impl PagesServer {
    pub async fn start() -> PagesServer {
        PagesServer::start_with("trust root", Vec::new()).await
    }

    /// A server whose trust root is the key named `council`, asking `witnesses` to cosign.
    pub async fn start_with(council: &str, witnesses: Vec<klero_transparency::WitnessEndpoint>) -> PagesServer {
        let directory = tempfile::tempdir().expect("temp dir");
        let offset_ms = Arc::new(AtomicU64::new(0));
        let offset = offset_ms.clone();
        let system = klero_application::system_clock();
        let clock: Clock = Arc::new(move || system() + offset.load(Ordering::SeqCst));
        let trust_root = key(council).verifying_key().to_bytes();
        let server = if witnesses.is_empty() {
            start_server_with_pages(directory.path(), trust_root, clock).await
        } else {
            start_server_with_witnesses(directory.path(), trust_root, clock, witnesses).await
        };
        PagesServer { server, directory, offset_ms }
    }
    pub fn pages(&self) -> String {
        self.server.pages_url.clone().expect("pages served")
    }

    /// The same server stopped and started again on its data and at its pages' address (a
    /// server with no witnesses), as an operator's restart does: a browser's storage for the
    /// site is still its own.
    pub async fn restarted(self) -> PagesServer {
        let address = self.pages().trim_start_matches("http://").to_string();
        let PagesServer { server, directory, offset_ms } = self;
        server.stop().await;
        let offset = offset_ms.clone();
        let system = klero_application::system_clock();
        let clock: Clock = Arc::new(move || system() + offset.load(Ordering::SeqCst));
        let trust_root = key("trust root").verifying_key().to_bytes();
        let server = start_server_with_pages_at(directory.path(), trust_root, clock, &address).await;
        PagesServer { server, directory, offset_ms }
    }
    pub async fn client(&self) -> KleroClient {
        KleroClient::connect(&self.server.url).await.expect("connect")
    }
    /// Signs at this server's clock, which the test may have moved ahead.
    pub fn sign_now<P: klero_catalogue::EventMessage>(
        &self,
        author: &klero_client::Author,
        assembly: &str,
        payload: &P,
    ) -> klero_client::SignedEvent {
        let stream = klero_client::stream_name(P::STREAM_KIND, assembly).expect("stream");
        let now = klero_application::system_clock()() + self.offset_ms.load(Ordering::SeqCst);
        author.sign_with(stream, klero_client::new_event_id(), now, payload).expect("sign")
    }
}

/// What [`record`] wrote, by log index and hash.
#[derive(Debug)]
pub struct Recorded {
    pub assembly: String,
    pub facilitator_grant: u64,
    pub submission: u64,
    /// A submission nothing cites.
    pub uncited_submission: u64,
    pub response: u64,
    pub decision_maker_key: String,
}

pub async fn document(client: &mut KleroClient, text: &str, personal_data: bool) -> Vec<u8> {
    client
        .upload_document(text.as_bytes(), "text/plain; charset=utf-8", personal_data)
        .await
        .expect("upload")
        .0
        .to_vec()
}

/// A whole assembly with documents and citations: two recommendations, one answered (with a
/// letter and an implementation update), one left without an answer past its deadline.
pub async fn record(server: &PagesServer, assembly: &str) -> Recorded {
    record_as(server, assembly, &Cast::new("pages")).await
}

/// [`record`] with `cast`'s keys (its council must be the server's trust root).
pub async fn record_as(server: &PagesServer, assembly: &str, cast: &Cast) -> Recorded {
    let mut client = server.client().await;
    let facilitator_grant = 2;
    assembly_with_lottery(&mut client, cast, assembly).await;
    append(
        &mut client,
        &cast.facilitator,
        assembly,
        &pb::deliberation::SessionHeld {
            session_number: 1,
            held_on: "2026-01-17".into(),
            agenda: "Transport: what the evidence says".into(),
            attendance_count: 4,
        },
    )
    .await;
    let evidence_text = "Buses: a briefing.\nHalf of the district's trips are under 5 km.";
    let content_hash = document(&mut client, evidence_text, false).await;
    let evidence = append(
        &mut client,
        &cast.facilitator,
        assembly,
        &pb::deliberation::EvidencePresented {
            session_number: 1,
            speaker_role: "academic researcher".into(),
            title: SCRIPT_TITLE.into(),
            content_hash,
            media_type: "text/plain; charset=utf-8".into(),
            sealed_title: None,
        },
    )
    .await;
    // Evidence whose document was never uploaded: an honest record the page must not turn red.
    append(
        &mut client,
        &cast.facilitator,
        assembly,
        &pb::deliberation::EvidencePresented {
            session_number: 1,
            speaker_role: "council officer".into(),
            title: NEVER_UPLOADED_TITLE.into(),
            content_hash: sha("a briefing that was never uploaded"),
            media_type: "application/pdf".into(),
            sealed_title: None,
        },
    )
    .await;
    let mut submissions = Vec::new();
    for (n, text) in [SCRIPT_SUBMISSION, "Please keep the Saturday market.", UNCITED_SUBMISSION].iter().enumerate() {
        let content_hash = document(&mut client, text, true).await;
        submissions.push(
            append(
                &mut client,
                &cast.facilitator,
                assembly,
                &pb::deliberation::PublicSubmissionReceived {
                    submitter_id: format!("s{n:04}"),
                    content_hash,
                    received_on: "2026-01-20".into(),
                    sealed_text: None,
                },
            )
            .await,
        );
    }
    let mut adoptions = Vec::new();
    for (id, title, text) in [
        ("R1", "A frequent bus network", R1_TEXT),
        ("R2", "Car-free school streets", "R2. Car-free school streets.\nAt every primary school by 2028."),
    ] {
        let text_hash = document(&mut client, text, false).await;
        append(
            &mut client,
            &cast.secretary,
            assembly,
            &pb::recommendation::RecommendationDrafted {
                recommendation_id: id.into(),
                title: title.into(),
                text_hash: text_hash.clone(),
            },
        )
        .await;
        append(
            &mut client,
            &cast.secretary,
            assembly,
            &pb::recommendation::RecommendationInputsCited {
                recommendation_id: id.into(),
                text_hash: text_hash.clone(),
                citations: vec![
                    pb::deliberation::InputCitation {
                        input_event_hash: evidence.event_hash.clone(),
                        note: "the evidence the panel relied on".into(),
                    },
                    pb::deliberation::InputCitation {
                        input_event_hash: submissions[0].event_hash.clone(),
                        note: "a resident's submission <b>that shaped</b> the text".into(),
                    },
                ],
            },
        )
        .await;
        append(
            &mut client,
            &cast.secretary,
            assembly,
            &pb::recommendation::VoteRecorded { recommendation_id: id.into(), in_favour: 3, against: 1, abstaining: 0 },
        )
        .await;
        adoptions.push(
            append(
                &mut client,
                &cast.secretary,
                assembly,
                &pb::recommendation::RecommendationAdopted {
                    recommendation_id: id.into(),
                    final_text_hash: text_hash,
                    in_favour: 3,
                    against: 1,
                    abstaining: 0,
                },
            )
            .await,
        );
    }
    let mut answer = response(&adoptions[0].event_hash, pb::response::Decision::Accepted);
    answer.rationale = RATIONALE.into();
    let response = append(&mut client, &cast.decision_maker, assembly, &answer).await;
    let letter = document(&mut client, "Dear residents, the buses will run until 11pm from 2027.", false).await;
    append(
        &mut client,
        &cast.decision_maker,
        assembly,
        &pb::response::ResponseInputsConsidered {
            recommendation_event_hash: adoptions[0].event_hash.clone(),
            citations: vec![pb::deliberation::InputCitation {
                input_event_hash: submissions[0].event_hash.clone(),
                note: "evening shift workers need buses after 7pm".into(),
            }],
            letter_hash: letter,
        },
    )
    .await;
    // R2 goes unanswered past its 56-day deadline: the next event is recorded 57 days on.
    // It is signed at the moved clock too, or it would look signed long before its recording.
    server.offset_ms.fetch_add(57 * DAY_MS, Ordering::SeqCst);
    let update = pb::response::ImplementationUpdated {
        recommendation_event_hash: adoptions[0].event_hash.clone(),
        status: pb::response::ImplementationStatus::InProgress as i32,
        progress_percent: 40,
        note: "Budget allocated; the first routes run in March.".into(),
        evidence_hash: Vec::new(),
        sealed_note: None,
    };
    client.append(&server.sign_now(&cast.decision_maker, assembly, &update), None).await.expect("the late update");
    // Issue 19: two updates with sealed notes; the second is erased.
    let officer = klero_client::Author::new(key("pages: data protection officer"));
    let grant = data_protection_officer_grant(&officer, assembly);
    client.append(&server.sign_now(&cast.council, assembly, &grant), None).await.expect("grant");
    let mut sealed_updates = Vec::new();
    for note in [SEALED_NOTE, ERASED_NOTE] {
        let sealer = klero_client::Sealer::new().expect("sealer");
        let update = pb::response::ImplementationUpdated {
            recommendation_event_hash: adoptions[0].event_hash.clone(),
            status: pb::response::ImplementationStatus::InProgress as i32,
            progress_percent: 40,
            note: String::new(),
            evidence_hash: Vec::new(),
            sealed_note: Some(sealer.seal("sealed_note", note).expect("seal")),
        };
        let stream = klero_client::stream_name(klero_domain::StreamKind::Response, assembly).expect("stream");
        let now = klero_application::system_clock()() + server.offset_ms.load(Ordering::SeqCst);
        let mut signed = cast.decision_maker.sign_with(stream, sealer.event_id(), now, &update).expect("sign");
        signed.data_key = Some(sealer.data_key().clone());
        sealed_updates.push(client.append(&signed, None).await.expect("a sealed update"));
    }
    let erasure = pb::privacy::ContentErased {
        event_hash: sealed_updates[1].event_hash.clone(),
        legal_basis: ERASURE_REASON.into(),
        erased_on: "2026-03-20".into(),
    };
    client.append(&server.sign_now(&officer, assembly, &erasure), None).await.expect("erasure");
    // The uncited submission's document erased: its receipt page says when and why.
    let erasure = pb::privacy::ContentErased {
        event_hash: submissions[1].event_hash.clone(),
        legal_basis: ERASURE_REASON.into(),
        erased_on: "2026-03-21".into(),
    };
    client.append(&server.sign_now(&officer, assembly, &erasure), None).await.expect("erasure");
    // Issue 28: a call open for residents, with the intake key and a moderator granted.
    for (who, role) in [
        (&klero_client::Author::new(key(INTAKE_KEY)), pb::registry::Role::Intake),
        (&klero_client::Author::new(key("pages: moderator")), pb::registry::Role::Moderator),
        (&klero_client::Author::new(key("pages: second moderator")), pb::registry::Role::Moderator),
    ] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: assembly.into(),
            holder_title: "officer".into(),
        };
        client.append(&server.sign_now(&cast.council, assembly, &grant), None).await.expect("grant");
    }
    let today = (klero_application::system_clock()() + server.offset_ms.load(Ordering::SeqCst)) / DAY_MS;
    let date = |days: u64| klero_domain::Date((today + days) as i64 - 1).to_string();
    let call = pb::deliberation::CallOpened {
        call_id: CALL.into(),
        prompt: "Where should the new crossing go?".into(),
        recommendation_id: String::new(),
        opens_on: date(0),
        closes_on: date(30),
        text_bytes_max: 300,
        one_per_key: true,
        names_asked: true,
        consent_hash: document(&mut client, "You agree that a moderator may publish what you write.", false).await,
        moderation_policy_hash: document(&mut client, "We withhold personal attacks.", false).await,
        withhold_reasons: vec!["personal_attack".into()],
        retention_days: 365,
        proof_of_work_bits: WORK_BITS,
    };
    client.append(&server.sign_now(&cast.facilitator, assembly, &call), None).await.expect("the call");
    Recorded {
        assembly: assembly.into(),
        facilitator_grant,
        submission: submissions[0].log_index,
        uncited_submission: submissions[1].log_index,
        response: response.log_index,
        decision_maker_key: klero_ledger::hash::to_hex(&cast.decision_maker.public_key()),
    }
}

/// One HTTP/1.1 exchange over a fresh connection: the status, the headers (names lowercase)
/// and the body. Enough for the tests; the server sends sized bodies.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

pub async fn exchange(base: &str, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.strip_prefix("http://").expect("http URL");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(content_type) = content_type {
        request.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let (status, headers, body) = parse_http_response(&raw);
    Answer { status, headers, body }
}

pub async fn get(base: &str, path: &str) -> Answer {
    exchange(base, "GET", path, None, &[]).await
}
