//! Being told (issue 28 §4): residents who left an email get one message per update of their
//! submission, through a real SMTP server (Python's aiosmtpd, writing a Maildir), from a real
//! server in its own process. The SMTP server and then the server are killed in turn; nothing
//! is lost, nothing is doubled, each message keeps its Message-ID, nothing is sent after an
//! erasure, and the outbox never holds an address.

use klero_client::{Author, KleroClient, Sealer, SignedEvent};
use klero_proto as pb;
use klero_tests::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ASSEMBLY: &str = "told";
const CALL: &str = "told-call";

/// The Python with aiosmtpd (tests/run installs it in target/test-venv).
fn python() -> PathBuf {
    match std::env::var_os("KLERO_TEST_PYTHON") {
        Some(python) => python.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python"),
    }
}

/// A real SMTP server on loopback that keeps every message it accepts in a Maildir.
struct SmtpServer {
    child: Child,
}

impl SmtpServer {
    fn start(port: u16, maildir: &Path) -> SmtpServer {
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {}: {e}; run tests/run, which installs aiosmtpd", python().display())
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port} (tests/run installs it)");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child }
    }

    fn kill(mut self) {
        self.child.kill().expect("kill aiosmtpd");
        self.child.wait().expect("wait aiosmtpd");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server with its notifier, in a process of its own.
struct NotifyingServer {
    child: Child,
    grpc: String,
    /// Kept open: the server's writes to it must not fail.
    _stdout: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl NotifyingServer {
    fn start(directory: &Path, smtp_port: u16) -> NotifyingServer {
        NotifyingServer::start_with(directory, &format!("smtp://127.0.0.1:{smtp_port}"), None)
    }

    /// Sending through the relay at `url`, trusting the CA in `relay_ca` for its certificate.
    fn start_with(directory: &Path, url: &str, relay_ca: Option<&Path>) -> NotifyingServer {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_klero-test-notifier"))
            .arg(directory)
            .arg(url)
            .args(relay_ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start klero-test-notifier");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let grpc =
            lines.next().expect("a line").expect("read").strip_prefix("grpc ").expect("grpc address").to_string();
        NotifyingServer { child, grpc: format!("http://{grpc}"), _stdout: lines }
    }

    async fn client(&self) -> KleroClient {
        KleroClient::connect(&self.grpc).await.expect("connect")
    }

    /// SIGKILL: no shutdown, no last save.
    fn kill(mut self) {
        self.child.kill().expect("kill the server");
        self.child.wait().expect("wait");
    }
}

impl Drop for NotifyingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every message in the Maildir: (recipient, subject, Message-ID).
fn delivered(maildir: &Path) -> Vec<(String, String, String)> {
    let mut messages = Vec::new();
    for folder in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(folder)) else { continue };
        for entry in entries {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read message");
            // The header, with folded lines unfolded (RFC 5322 §2.2.3).
            let head = text.split("\n\n").next().unwrap_or_default().replace("\r", "").replace("\n ", " ");
            let header = |name: &str| {
                head.lines()
                    .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_else(|| panic!("no {name} in {text}"))
                    .trim()
                    .to_string()
            };
            messages.push((header("To"), header("Subject"), header("Message-ID")));
        }
    }
    messages.sort();
    messages
}

/// Waits until the Maildir holds `count` messages (then a little longer, to see any extra).
async fn wait_for(maildir: &Path, count: usize) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = delivered(maildir);
        if messages.len() >= count {
            tokio::time::sleep(Duration::from_millis(800)).await;
            return delivered(maildir);
        }
        assert!(Instant::now() < deadline, "{} of {count} messages arrived: {messages:#?}", messages.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn resident_submission(author: &Author, text: &str, email: &str) -> SignedEvent {
    let sealer = Sealer::new().expect("sealer");
    let payload = pb::deliberation::ResidentSubmitted {
        call_id: CALL.into(),
        path: pb::deliberation::SubmissionPath::Browser as i32,
        sealed_text: Some(sealer.seal("sealed_text", text).expect("seal")),
        sealed_contact: Some(
            sealer.seal("sealed_contact", &format!("name: A resident\nemail: {email}")).expect("seal"),
        ),
        work_nonce: 0,
    };
    author.sign_sealed(ASSEMBLY, &payload, &sealer).expect("sign")
}

fn moderated(submission: &[u8], withhold: bool) -> pb::deliberation::SubmissionModerated {
    use pb::deliberation::ModerationDecision;
    pb::deliberation::SubmissionModerated {
        submission_event_hash: submission.to_vec(),
        decision: if withhold { ModerationDecision::Withhold } else { ModerationDecision::Publish } as i32,
        reason: if withhold { "off_topic".into() } else { String::new() },
    }
}

/// An assembly with its panel, a moderator and a data protection officer, and an open call.
async fn open_a_call(client: &mut KleroClient) -> (Cast, Author, Author) {
    let cast = Cast::new("told");
    assembly_with_panel(client, &cast, ASSEMBLY).await;
    let (moderator, officer) = (Author::new(key("told moderator")), Author::new(key("told officer")));
    let grant = |who: &Author, role: pb::registry::Role| pb::registry::KeyGranted {
        public_key: who.public_key().to_vec(),
        role: role as i32,
        scope: ASSEMBLY.into(),
        holder_title: "officer".into(),
    };
    append(client, &cast.council, ASSEMBLY, &grant(&moderator, pb::registry::Role::Moderator)).await;
    append(client, &cast.council, ASSEMBLY, &data_protection_officer_grant(&officer, ASSEMBLY)).await;
    let today = klero_application::system_clock()() as i64 / 86_400_000;
    let call = pb::deliberation::CallOpened {
        call_id: CALL.into(),
        prompt: "What should the council do about buses?".into(),
        opens_on: klero_domain::Date(today).to_string(),
        closes_on: klero_domain::Date(today + 14).to_string(),
        text_bytes_max: 500,
        one_per_key: true,
        names_asked: true,
        consent_hash: sha("consent"),
        moderation_policy_hash: sha("policy"),
        withhold_reasons: vec!["off_topic".into()],
        retention_days: 365,
        ..Default::default()
    };
    append(client, &cast.facilitator, ASSEMBLY, &call).await;
    (cast, moderator, officer)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_are_told_once_per_event_through_a_real_smtp_server_across_kills_and_never_after_erasure() {
    let directory = tempfile::tempdir().expect("temp dir");
    let maildir = directory.path().join("maildir");
    let data = directory.path().join("data");
    let port = free_port();
    let smtp = SmtpServer::start(port, &maildir);
    let server = NotifyingServer::start(&data, port);
    let mut client = server.client().await;
    let (cast, moderator, officer) = open_a_call(&mut client).await;
    let today = klero_application::system_clock()() as i64 / 86_400_000;
    let mut submitted = Vec::new();
    for (who, text) in [("one", "Sunday buses."), ("two", "Off topic."), ("three", "Night buses.")] {
        let resident = Author::new(key(&format!("told resident {who}")));
        let email = format!("{who}@example.org");
        submitted.push(client.append(&resident_submission(&resident, text, &email), None).await.expect("submit"));
    }
    let (one, two, three) = (&submitted[0], &submitted[1], &submitted[2]);
    append(&mut client, &moderator, ASSEMBLY, &moderated(&one.event_hash, false)).await;
    append(&mut client, &moderator, ASSEMBLY, &moderated(&two.event_hash, true)).await;
    append(&mut client, &moderator, ASSEMBLY, &moderated(&three.event_hash, false)).await;
    let first = wait_for(&maildir, 3).await;
    assert_eq!(
        first.iter().map(|(to, subject, _)| (to.as_str(), subject.as_str())).collect::<Vec<_>>(),
        [
            ("one@example.org", "Your submission was published"),
            ("three@example.org", "Your submission was published"),
            ("two@example.org", "Your submission was withheld: off_topic"),
        ]
    );

    // Three's contact is erased: nothing more is sent to it, though a recommendation cites it.
    let erasure = pb::privacy::ContentErased {
        event_hash: three.event_hash.clone(),
        legal_basis: "UK GDPR Art. 17(1)(b)".into(),
        erased_on: klero_domain::Date(today).to_string(),
    };
    append(&mut client, &officer, ASSEMBLY, &erasure).await;

    // The relay goes down; the council goes on; then the server is killed with the
    // notifications unsent.
    smtp.kill();
    let adoption = adopted_recommendation(&mut client, &cast, ASSEMBLY, "R1").await;
    let cited = pb::recommendation::RecommendationInputsCited {
        recommendation_id: "R1".into(),
        text_hash: sha("R1"),
        citations: [one, three]
            .iter()
            .map(|s| pb::deliberation::InputCitation {
                input_event_hash: s.event_hash.clone(),
                note: "shaped it".into(),
            })
            .collect(),
    };
    append(&mut client, &cast.secretary, ASSEMBLY, &cited).await;
    append(
        &mut client,
        &cast.decision_maker,
        ASSEMBLY,
        &response(&adoption.event_hash, pb::response::Decision::Accepted),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.kill();
    let outbox = std::fs::read_to_string(data.join("outbox").join("outbox.json")).expect("the outbox");
    assert!(outbox.contains("\"cited\"") && outbox.contains("\"answered\""), "both are waiting: {outbox}");
    assert!(!outbox.contains("example.org"), "the outbox keeps no address: {outbox}");
    assert_eq!(delivered(&maildir).len(), 3, "nothing arrived while the relay was down");

    // Both come back: what waited is sent, once.
    let _smtp = SmtpServer::start(port, &maildir);
    let _server = NotifyingServer::start(&data, port);
    let all = wait_for(&maildir, 5).await;
    let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, id) in &all {
        *by_id.entry(id.as_str()).or_default() += 1;
    }
    assert!(by_id.values().all(|n| *n == 1), "no message is doubled: {all:#?}");
    let later: Vec<(&str, &str)> =
        all.iter().filter(|m| !first.contains(m)).map(|(to, subject, _)| (to.as_str(), subject.as_str())).collect();
    assert_eq!(
        later,
        [
            ("one@example.org", "Recommendation R1 cites your submission"),
            ("one@example.org", "The council answered recommendation R1, which cites your submission: Accepted"),
        ],
        "one is told of the citation and the answer; three, erased, of nothing"
    );
    assert!(all.iter().all(|(to, _, _)| to != "three@example.org" || first.iter().any(|m| &m.0 == to)));
}

/// The operator's relay, as a council runs one: STARTTLS required, then a login; its
/// certificate from the council's own CA (`--smtp-ca`). The message goes through, under TLS,
/// logged in; with the wrong password nothing is sent and nothing is lost: the notification
/// waits in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_a_relay_over_starttls_with_a_login() {
    let directory = tempfile::tempdir().expect("temp dir");
    let maildir = directory.path().join("maildir");
    let pki = crate::tls::pki("klero test relay CA");
    let (cert, key_pem) = crate::tls::leaf(&pki);
    let files = |name: &str, text: &str| {
        let path = directory.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let (cert, key_pem, ca) = (files("relay.pem", &cert), files("relay.key", &key_pem), files("ca.pem", &pki.ca_pem));
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp_relay.py");
    let mut relay = Command::new(python())
        .arg(&script)
        .arg(port.to_string())
        .args([&cert, &key_pem])
        .args(["notifier", "s3cret"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run tests/run, which installs aiosmtpd", python().display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the relay did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A wrong password first: refused by the relay, kept in the outbox.
    let data = directory.path().join("data");
    let wrong =
        NotifyingServer::start_with(&data, &format!("smtp://notifier:wrong@127.0.0.1:{port}?tls=required"), Some(&ca));
    let mut client = wrong.client().await;
    let (_, moderator, _) = open_a_call(&mut client).await;
    let resident = Author::new(key("told resident over TLS"));
    let submitted = client.append(&resident_submission(&resident, "Buses at night.", "tls@example.org"), None).await;
    let submitted = submitted.expect("submit");
    append(&mut client, &moderator, ASSEMBLY, &moderated(&submitted.event_hash, false)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    wrong.kill();
    assert!(delivered(&maildir).is_empty(), "the relay took nothing without the login");
    let outbox = std::fs::read_to_string(data.join("outbox").join("outbox.json")).expect("the outbox");
    assert!(outbox.contains("\"published\""), "it waits: {outbox}");

    // The right password: sent once, under TLS, logged in.
    let _server =
        NotifyingServer::start_with(&data, &format!("smtp://notifier:s3cret@127.0.0.1:{port}?tls=required"), Some(&ca));
    let messages = wait_for(&maildir, 1).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!((messages[0].0.as_str(), messages[0].1.as_str()), ("tls@example.org", "Your submission was published"));
    let sessions = std::fs::read_to_string(maildir.join("sessions.log")).expect("the relay's log");
    assert_eq!(sessions, "tls=True login=notifier\n");
    let _ = relay.kill();
    let _ = relay.wait();
}
