//! A participant's receipt, and the path from it to the council's answer.
//!
//! A receipt is the offline proof bundle of the participant's event (docs/FORMAT.md §5): the
//! event, its inclusion proof and a signed checkpoint. [`follow_receipt`] checks, from the
//! receipt and the server's public API alone:
//! 1. the receipt: its checkpoint is signed by the log key, and the event is in that tree;
//! 2. the event is still in the log: the server's current checkpoint extends the receipt's
//!    (a consistency proof);
//! 3. the `input-trace` view the server serves covers a prefix of that log (a consistency proof
//!    from the view's root), and its digest is the SHA-256 of its JSON.
//!
//! Then it returns the event's entry in that view: what cited it, and what became of those
//! recommendations. Rebuilding the view itself needs the whole log (`klero verify`).

use crate::{ClientError, KleroClient};
use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::merkle::verify_consistency;
use klero_ledger::Hash256;

/// What a receipt proved, and the input's entry in the trace.
#[derive(Clone, Debug)]
pub struct FollowedReceipt {
    pub event_hash: Hash256,
    pub log_index: u64,
    pub event_type: String,
    pub assembly_id: String,
    /// The tree size of the receipt's checkpoint.
    pub receipt_tree_size: u64,
    /// The tree size of the server's checkpoint the receipt was proved consistent with.
    pub current_tree_size: u64,
    /// The tree size the trace view covers, proved a prefix of the current tree.
    pub view_tree_size: u64,
    pub view_digest: Hash256,
    /// The input's entry in `input-trace`; `None` if the event is not an input (evidence or a
    /// public submission).
    pub entry: Option<serde_json::Value>,
}

fn receipt_error(reason: impl Into<String>) -> ClientError {
    ClientError::Receipt(reason.into())
}

/// Checks `receipt` against the server and follows the event through `input-trace`.
/// `pinned` is the log's verifier key the participant trusts; without it, the server's.
pub async fn follow_receipt(
    client: &mut KleroClient,
    receipt: &str,
    pinned: Option<&LogVerifierKey>,
) -> Result<FollowedReceipt, ClientError> {
    let bundle = ProofBundle::parse(receipt).map_err(|e| receipt_error(format!("the receipt does not parse: {e}")))?;
    let current = client.checkpoint().await?;
    let server_key = LogVerifierKey::parse_vkey(&current.verifier_key)
        .map_err(|e| receipt_error(format!("the server's verifier key: {e}")))?;
    if let Some(pinned) = pinned {
        if *pinned != server_key {
            return Err(receipt_error(format!(
                "the server signs with {}, not the pinned key {}",
                current.verifier_key,
                pinned.to_vkey_string()
            )));
        }
    }
    let key = pinned.unwrap_or(&server_key);
    let proved = bundle.verify(key).map_err(|e| receipt_error(format!("the receipt does not verify: {e}")))?;
    let receipt_tree = proved.checkpoint.checkpoint().clone();
    let now = key
        .verify(&current.signed_note)
        .map_err(|e| receipt_error(format!("the server's checkpoint does not verify: {e}")))?
        .checkpoint()
        .clone();
    let consistency = client.consistency_proof(receipt_tree.tree_size, now.tree_size).await?;
    verify_consistency(receipt_tree.tree_size, now.tree_size, &receipt_tree.root_hash, &now.root_hash, &consistency)
        .map_err(|e| receipt_error(format!("the log no longer extends the receipt's checkpoint: {e}")))?;

    let author = proved.envelope.author();
    let assembly_id = author
        .stream
        .strip_prefix("assembly/")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| receipt_error(format!("the event's stream {} is not an assembly's", author.stream)))?
        .to_string();
    let view = client.view("input-trace", &assembly_id).await?;
    let digest = Hash256::of(view.json.as_bytes());
    if view.digest != digest.0 {
        return Err(receipt_error("the trace view's digest is not the SHA-256 of its JSON"));
    }
    // The view's prefix must be one the signed log extends.
    let view_root =
        Hash256(view.root_hash.as_slice().try_into().map_err(|_| receipt_error("the trace view has no 32-byte root"))?);
    let checkpoint = client.checkpoint().await?;
    let latest = key
        .verify(&checkpoint.signed_note)
        .map_err(|e| receipt_error(format!("the server's checkpoint does not verify: {e}")))?
        .checkpoint()
        .clone();
    if view.tree_size > latest.tree_size || view.tree_size <= bundle.leaf_index {
        return Err(receipt_error(format!(
            "the trace view covers {} events, not a prefix holding the event at {} within the signed {}",
            view.tree_size, bundle.leaf_index, latest.tree_size
        )));
    }
    let proof = client.consistency_proof(view.tree_size, latest.tree_size).await?;
    verify_consistency(view.tree_size, latest.tree_size, &view_root, &latest.root_hash, &proof)
        .map_err(|e| receipt_error(format!("the trace view's prefix is not the signed log's: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_str(&view.json).map_err(|e| receipt_error(format!("the trace view is not JSON: {e}")))?;
    let hex = proved.event_hash.to_hex();
    let entry = json["body"]["inputs"]
        .as_array()
        .and_then(|inputs| inputs.iter().find(|input| input["event_hash"].as_str() == Some(hex.as_str())))
        .cloned();
    Ok(FollowedReceipt {
        event_hash: proved.event_hash,
        log_index: bundle.leaf_index,
        event_type: author.event_type.clone(),
        assembly_id,
        receipt_tree_size: receipt_tree.tree_size,
        current_tree_size: now.tree_size,
        view_tree_size: view.tree_size,
        view_digest: digest,
        entry,
    })
}

/// The path as lines a person reads.
pub fn describe(followed: &FollowedReceipt) -> Vec<String> {
    let mut lines = vec![
        format!(
            "receipt: {} at log index {} (event hash {}) is in the signed tree of {} events ✓",
            followed.event_type, followed.log_index, followed.event_hash, followed.receipt_tree_size
        ),
        format!(
            "still in the log: the current signed tree of {} events extends the receipt's ✓",
            followed.current_tree_size
        ),
        format!(
            "trace: input-trace of {} covers {} events, a prefix of the signed log; digest {} ✓",
            followed.assembly_id, followed.view_tree_size, followed.view_digest
        ),
    ];
    let Some(entry) = &followed.entry else {
        lines.push("this event is not an input (evidence or a public submission): nothing cites it".into());
        return lines;
    };
    let cited = entry["cited_by"].as_array().cloned().unwrap_or_default();
    let considered = entry["considered_in"].as_array().cloned().unwrap_or_default();
    if cited.is_empty() && considered.is_empty() {
        lines.push("no recommendation or response cites it yet".into());
    }
    for c in &cited {
        lines.push(format!(
            "cited by recommendation {} (log index {}): {}",
            c["recommendation_id"].as_str().unwrap_or("?"),
            c["log_index"],
            c["note"].as_str().unwrap_or("")
        ));
    }
    for c in &considered {
        lines.push(format!(
            "considered in the council's response to {} (log index {}): {}",
            c["recommendation_id"].as_str().unwrap_or("?"),
            c["log_index"],
            c["note"].as_str().unwrap_or("")
        ));
    }
    for outcome in entry["outcomes"].as_array().cloned().unwrap_or_default() {
        let id = outcome["recommendation_id"].as_str().unwrap_or("?");
        let status = outcome["status"].as_str().unwrap_or("?");
        match outcome["response"].as_object() {
            Some(response) => lines.push(format!(
                "{id} was {status}; the council's answer (log index {}): {} — {}",
                response["log_index"],
                response["decision"].as_str().unwrap_or("?"),
                personal_text(&response["rationale"])
            )),
            None => lines.push(format!("{id} is {status}; no answer from the council yet")),
        }
        for update in outcome["implementation"].as_array().cloned().unwrap_or_default() {
            lines.push(format!(
                "  implementation (log index {}): {} at {}% — {}",
                update["log_index"],
                update["status"].as_str().unwrap_or("?"),
                update["progress_percent"],
                personal_text(&update["note"])
            ));
        }
    }
    lines
}

/// A view's free-text field as a line shows it: plain text as it is; sealed text (FORMAT.md
/// §14) by what became of it, since views never hold its plaintext.
fn personal_text(value: &serde_json::Value) -> String {
    match (value.as_str(), value["erased_on"].as_str()) {
        (Some(text), _) => text.to_string(),
        (None, Some(erased_on)) => {
            format!("erased on {erased_on} ({})", value["erasure_reason"].as_str().unwrap_or(""))
        }
        (None, None) if value["sealed_commitment"].is_string() => {
            "sealed text (Query.OpenPersonalText opens it)".to_string()
        }
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::personal_text;
    use serde_json::json;

    #[test]
    fn a_trace_line_says_what_became_of_sealed_text() {
        assert_eq!(personal_text(&json!("Budget allocated.")), "Budget allocated.");
        assert_eq!(personal_text(&json!({"sealed_commitment": "ab"})), "sealed text (Query.OpenPersonalText opens it)");
        let erased = json!({"sealed_commitment": "ab", "erased_on": "2026-12-01", "erasure_reason": "Art. 17"});
        assert_eq!(personal_text(&erased), "erased on 2026-12-01 (Art. 17)");
    }
}
