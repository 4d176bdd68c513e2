//! The demo's residents taking part (issue 28): a call opens; two residents submit as their
//! browsers do, each signing with a key of their own (composed by the pages' module, posted to
//! `/api/v1/submissions`), and a third types into the plain form with no script; a moderator
//! publishes two and withholds one with the policy's reason. The server's notifier tells the
//! resident who left an email of each step (printed, or sent through `--smtp`).

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_client::{Author, KleroClient};
use klero_ledger::SigningKey;
use klero_proto as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The call the demo opens.
pub const CALL: &str = "streets-call";
/// The proof of work its call asks of each browser's submission: about 65,000 hashes.
const DEMO_WORK_BITS: u32 = 16;

/// A resident's submission the moderator published.
#[derive(Debug)]
pub struct TakenPart {
    pub published: pb::ledger::AppendedEvent,
    /// Events the stage added: grants, the call, three submissions, two decisions.
    pub events: u64,
}

/// One HTTP/1.1 request to the pages at `base` (`http://host:port`); the status and body.
async fn http(base: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
    let address = base.strip_prefix("http://").context("the demo's pages are plain HTTP on loopback")?;
    let mut stream = tokio::net::TcpStream::connect(address).await.with_context(|| format!("connecting to {base}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").context("an HTTP answer")?;
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).context("an HTTP status")?;
    Ok((status, body.to_string()))
}

fn form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".into(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// A resident's submission signed with their own key, as a browser makes it: composed by the
/// pages' module, signed, and posted to `/api/v1/submissions`. Returns its log index.
async fn as_a_browser(
    pages: &str,
    assembly: &str,
    resident: &SigningKey,
    text: &str,
    email: &str,
) -> anyhow::Result<u64> {
    let mut random = vec![0u8; klero_browser::COMPOSE_RANDOM_BYTES];
    getrandom::getrandom(&mut random)?;
    let now = klero_application::system_clock()();
    let composed = klero_browser::compose(&klero_browser::ComposeRequest {
        page: format!("/assemblies/{assembly}"),
        call: CALL.into(),
        text: text.into(),
        email: email.into(),
        public_key: BASE64.encode(resident.verifying_key().to_bytes()),
        random: BASE64.encode(&random),
        now_unix_ms: now,
        work_bits: DEMO_WORK_BITS,
        ..Default::default()
    });
    let (Some(author), Some(signing_input), Some(data_key)) =
        (composed.author, composed.signing_input, composed.data_key)
    else {
        bail!("the module refused the submission: {}", composed.reason.unwrap_or_default());
    };
    let signature = ed25519_dalek::Signer::sign(resident, &BASE64.decode(signing_input)?).to_bytes();
    let body = serde_json::json!({"author": author, "signature": BASE64.encode(signature), "data_key": data_key});
    let (status, answer) =
        http(pages, "POST", "/api/v1/submissions", "application/json", body.to_string().as_bytes()).await?;
    if status != 201 {
        bail!("a browser's submission was refused ({status}): {answer}");
    }
    let answer: serde_json::Value = serde_json::from_str(&answer)?;
    answer["log_index"].as_u64().context("a log index")
}

/// Opens a call, takes three residents' submissions through the pages (two signed by the
/// residents' own keys, one through the plain form), and moderates them.
pub async fn take_part(
    client: &mut KleroClient,
    assembly: &str,
    council: &Author,
    facilitator: &Author,
    intake: &Author,
    pages: &str,
) -> anyhow::Result<TakenPart> {
    let moderator = Author::new(crate::keys::generate_key()?);
    for (who, role, title) in [
        (&moderator, pb::registry::Role::Moderator, "Engagement officer"),
        (intake, pb::registry::Role::Intake, "The pages' web form"),
    ] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: assembly.into(),
            holder_title: title.into(),
        };
        client.append(&council.sign(assembly, &grant)?, None).await?;
    }
    let upload = |text: &'static str| {
        let mut client = client.clone();
        async move { client.upload_document(text.as_bytes(), "text/plain; charset=utf-8", false).await }
    };
    let today = klero_application::system_clock()() / 86_400_000;
    let call = pb::deliberation::CallOpened {
        call_id: CALL.into(),
        prompt: "What would make the streets near our schools safer?".into(),
        recommendation_id: String::new(),
        opens_on: klero_domain::Date(today as i64).to_string(),
        closes_on: klero_domain::Date(today as i64 + 28).to_string(),
        text_bytes_max: 2_000,
        one_per_key: true,
        names_asked: true,
        consent_hash: upload("A moderator publishes what you write if it keeps to the policy. Your name, postcode and email are sealed, never shown, and erased after a year.").await?.0.to_vec(),
        moderation_policy_hash: upload("We withhold personal attacks and anything off the topic, and say which.").await?.0.to_vec(),
        withhold_reasons: vec!["personal_attack".into(), "off_topic".into()],
        retention_days: 365,
        proof_of_work_bits: DEMO_WORK_BITS,
    };
    client.append(&facilitator.sign(assembly, &call)?, None).await?;
    let published = as_a_browser(
        pages,
        assembly,
        &crate::keys::generate_key()?,
        "A car-free street outside the school at drop-off time, please.",
        "parent@example.org",
    )
    .await?;
    let withheld = as_a_browser(
        pages,
        assembly,
        &crate::keys::generate_key()?,
        "The head teacher is useless and everyone knows it.",
        "",
    )
    .await?;
    let body = form(&[("text", "A crossing patrol on the main road.\r\nIt is dangerous at 8am."), ("consent", "yes")]);
    let (status, answer) = http(
        pages,
        "POST",
        &format!("/assemblies/{assembly}/calls/{CALL}/submissions"),
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    )
    .await?;
    if status != 201 {
        bail!("the plain form was refused ({status}): {answer}");
    }
    let mut moderated = Vec::new();
    for (log_index, decision, reason) in [
        (published, pb::deliberation::ModerationDecision::Publish, ""),
        (withheld, pb::deliberation::ModerationDecision::Withhold, "personal_attack"),
    ] {
        let bundle = klero_ledger::bundle::ProofBundle::parse(&client.proof_bundle(log_index).await?)
            .map_err(|e| anyhow::anyhow!("the receipt of event {log_index}: {e}"))?;
        let hash = klero_ledger::envelope::event_hash_of_envelope_bytes(&bundle.envelope).0.to_vec();
        let decided = pb::deliberation::SubmissionModerated {
            submission_event_hash: hash.clone(),
            decision: decision as i32,
            reason: reason.into(),
        };
        client.append(&moderator.sign(assembly, &decided)?, None).await?;
        moderated.push((log_index, hash));
    }
    println!(
        "residents: call {CALL} opened; 3 submissions through the pages (2 signed in the residents' own browsers, 1 from \
         the plain form with no script); the moderator published event {published} and withheld event {withheld} \
         (personal_attack)"
    );
    let published_event =
        pb::ledger::AppendedEvent { event_hash: moderated[0].1.clone(), log_index: published, ..Default::default() };
    Ok(TakenPart { published: published_event, events: 8 })
}

/// How notifications are sent: through the relay at `url`, trusting `ca_pem` for its
/// certificate when given, or printed.
#[derive(Debug, Default)]
pub struct Relay {
    pub url: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
}

/// The notifier's settings: through the relay, or printed without one.
pub fn notify_config(relay: &Relay, from: &str, public_url: String) -> anyhow::Result<klero_notify::NotifyConfig> {
    let mailer: std::sync::Arc<dyn klero_notify::Mailer> = match &relay.url {
        Some(url) => std::sync::Arc::new(
            klero_notify::SmtpMailer::new(url, relay.ca_pem.as_deref())
                .map_err(|error| anyhow::anyhow!("--smtp {}: {error}", klero_wiring::redacted(url)))?,
        ),
        None => std::sync::Arc::new(klero_notify::PrintMailer),
    };
    let from: klero_notify::Mailbox =
        from.parse().map_err(|error| anyhow::anyhow!("--notify-from {from}: not a mailbox ({error})"))?;
    Ok(klero_notify::NotifyConfig::new(mailer, from, public_url))
}

/// `--notify-languages`: `en`, `cy`, or a comma-separated list of them, in order.
pub fn notify_languages(text: &str) -> anyhow::Result<Vec<klero_pages::Lang>> {
    text.split(',')
        .map(|tag| match tag.trim() {
            "en" => Ok(klero_pages::Lang::En),
            "cy" => Ok(klero_pages::Lang::Cy),
            other => bail!("--notify-languages: {other:?} is not en or cy"),
        })
        .collect()
}

/// Waits until the server's notifier has folded the log up to `log_size` events and sent (or
/// printed) every notification due: the resident who left an email is then told.
pub async fn notified(data_dir: &std::path::Path, log_size: u64) -> anyhow::Result<()> {
    let outbox = klero_notify::Outbox::in_directory(data_dir);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let state = outbox.load()?;
        if state.next_log_index >= log_size && state.pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the notifier has not sent its {} notifications within 30 s", state.pending.len());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
