//! The log's side of C2SP tlog-witness: each time the publisher publishes a checkpoint, ask
//! every configured witness to cosign it (with a consistency proof from the size that witness
//! cosigned last), verify what each returns against that witness's key, and keep the
//! cosignatures with the checkpoint, which the log then serves (`/checkpoint`, gRPC, exports).

use crate::http_client::{join, HttpClient};
use klero_application::{Application, FrontEnd, FrontEndError, Shutdown};
use klero_ledger::checkpoint::{split_note, NoteSignature, SignedCheckpoint};
use klero_ledger::cosignature::CosignerVerifierKey;
use klero_ledger::witness::AddCheckpointRequest;
use std::sync::Arc;
use std::time::Duration;

/// A witness the log asks: its submission prefix (`http://host:port/prefix`) and its key.
#[derive(Clone, Debug)]
pub struct WitnessEndpoint {
    pub url: String,
    pub key: CosignerVerifierKey,
}

/// Longest answer a witness may give: a few signature lines.
const WITNESS_ANSWER_BYTES_MAX: usize = 16 * 1024;
/// Requests one witness gets for one checkpoint: one, and one more after it named its size.
const ATTEMPTS_PER_CHECKPOINT: usize = 2;

/// Asks the witnesses for cosignatures on every published checkpoint. Runs beside the front
/// ends (it is one, serving no one) until shutdown.
#[derive(Debug)]
pub struct WitnessCosigner {
    witnesses: Vec<WitnessEndpoint>,
    client: HttpClient,
}

impl WitnessCosigner {
    /// `timeout` bounds each request to a witness; a witness that is down costs a round that
    /// long at most, and the others' cosignatures are kept.
    pub fn new(witnesses: Vec<WitnessEndpoint>, timeout: Duration) -> WitnessCosigner {
        WitnessCosigner { witnesses, client: HttpClient::new(timeout) }
    }
}

#[async_trait::async_trait]
impl FrontEnd for WitnessCosigner {
    fn name(&self) -> &'static str {
        "witnesses"
    }

    async fn serve(self: Box<Self>, application: Arc<Application>, shutdown: Shutdown) -> Result<(), FrontEndError> {
        let mut publications = application.checkpoint_publications();
        // The size each witness cosigned last, as far as we know: unknown until it answers.
        let mut known: Vec<Option<u64>> = vec![None; self.witnesses.len()];
        let mut current = publications.latest();
        let stop = shutdown.signalled();
        tokio::pin!(stop);
        loop {
            if let Some(checkpoint) = current.take() {
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    _ = self.round(&application, &checkpoint, &mut known) => {}
                }
            }
            tokio::select! {
                _ = &mut stop => return Ok(()),
                next = publications.next() => match next {
                    Some(checkpoint) => current = Some(checkpoint),
                    None => return Ok(()),
                },
            }
        }
    }
}

impl WitnessCosigner {
    /// One round: every witness at once; keeps whatever valid cosignatures came back.
    async fn round(&self, application: &Arc<Application>, checkpoint: &SignedCheckpoint, known: &mut [Option<u64>]) {
        let mut asks = tokio::task::JoinSet::new();
        for (index, witness) in self.witnesses.iter().enumerate() {
            let (application, client, witness, checkpoint, size) =
                (application.clone(), self.client.clone(), witness.clone(), checkpoint.clone(), known[index]);
            asks.spawn(async move { (index, ask(&application, &client, &witness, &checkpoint, size).await) });
        }
        let mut cosignatures = Vec::new();
        while let Some(joined) = asks.join_next().await {
            let Ok((index, (size, line))) = joined else { continue };
            known[index] = size;
            cosignatures.extend(line);
        }
        tracing::info!(
            tree_size = checkpoint.checkpoint().tree_size,
            cosignatures = cosignatures.len(),
            witnesses = self.witnesses.len(),
            "checkpoint witnessed"
        );
        application.record_cosignatures(checkpoint, &cosignatures).await;
    }
}

/// Asks one witness; returns the size it now holds (if known) and its verified cosignature.
async fn ask(
    application: &Application,
    client: &HttpClient,
    witness: &WitnessEndpoint,
    checkpoint: &SignedCheckpoint,
    known: Option<u64>,
) -> (Option<u64>, Option<NoteSignature>) {
    let new_size = checkpoint.checkpoint().tree_size;
    let mut old_size = known.unwrap_or(0);
    let url = join(&witness.url, "add-checkpoint");
    for _ in 0..ATTEMPTS_PER_CHECKPOINT {
        if old_size > new_size {
            tracing::warn!(
                witness = witness.key.name(),
                old_size,
                new_size,
                "the witness holds a larger tree than this log"
            );
            return (Some(old_size), None);
        }
        let consistency_proof = match application.consistency_proof(old_size, new_size) {
            Ok(proof) => proof,
            Err(error) => {
                tracing::warn!(witness = witness.key.name(), %error, "no consistency proof for the witness");
                return (known, None);
            }
        };
        let request =
            AddCheckpointRequest { old_size, consistency_proof, checkpoint_note: checkpoint.note().to_string() };
        let answer =
            match client.post(&url, "text/plain; charset=utf-8", request.to_body(), WITNESS_ANSWER_BYTES_MAX).await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::warn!(witness = witness.key.name(), %error, "the witness did not answer");
                    return (known, None);
                }
            };
        match answer.status {
            200 => {
                // Checked as the spec suggests: the lines after the checkpoint, as one note.
                let note = format!("{}{}", checkpoint.note(), String::from_utf8_lossy(&answer.body));
                let text = checkpoint.checkpoint().note_text();
                let line = split_note(&note).ok().and_then(|(_, lines)| {
                    lines.into_iter().find(|line| witness.key.verify_line(&text, line).is_some())
                });
                if line.is_none() {
                    tracing::warn!(witness = witness.key.name(), "the witness answered without a valid cosignature");
                }
                return (Some(new_size), line);
            }
            409 => {
                let held = std::str::from_utf8(&answer.body).ok().and_then(|t| t.trim_end().parse::<u64>().ok());
                match held {
                    Some(held) if held != old_size => old_size = held,
                    _ => {
                        tracing::warn!(
                            witness = witness.key.name(),
                            new_size,
                            "the witness refuses the checkpoint: it cosigned another tree of that size"
                        );
                        return (held.or(known), None);
                    }
                }
            }
            status => {
                tracing::warn!(
                    witness = witness.key.name(),
                    status,
                    answer = %String::from_utf8_lossy(&answer.body).trim_end(),
                    "the witness refused the checkpoint"
                );
                return (known, None);
            }
        }
    }
    (Some(old_size), None)
}
