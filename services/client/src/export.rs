//! Everything an auditor needs from a server, as an export (docs/FORMAT.md §8).

use crate::{ClientError, KleroClient};
use klero_ledger::Hash256;
use klero_proto as pb;
use klero_verifier::{Export, PublishedView};
use tonic::Status;

/// Events fetched per ReadLog call.
const EXPORT_PAGE_EVENTS: u32 = 1_000;

fn malformed(what: &str) -> ClientError {
    ClientError::Refused(Status::data_loss(format!("the server sent a malformed {what}")))
}

/// Fetches everything an auditor needs: the published view digests first, then a checkpoint
/// (which covers them, as the log only grows), then every event up to it.
pub async fn export_from_server(client: &mut KleroClient) -> Result<Export, ClientError> {
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
                .get_view(pb::query::GetViewRequest { view: view.clone(), assembly_id: assembly_id.clone() })
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
    let mut events = Vec::with_capacity(checkpoint.tree_size.min(1 << 20) as usize);
    while (events.len() as u64) < checkpoint.tree_size {
        let wanted = (checkpoint.tree_size - events.len() as u64).min(EXPORT_PAGE_EVENTS as u64) as u32;
        let page = client
            .ledger()
            .read_log(pb::ledger::ReadLogRequest { from_log_index: events.len() as u64, max_count: wanted })
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        if page.events.is_empty() {
            return Err(ClientError::Refused(Status::data_loss(format!(
                "the server returned no events at log index {}",
                events.len()
            ))));
        }
        events.extend(page.events.into_iter().map(|e| e.envelope));
    }
    Ok(Export {
        log_key: checkpoint.verifier_key,
        trust_root: keys.trust_root_public_key.as_slice().try_into().map_err(|_| malformed("trust root"))?,
        checkpoints: vec![checkpoint.signed_note],
        views,
        events,
    })
}
