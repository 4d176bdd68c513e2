//! `klero demo`: a small, complete tour of the ledger on the embedded store. It appends signed
//! events for an assembly, signs a checkpoint, and checks an offline proof bundle and a
//! consistency proof exactly as an auditor would.

use crate::keys::generate_key;
use anyhow::Context;
use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_ledger::merkle::verify_consistency;
use klero_log::{LogConfig, TransparencyLog};
use klero_store::{EmbeddedStore, EmbeddedStoreOptions, ExpectedRevision};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn new_event_id() -> anyhow::Result<EventId> {
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id)?;
    id[6] = (id[6] & 0x0f) | 0x40; // UUID version 4
    id[8] = (id[8] & 0x3f) | 0x80; // RFC 4122 variant
    Ok(EventId(id))
}

pub async fn run(data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir()?;
    let directory = data_dir.unwrap_or_else(|| temporary.path().to_path_buf());
    let store = Arc::new(EmbeddedStore::open(&directory, EmbeddedStoreOptions::default()).await?);
    let log_key = LogSigningKey::new("kleroterion.demo/log", generate_key()?)?;
    let verifier = log_key.verifier();
    let config =
        LogConfig { log_key, checkpoint_file: Some(directory.join("checkpoint")), verify_signatures_on_open: true };
    let log = TransparencyLog::open(store.clone(), config).await?;
    println!("data directory: {}", directory.display());
    println!("log verifier key: {}", verifier.to_vkey_string());

    let convenor = generate_key()?;
    let facilitator = generate_key()?;
    let assembly = "assembly/demo-2026";
    let steps: [(&str, &str, &klero_ledger::SigningKey, &str); 6] = [
        ("", "klero.assembly.AssemblyConvened", &convenor, "remit: how should the area cut its carbon emissions?"),
        ("/selection", "klero.selection.SelectionPlanned", &convenor, "panel of 22 by stratified lottery"),
        ("/deliberation", "klero.deliberation.SessionHeld", &facilitator, "session 1: evidence on transport"),
        ("/deliberation", "klero.deliberation.EvidencePresented", &facilitator, "sha256 of the expert's slides"),
        ("/deliberation", "klero.deliberation.SessionHeld", &facilitator, "session 2: evidence on housing"),
        ("/recommendation", "klero.recommendation.RecommendationDrafted", &facilitator, "R1: a frequent bus network"),
    ];
    let mut checkpoint_before = None;
    let mut last = None;
    for (step, (suffix, event_type, key, payload)) in steps.into_iter().enumerate() {
        if step == 3 {
            // An earlier tree head, as an auditor would have fetched it, to prove consistency.
            checkpoint_before = Some(log.checkpoint().await?);
        }
        let author = AuthorPart {
            event_id: new_event_id()?,
            stream: format!("{assembly}{suffix}"),
            event_type: event_type.to_string(),
            event_version: 1,
            author_public_key: key.verifying_key().to_bytes(),
            authored_at_unix_ms: now_unix_ms(),
            payload: payload.as_bytes().to_vec(),
        };
        let appended = log.append(author.sign(key)?, ExpectedRevision::Any, now_unix_ms()).await?;
        println!(
            "appended #{:<3} {:<45} stream {} rev {}  hash {}",
            appended.leaf_index, event_type, appended.stream, appended.stream_revision, appended.event_hash
        );
        last = Some(appended);
    }
    let last = last.context("no event appended")?;

    let checkpoint = log.checkpoint().await?;
    println!("\nsigned checkpoint:\n{}", checkpoint.note());

    let bundle_text = log.proof_bundle(last.leaf_index).await?.encode();
    let verified = ProofBundle::parse(&bundle_text)?.verify(&verifier)?;
    println!(
        "offline proof bundle for #{} verified: event {} is in the tree of size {} with root {}",
        last.leaf_index,
        verified.envelope.author().event_id,
        verified.checkpoint.checkpoint().tree_size,
        verified.checkpoint.checkpoint().root_hash
    );

    let checkpoint_before = checkpoint_before.context("no earlier checkpoint")?;
    let old = checkpoint_before.checkpoint();
    let new = checkpoint.checkpoint();
    let proof = log.consistency_proof(old.tree_size, new.tree_size)?;
    verify_consistency(old.tree_size, new.tree_size, &old.root_hash, &new.root_hash, &proof)?;
    println!(
        "consistency proof from size {} to size {} verified ({} hashes)",
        old.tree_size,
        new.tree_size,
        proof.len()
    );
    store.close().await;
    Ok(())
}
