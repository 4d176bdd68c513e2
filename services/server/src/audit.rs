//! `klero export`, `klero verify` and `klero view`: the auditor's side of the CLI.
//!
//! Export and verification both stream: `klero export` writes each page of events as it
//! arrives, and `klero verify` reads and checks an export in bounded memory, whatever its
//! length. Every outcome of `klero verify --json`, a file that cannot be read included, is one
//! JSON report on stdout.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use klero_client::KleroClient;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::merkle::verify_consistency;
use klero_proto as pb;
use klero_verifier::{verify_stream, Failure, FailureClass, Report, VerifyOptions};
use std::io::{BufReader, BufWriter};
use std::path::Path;

/// A progress bar with rate and time left on a terminal, nothing elsewhere.
fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events, {per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-"),
    );
    bar.set_message(what.to_string());
    bar
}

/// Writes an export of the server's log to `out` as it arrives, with a progress bar.
async fn export_to_writer<W: std::io::Write>(
    client: &mut KleroClient,
    out: W,
    bar: &ProgressBar,
) -> anyhow::Result<(W, u64)> {
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    Ok(klero_client::export::export(client, out, &mut progress).await?)
}

pub async fn export_to_file(url: &str, out: &Path) -> anyhow::Result<()> {
    let mut client = KleroClient::connect(url).await?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = progress_bar(0, "exporting");
    let (writer, events) = export_to_writer(&mut client, BufWriter::new(file), &bar).await?;
    bar.finish_and_clear();
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("writing {}", out.display()))?;
    println!("exported {events} events, a checkpoint and every view's digest to {}", out.display());
    Ok(())
}

/// What the auditor pins, instead of trusting what the export says, and how strict to be.
#[derive(Debug, Default)]
pub struct Pins {
    pub log_key: Option<String>,
    pub trust_root: Option<String>,
    pub allow_unanchored: bool,
    /// A directory of documents (`klero export --documents`) to check against the log.
    pub documents: Option<std::path::PathBuf>,
    /// An openings file (`klero export --openings`) to check against the sealed fields.
    pub openings: Option<std::path::PathBuf>,
    /// Witness verifier keys (`--witness`) and how many must cosign (`--witness-quorum`).
    pub witnesses: Vec<String>,
    pub witness_quorum: Option<usize>,
    /// `--time-tolerance-minutes`: how far an answer's log time and its witnessed bound may
    /// disagree before the report names it (FORMAT.md §13.6).
    pub time_tolerance_minutes: Option<u64>,
    /// `--letters FILE --letters-salt HEX`: the council's address list and salt, to check the
    /// letter lottery that committed to it (FORMAT.md §9.1).
    pub letters: Option<(std::path::PathBuf, String)>,
}

impl Pins {
    /// The verifier's options; a pinned key that does not parse is a `pin` failure.
    fn options(&self) -> Result<VerifyOptions, Failure> {
        let bad = |reason: String| Failure { class: FailureClass::Pin, position: None, line: None, reason };
        let pinned_log_key = match &self.log_key {
            Some(text) => Some(LogVerifierKey::parse_vkey(text).map_err(|e| bad(format!("--log-key: {e}")))?),
            None => None,
        };
        let pinned_trust_root = match &self.trust_root {
            Some(text) => {
                let bytes =
                    klero_ledger::hash::from_hex(text).map_err(|_| bad("--trust-root must be 64 hex digits".into()))?;
                Some(<[u8; 32]>::try_from(bytes).map_err(|_| bad("--trust-root must be 32 bytes".into()))?)
            }
            None => None,
        };
        let witness_policy = crate::transparency::witness_policy(&self.witnesses, self.witness_quorum)
            .map_err(|e| bad(format!("{e:#}")))?;
        Ok(VerifyOptions {
            pinned_log_key,
            pinned_trust_root,
            allow_unanchored: self.allow_unanchored,
            witness_policy,
            collect_committed_documents: self.documents.is_some(),
            collect_sealed_fields: self.openings.is_some(),
            time_tolerance_ms: self.time_tolerance_minutes.map(|minutes| minutes.saturating_mul(60_000)),
            table_spill: Some(klero_domain::spill::SpillTo(klero_wiring::scratch::ScratchDirectory::temporary())),
        })
    }
}

fn print_report(report: &Report, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
}

fn failed(failure: Failure) -> Report {
    Report { first_failure: Some(failure), ..Report::default() }
}

/// `klero verify FILE`: streams the file through the verifier. Returns whether everything
/// holds; every outcome is reported, as one JSON object with `--json`.
pub fn verify_file(path: &Path, pins: &Pins, json: bool) -> bool {
    let report = match (pins.options(), std::fs::File::open(path)) {
        (Err(failure), _) => failed(failure),
        (_, Err(error)) => failed(Failure {
            class: FailureClass::Format,
            position: None,
            line: None,
            reason: format!("cannot open {}: {error}", path.display()),
        }),
        (Ok(options), Ok(file)) => {
            // A rough count for the progress bar: event lines are about 600 bytes.
            let estimate = file.metadata().map(|m| m.len() / 600).unwrap_or(0);
            let bar = progress_bar(estimate, "verifying");
            let mut progress = |done: u64, total: u64| {
                bar.set_length(total.max(estimate));
                bar.set_position(done);
            };
            let mut report = verify_stream(BufReader::with_capacity(1 << 20, file), &options, None, &mut progress);
            bar.finish_and_clear();
            if let (Some(directory), true) = (&pins.documents, report.ok()) {
                check_documents_in(directory, &mut report);
            }
            if let (Some((list, salt)), true) = (&pins.letters, report.ok()) {
                match check_letters_in(path, list, salt) {
                    Ok(audits) => report.letter_audits = audits,
                    Err(failure) => report.first_failure = Some(failure),
                }
            }
            if let (Some(file), true) = (&pins.openings, report.ok()) {
                match crate::privacy::read_openings(file) {
                    Ok(openings) => klero_verifier::check_openings(&mut report, openings),
                    Err(reason) => {
                        report.first_failure =
                            Some(Failure { class: FailureClass::Opening, position: None, line: None, reason })
                    }
                }
            }
            report
        }
    };
    print_report(&report, json);
    report.complete() || (pins.allow_unanchored && report.ok())
}

/// `klero verify --letters LIST --letters-salt HEX`: the letter lotteries of the export at
/// `export` that committed to the address list `list`, checked with the council's salt.
fn check_letters_in(
    export: &Path,
    list: &Path,
    salt_hex: &str,
) -> Result<Vec<klero_verifier::letters::LetterAudit>, Failure> {
    let fail = |reason: String| Failure { class: FailureClass::Letters, position: None, line: None, reason };
    let salt: [u8; 32] = klero_ledger::hash::from_hex(salt_hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| fail("--letters-salt must be 64 hex digits (32 bytes)".into()))?;
    let bytes = std::fs::read(list).map_err(|e| fail(format!("cannot read {}: {e}", list.display())))?;
    let (text, _) = klero_selection::decode_csv(&bytes, klero_selection::InputFile::Addresses)
        .map_err(|e| fail(format!("{}: {e}", list.display())))?;
    let read_list = |area_column: Option<&str>| {
        klero_selection::read_address_list(&text, area_column)
            .map(|read| (read.keys, read.areas))
            .map_err(|e| format!("{}: {e}", list.display()))
    };
    // The export has verified already; it is read again one event at a time, as it streamed.
    let file = std::fs::File::open(export).map_err(|e| fail(format!("cannot read {}: {e}", export.display())))?;
    let mut reader = klero_verifier::ExportReader::new(BufReader::with_capacity(1 << 20, file));
    reader.header().map_err(|e| fail(format!("{}: {e}", export.display())))?;
    let events = std::iter::from_fn(|| reader.next_event().ok().flatten());
    klero_verifier::letters::check_letters(events, klero_ledger::Hash256::of(&bytes), &salt, &read_list)
}

/// `klero verify --council ID FILE`: checks a council's slice (FORMAT.md §15.2) against the
/// pins: the council's record alone, with no event of another council, proven whole against
/// the signed checkpoint and its stream heads, every signature, authority and rule replayed.
pub fn verify_council_slice(path: &Path, council: &str, pins: &Pins, json: bool) -> bool {
    let outcome = (|| -> Result<klero_verifier::slice::VerifiedSlice, Failure> {
        let council = klero_domain::CouncilId::parse(council).map_err(|e| Failure {
            class: FailureClass::Format,
            position: None,
            line: None,
            reason: format!("--council {council:?} {e}"),
        })?;
        let options = pins.options()?;
        let text = std::fs::read_to_string(path).map_err(|error| Failure {
            class: FailureClass::Format,
            position: None,
            line: None,
            reason: format!("cannot read {}: {error}", path.display()),
        })?;
        let slice = klero_verifier::slice::Slice::parse(&text)?;
        let slice_options = klero_verifier::slice::SliceOptions {
            pinned_log_key: options.pinned_log_key,
            pinned_trust_root: options.pinned_trust_root,
            witness_policy: options.witness_policy,
            ..Default::default()
        };
        klero_verifier::slice::verify_slice(
            &slice,
            &klero_verifier::slice::SliceTarget::Council(council),
            &slice_options,
        )
    })();
    match &outcome {
        Ok(verified) => {
            let size = verified.checkpoint.checkpoint().tree_size;
            let assemblies = verified.fold.state().assembly_ids().len();
            if json {
                println!(
                    "{{\"ok\":true,\"council\":\"{council}\",\"tree_size\":{size},\"events\":{},\"streams\":{},\"assemblies\":{assemblies}}}",
                    verified.events.len(),
                    verified.heads.len()
                );
            } else {
                println!(
                    "✓ council {council}: {} events in {} streams ({assemblies} assemblies), whole at the checkpoint of {size} events",
                    verified.events.len(),
                    verified.heads.len()
                );
            }
        }
        Err(failure) => print_report(&failed(failure.clone()), json),
    }
    outcome.is_ok()
}

/// Checks every file in `directory` as a document of the verified log; a directory that cannot
/// be read is a `document` failure.
fn check_documents_in(directory: &Path, report: &mut Report) {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) => {
            report.first_failure = Some(Failure {
                class: FailureClass::Document,
                position: None,
                line: None,
                reason: format!("cannot read {}: {error}", directory.display()),
            });
            return;
        }
    };
    // By name, so that every machine checks the same files before the first that fails; every
    // entry must be a file.
    let mut names = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                report.first_failure = Some(Failure {
                    class: FailureClass::Document,
                    position: None,
                    line: None,
                    reason: format!("cannot read {}: {error}", directory.display()),
                });
                return;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            report.first_failure = Some(Failure {
                class: FailureClass::Document,
                position: None,
                line: None,
                reason: format!(
                    "{name:?} in {} is not a file: a documents directory holds only documents",
                    directory.display()
                ),
            });
            return;
        }
        names.push(name);
    }
    names.sort();
    // One document in memory at a time: the iterator reads each file as it is checked.
    let documents = names.into_iter().map(|name| {
        let bytes = std::fs::read(directory.join(&name)).unwrap_or_default();
        (name, bytes)
    });
    klero_verifier::check_documents(report, documents);
}

/// `klero export --documents DIR`: writes every document an event commits to and the server
/// holds, each as `DIR/<hex sha256>`.
pub async fn export_documents(url: &str, directory: &Path) -> anyhow::Result<u64> {
    let mut client = KleroClient::connect(url).await?;
    std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
    let mut after = Vec::new();
    let mut written = 0;
    loop {
        let page = client
            .documents()
            .list_documents(pb::documents::ListDocumentsRequest { after_sha256: after.clone(), max_count: 1_000 })
            .await?
            .into_inner()
            .documents;
        let Some(last) = page.last() else { break };
        after = last.sha256.clone();
        for info in &page {
            let sha256 = klero_ledger::Hash256(info.sha256.as_slice().try_into().context("a 32-byte hash")?);
            let document = client.download_document(&sha256).await?;
            let path = directory.join(sha256.to_hex());
            std::fs::write(&path, &document.bytes).with_context(|| format!("writing {}", path.display()))?;
            written += 1;
        }
    }
    Ok(written)
}

/// `klero verify --server URL`: verifies a fresh export as it arrives, then proves that the
/// server's checkpoint extends the one seen last time (kept in `state`), as Go's
/// checksum-database client does, and remembers the new one.
pub async fn verify_server(url: &str, state: &Path, pins: &Pins, json: bool) -> anyhow::Result<bool> {
    let options = match pins.options() {
        Ok(options) => options,
        Err(failure) => {
            print_report(&failed(failure), json);
            return Ok(false);
        }
    };
    let mut client = KleroClient::connect(url).await?;
    // The export goes through a temporary file, so that verification streams it too.
    let spool = tempfile::tempfile().context("creating a temporary file")?;
    let bar = progress_bar(0, "fetching");
    let (spool, events) = export_to_writer(&mut client, BufWriter::new(spool), &bar).await?;
    bar.finish_and_clear();
    let mut spool = spool.into_inner().map_err(|e| e.into_error())?;
    std::io::Seek::rewind(&mut spool)?;
    let bar = progress_bar(events, "verifying");
    let mut progress = |done: u64, _total: u64| bar.set_position(done);
    let report = verify_stream(BufReader::with_capacity(1 << 20, spool), &options, Some(events), &mut progress);
    bar.finish_and_clear();
    print_report(&report, json);
    if !report.complete() {
        return Ok(pins.allow_unanchored && report.ok());
    }
    let checkpoint = client.checkpoint().await?;
    let log_key = LogVerifierKey::parse_vkey(&checkpoint.verifier_key)?;
    let current = log_key.verify(&checkpoint.signed_note)?;
    if let Ok(previous_note) = std::fs::read_to_string(state) {
        let previous = log_key
            .verify(&previous_note)
            .context("the remembered checkpoint no longer verifies with this log's key")?;
        let (old, new) = (previous.checkpoint(), current.checkpoint());
        if old.tree_size > new.tree_size {
            bail!(
                "the server's checkpoint (size {}) is older than the one seen before (size {}): a rollback",
                new.tree_size,
                old.tree_size
            );
        }
        let proof = client.consistency_proof(old.tree_size, new.tree_size).await?;
        verify_consistency(old.tree_size, new.tree_size, &old.root_hash, &new.root_hash, &proof).with_context(
            || {
                format!(
                    "the log of size {} does not extend the one of size {} seen before: history was rewritten",
                    new.tree_size, old.tree_size
                )
            },
        )?;
        if !json {
            println!(
                "consistent with the checkpoint seen before (size {} → {}, {} proof hashes)",
                old.tree_size,
                new.tree_size,
                proof.len()
            );
        }
    } else if !json {
        println!("no earlier checkpoint remembered in {}; remembering this one", state.display());
    }
    std::fs::write(state, current.note()).with_context(|| format!("writing {}", state.display()))?;
    Ok(true)
}

/// `klero view NAME --server URL [--assembly ID]`. Prints the view's canonical JSON exactly,
/// with no newline after it, so that `klero view … | sha256sum` gives its digest.
pub async fn print_view(url: &str, name: &str, assembly: Option<String>) -> anyhow::Result<()> {
    let mut client = KleroClient::connect(url).await?;
    let assembly_id = match assembly {
        Some(id) => id,
        None => {
            let listing = client.query().list_assemblies(pb::query::ListAssembliesRequest {}).await?.into_inner();
            match listing.assembly_ids.as_slice() {
                [only] => only.clone(),
                [] => bail!("the server has no assemblies yet"),
                many => bail!("the server has several assemblies; choose one with --assembly: {}", many.join(", ")),
            }
        }
    };
    let view = client.view(name, &assembly_id).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(view.json.as_bytes())?;
        out.flush()?;
    }
    eprintln!(
        "{} v{} of {}: sha256 {} at tree size {} (root {})",
        view.view,
        view.version,
        view.assembly_id,
        klero_ledger::hash::to_hex(&view.digest),
        view.tree_size,
        klero_ledger::hash::to_hex(&view.root_hash)
    );
    Ok(())
}

/// `klero receipt`: the event's proof bundle, written to `out`.
pub async fn write_receipt(url: &str, log_index: u64, out: &Path) -> anyhow::Result<()> {
    let mut client = KleroClient::connect(url).await?;
    let bundle = client.proof_bundle(log_index).await?;
    std::fs::write(out, &bundle).with_context(|| format!("writing {}", out.display()))?;
    println!("receipt for log index {log_index} written to {}", out.display());
    Ok(())
}

/// `klero trace`: checks a receipt against the server and prints the path to the answer.
pub async fn trace_receipt(url: &str, receipt: &Path, log_key: Option<&str>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(receipt).with_context(|| format!("reading {}", receipt.display()))?;
    let pinned = log_key.map(LogVerifierKey::parse_vkey).transpose().context("--log-key")?;
    let mut client = KleroClient::connect(url).await?;
    let followed = klero_client::trace::follow_receipt(&mut client, &text, pinned.as_ref()).await?;
    for line in klero_client::trace::describe(&followed) {
        println!("{line}");
    }
    Ok(())
}
