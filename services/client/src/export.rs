//! Everything an auditor needs from a server, as an export (docs/FORMAT.md §8), written as it
//! arrives, so that neither side holds the whole log in memory.

use crate::{ClientError, KleroClient};
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_verifier::{Export, ExportHeader, ExportWriter, PublishedView};
use tonic::Status;

/// Events fetched per ReadLog call.
const EXPORT_PAGE_EVENTS: u32 = 1_000;

fn malformed(what: &str) -> ClientError {
    ClientError::Refused(Status::data_loss(format!("the server sent a malformed {what}")))
}

fn written(error: std::io::Error) -> ClientError {
    ClientError::Refused(Status::unavailable(format!("writing the export: {error}")))
}

/// Every witnessed checkpoint the server kept of at most `size` events, by size. A server that
/// keeps none (or predates them) gives none.
async fn witnessed_checkpoints_below(client: &mut KleroClient, size: u64) -> Result<Vec<String>, ClientError> {
    let mut notes = Vec::new();
    let mut from_size = 0;
    loop {
        let page = match client
            .ledger()
            .list_witnessed_checkpoints(pb::ledger::ListWitnessedCheckpointsRequest { from_size, max_count: 0 })
            .await
        {
            Ok(page) => page.into_inner().signed_notes,
            Err(status) if status.code() == tonic::Code::Unimplemented => return Ok(notes),
            Err(status) => return Err(ClientError::Refused(status)),
        };
        let full = page.len() == 1_000;
        for note in page {
            let note_size: u64 = note
                .lines()
                .nth(1)
                .and_then(|line| line.parse().ok())
                .ok_or_else(|| malformed("witnessed checkpoint"))?;
            if note_size > size {
                return Ok(notes);
            }
            from_size = note_size + 1;
            notes.push(note);
        }
        if !full {
            return Ok(notes);
        }
    }
}

/// Fetches the published view digests first, then a checkpoint (which covers them, as the log
/// only grows), then every event up to it, writing each page to `out` as it arrives.
/// `progress(events written, events in all)` follows it. Returns the output and the number of
/// events.
pub async fn export<W: std::io::Write>(
    client: &mut KleroClient,
    out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(W, u64), ClientError> {
    let listing = client
        .query()
        .list_assemblies(pb::query::ListAssembliesRequest {})
        .await
        .map_err(ClientError::Refused)?
        .into_inner();
    let mut views = Vec::new();
    for assembly_id in &listing.assembly_ids {
        for view in &listing.views {
            let rendered = client
                .query()
                .get_view(pb::query::GetViewRequest {
                    view: view.clone(),
                    assembly_id: assembly_id.clone(),
                    digest_only: true,
                })
                .await
                .map_err(ClientError::Refused)?
                .into_inner();
            views.push(PublishedView {
                name: rendered.view,
                assembly_id: rendered.assembly_id,
                tree_size: rendered.tree_size,
                digest: Hash256(rendered.digest.as_slice().try_into().map_err(|_| malformed("view digest"))?),
            });
        }
    }
    let checkpoint = client.checkpoint().await?;
    let keys = client
        .registry()
        .list_keys(pb::registry::ListKeysRequest { assembly_id: String::new() })
        .await
        .map_err(ClientError::Refused)?
        .into_inner();
    // The witnessed checkpoints the server kept up to the latest, which bound when each event
    // was recorded (FORMAT.md §13.6), in ascending size; the latest comes last.
    let mut checkpoints = witnessed_checkpoints_below(client, checkpoint.tree_size).await?;
    checkpoints.push(checkpoint.signed_note);
    let header = ExportHeader {
        log_key: checkpoint.verifier_key,
        trust_root: keys.trust_root_public_key.as_slice().try_into().map_err(|_| malformed("trust root"))?,
        checkpoints,
        views,
    };
    let total = checkpoint.tree_size;
    let mut writer = ExportWriter::start(out, &header).map_err(written)?;
    let mut done = 0u64;
    while done < total {
        let wanted = (total - done).min(EXPORT_PAGE_EVENTS as u64) as u32;
        let page = client
            .ledger()
            .read_log(pb::ledger::ReadLogRequest { from_log_index: done, max_count: wanted })
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        if page.events.is_empty() {
            return Err(ClientError::Refused(Status::data_loss(format!(
                "the server returned no events at log index {done}"
            ))));
        }
        for event in page.events {
            writer.event(&event.envelope).map_err(written)?;
            done += 1;
        }
        progress(done, total);
    }
    writer.finish().map_err(written)
}

/// [`export`] into memory, for tests and small logs.
pub async fn export_from_server(client: &mut KleroClient) -> Result<Export, ClientError> {
    let (bytes, _) = export(client, Vec::new(), &mut |_, _| {}).await?;
    let text = String::from_utf8(bytes).map_err(|_| malformed("export"))?;
    Export::parse(&text).map_err(|e| ClientError::Refused(Status::data_loss(format!("the export does not parse: {e}"))))
}
