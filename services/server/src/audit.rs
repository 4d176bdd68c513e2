//! `klero export`, `klero verify` and `klero view`: the auditor's side of the CLI.

use anyhow::{bail, Context};
use klero_client::KleroClient;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::merkle::verify_consistency;
use klero_proto as pb;
use klero_verifier::{verify_export, Export, Report};
use std::io::{IsTerminal, Write};
use std::path::Path;

/// Fetches everything an auditor needs from the server at `url`.
pub async fn export_from_server(url: &str) -> anyhow::Result<Export> {
    let mut client = KleroClient::connect(url).await?;
    Ok(klero_client::export::export_from_server(&mut client).await?)
}

pub async fn export_to_file(url: &str, out: &Path) -> anyhow::Result<()> {
    let export = export_from_server(url).await?;
    std::fs::write(out, export.encode()).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "exported {} events, {} checkpoint(s) and {} view digests to {}",
        export.events.len(),
        export.checkpoints.len(),
        export.views.len(),
        out.display()
    );
    Ok(())
}

/// What the auditor pins, instead of trusting what the export says.
#[derive(Debug, Default)]
pub struct Pins {
    pub log_key: Option<String>,
    pub trust_root: Option<String>,
}

fn check_pins(export: &Export, pins: &Pins) -> anyhow::Result<()> {
    if let Some(log_key) = &pins.log_key {
        if LogVerifierKey::parse_vkey(log_key)? != LogVerifierKey::parse_vkey(&export.log_key)? {
            bail!("the export's log key {} is not the pinned {log_key}", export.log_key);
        }
    }
    if let Some(trust_root) = &pins.trust_root {
        if klero_ledger::hash::to_hex(&export.trust_root) != trust_root.to_lowercase() {
            bail!("the export's trust root is not the pinned {trust_root}");
        }
    }
    Ok(())
}

/// Verifies with a progress bar on stderr when it is a terminal.
fn verify_with_progress(export: &Export) -> Report {
    let show = std::io::stderr().is_terminal();
    let mut progress = |done: u64, total: u64| {
        if show && total > 0 {
            let width = 40;
            let filled = (done * width / total) as usize;
            eprint!("\rverifying [{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width as usize - filled));
            let _ = std::io::stderr().flush();
        }
    };
    let report = verify_export(export, &mut progress);
    if show {
        eprintln!();
    }
    report
}

fn print_report(report: &Report, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
}

/// `klero verify FILE`: returns whether everything holds.
pub fn verify_file(path: &Path, pins: &Pins, json: bool) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let export = Export::parse(&text)?;
    check_pins(&export, pins)?;
    let report = verify_with_progress(&export);
    print_report(&report, json);
    Ok(report.ok())
}

/// `klero verify --server URL`: verifies a fresh export, then proves that the server's
/// checkpoint extends the one seen last time (kept in `state`), as Go's checksum-database
/// client does, and remembers the new one.
pub async fn verify_server(url: &str, state: &Path, pins: &Pins, json: bool) -> anyhow::Result<bool> {
    let export = export_from_server(url).await?;
    check_pins(&export, pins)?;
    let report = verify_with_progress(&export);
    print_report(&report, json);
    if !report.ok() {
        return Ok(false);
    }
    let log_key = LogVerifierKey::parse_vkey(&export.log_key)?;
    let current = log_key.verify(&export.checkpoints[0])?;
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
        let mut client = KleroClient::connect(url).await?;
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

/// `klero view NAME --server URL [--assembly ID]`.
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
    let view =
        client.query().get_view(pb::query::GetViewRequest { view: name.to_string(), assembly_id }).await?.into_inner();
    println!("{}", view.json);
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
