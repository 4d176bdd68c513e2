//! `klero erase`, `klero overdue` and `klero export --openings`: personal text on the CLI
//! (docs/FORMAT.md §14).

use anyhow::{bail, Context};
use klero_client::{Author, KleroClient};
use klero_ledger::envelope::Envelope;
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_verifier::openings::{encode_opening, openings_header};
use klero_verifier::{ExportReader, Opening};
use std::io::{BufReader, Write};
use std::path::Path;

/// What `klero erase` erases.
#[derive(Debug)]
pub enum EraseTarget {
    /// The personal content of one event, by its hash.
    Event(Hash256),
    /// Every item whose retention period has ended.
    Overdue,
}

/// Today's date (UTC), YYYY-MM-DD, from the system clock.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
    klero_domain::Date(days as i64).to_string()
}

/// `klero overdue`: prints the items whose retention period has ended, one per line.
pub async fn print_overdue(url: &str, assembly: &str) -> anyhow::Result<()> {
    let mut client = KleroClient::connect(url).await?;
    let listed = list_overdue(&mut client, assembly).await?;
    if listed.retention_days == 0 {
        println!("assembly {assembly} has set no retention period: nothing is overdue");
    }
    for item in &listed.overdue {
        println!(
            "{} log index {} due since {} ms",
            klero_ledger::hash::to_hex(&item.event_hash),
            item.log_index,
            item.due_at_unix_ms
        );
    }
    eprintln!("{} overdue (retention period {} days)", listed.overdue.len(), listed.retention_days);
    if listed.erasures_complete_at_once {
        eprintln!("each erasure is complete as it is made: the store overwrites the key in place");
    } else if listed.erasures_complete_through_unix_ms == 0 {
        eprintln!("erasures are not complete in the database's old copies: start klero with --key-encryption-keys");
    } else {
        eprintln!(
            "erasures recorded up to {} ms since the epoch are complete in every copy the database keeps; later ones complete at its next key rotation",
            listed.erasures_complete_through_unix_ms
        );
    }
    Ok(())
}

async fn list_overdue(
    client: &mut KleroClient,
    assembly: &str,
) -> anyhow::Result<pb::query::ListOverdueErasuresResponse> {
    Ok(client
        .query()
        .list_overdue_erasures(pb::query::ListOverdueErasuresRequest { assembly_id: assembly.into() })
        .await?
        .into_inner())
}

/// `klero erase`: signs a `ContentErased` for each target with the data protection officer's
/// key and appends it; the server destroys each key once the event is durable.
pub async fn erase(
    url: &str,
    key_file: &Path,
    assembly: &str,
    target: EraseTarget,
    legal_basis: Option<String>,
) -> anyhow::Result<()> {
    let officer = Author::new(crate::keys::read_secret_key(key_file)?);
    let mut client = KleroClient::connect(url).await?;
    let (targets, legal_basis) = match target {
        EraseTarget::Event(hash) => (vec![hash], legal_basis.context("--legal-basis is required with --event")?),
        EraseTarget::Overdue => {
            let listed = list_overdue(&mut client, assembly).await?;
            let basis = legal_basis.unwrap_or_else(|| {
                format!(
                    "UK GDPR Art. 5(1)(e): the assembly's retention period of {} days has ended",
                    listed.retention_days
                )
            });
            let hashes = listed
                .overdue
                .iter()
                .map(|item| item.event_hash.as_slice().try_into().map(Hash256))
                .collect::<Result<Vec<_>, _>>()
                .context("the server listed a hash that is not 32 bytes")?;
            (hashes, basis)
        }
    };
    let erased_on = today();
    for event_hash in &targets {
        let payload = pb::privacy::ContentErased {
            event_hash: event_hash.0.to_vec(),
            legal_basis: legal_basis.clone(),
            erased_on: erased_on.clone(),
        };
        let appended = client.append(&officer.sign(assembly, &payload)?, None).await?;
        println!("erased {event_hash} on {erased_on}: ContentErased at log index {}", appended.log_index);
    }
    eprintln!("{} erased", targets.len());
    Ok(())
}

/// `klero export --openings FILE`: for each sealed field of the exported log that the server
/// can still open, its text and salt, so that `klero verify --openings` checks them against
/// their commitments. The file holds personal data: give it only to an auditor entitled to it.
pub async fn export_openings(url: &str, export_file: &Path, out: &Path) -> anyhow::Result<u64> {
    let mut client = KleroClient::connect(url).await?;
    let file = std::fs::File::open(export_file).with_context(|| format!("opening {}", export_file.display()))?;
    let mut reader = ExportReader::new(BufReader::new(file));
    reader.header().map_err(|e| anyhow::anyhow!("{}: {e}", export_file.display()))?;
    let mut output =
        std::io::BufWriter::new(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?);
    output.write_all(openings_header().as_bytes())?;
    let (mut index, mut written) = (0u64, 0u64);
    while let Some(bytes) = reader.next_event().map_err(|e| anyhow::anyhow!("{}: {e}", export_file.display()))? {
        let envelope = Envelope::parse(bytes)?;
        let has_sealed = klero_fold::LogFold::decode(&envelope).is_ok_and(|event| !event.sealed_fields().is_empty());
        if has_sealed {
            let Some((_, Some(assembly))) = klero_domain::StreamKind::parse_stream(&envelope.author().stream) else {
                bail!("log index {index}: sealed text outside an assembly's streams");
            };
            let opened = client
                .query()
                .open_personal_text(pb::query::OpenPersonalTextRequest {
                    assembly_id: assembly.to_string(),
                    event_hash: envelope.event_hash().0.to_vec(),
                })
                .await?
                .into_inner();
            for field in opened.fields.into_iter().filter(|f| !f.salt.is_empty()) {
                let salt = field.salt.as_slice().try_into().context("the server sent a salt that is not 32 bytes")?;
                let opening = Opening { log_index: index, field: field.field, salt, text: field.text };
                output.write_all(encode_opening(&opening).as_bytes())?;
                written += 1;
            }
        }
        index += 1;
    }
    output.flush()?;
    Ok(written)
}

/// Reads an openings file for `klero verify --openings`.
pub fn read_openings(path: &Path) -> Result<Vec<Opening>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    klero_verifier::openings::parse_openings(&text).map_err(|e| format!("{}: {e}", path.display()))
}
