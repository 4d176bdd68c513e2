//! The moderators' queue: a call's submissions awaiting a decision, each with its text opened
//! and the other submissions to the same call whose text is the same (a campaign, or one
//! person sending many), so that moderators see them together. Nothing of it is recorded: it
//! reads the fold and opens texts as `open_personal_text` does.

use crate::personal::OpenedField;
use crate::{read, Application, ApplicationError};
use klero_domain::{AssemblyId, SubmissionPath};
use klero_ledger::Hash256;
use std::collections::HashMap;

/// Most submissions a queue lists at once: decide them, then ask again.
pub const QUEUE_LISTED_MAX: usize = 1_000;
/// Most submissions of one call compared for identical texts: the latest ones.
pub const QUEUE_COMPARED_MAX: usize = 50_000;

/// A submission awaiting a moderator's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedSubmission {
    pub event_hash: Hash256,
    pub log_index: u64,
    pub path: SubmissionPath,
    /// The text; `None` once erased.
    pub text: Option<String>,
    /// Whether a first decision withheld it and its author appealed: it needs another
    /// moderator.
    pub appealed: bool,
    /// The log indexes of the call's other submissions whose text is the same, compared as
    /// [`same_text_key`] says, whatever became of them.
    pub identical_to: Vec<u64>,
}

/// What two texts must share to count as the same: letters folded to lower case and runs of
/// white space made one space, trimmed.
pub fn same_text_key(text: &str) -> Hash256 {
    let folded: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    Hash256::of(folded.join(" ").as_bytes())
}

impl Application {
    /// The call's submissions awaiting a decision (a first one, or a second after an appeal),
    /// oldest first, at most [`QUEUE_LISTED_MAX`].
    pub async fn moderation_queue(
        &self,
        assembly: &AssemblyId,
        call_id: &str,
    ) -> Result<Vec<QueuedSubmission>, ApplicationError> {
        self.sync_fold().await?;
        // (log index, hash, path, awaiting, appealed), every submission of the call.
        let mut submissions: Vec<(u64, Hash256, SubmissionPath, bool, bool)> = {
            let fold = read(&self.fold);
            let state = fold
                .state()
                .assembly(assembly)
                .ok_or_else(|| ApplicationError::NotFound { what: format!("assembly {assembly}") })?;
            if !state.calls.contains_key(call_id) {
                return Err(ApplicationError::NotFound { what: format!("call {call_id} in assembly {assembly}") });
            }
            state
                .resident_submissions
                .iter()
                .filter(|(_, s)| s.call_id == call_id)
                .filter_map(|(hash, s)| {
                    let item = fold.state().personal_item(assembly, hash)?;
                    let awaiting = s.decisions.is_empty() || (s.appealed && s.decisions.len() == 1);
                    Some((item.log_index, *hash, s.path, awaiting, s.appealed))
                })
                .collect()
        };
        submissions.sort_by_key(|s| s.0);
        let compared_from = submissions.len().saturating_sub(QUEUE_COMPARED_MAX);
        let mut texts: HashMap<Hash256, Option<String>> = HashMap::new();
        let mut by_key: HashMap<Hash256, Vec<u64>> = HashMap::new();
        for (log_index, hash, _, _, _) in &submissions[compared_from..] {
            let opening = self.open_folded(assembly, hash).await?;
            let text =
                opening.fields.into_iter().find(|f: &OpenedField| f.field == "sealed_text").and_then(|f| f.opened);
            if let Some(opened) = &text {
                by_key.entry(same_text_key(&opened.text)).or_default().push(*log_index);
            }
            texts.insert(*hash, text.map(|opened| opened.text));
        }
        Ok(submissions
            .iter()
            .filter(|s| s.3)
            .take(QUEUE_LISTED_MAX)
            .map(|(log_index, hash, path, _, appealed)| {
                let text = texts.get(hash).cloned().flatten();
                let identical_to = text
                    .as_deref()
                    .and_then(|text| by_key.get(&same_text_key(text)))
                    .map(|same| same.iter().copied().filter(|other| other != log_index).collect())
                    .unwrap_or_default();
                QueuedSubmission {
                    event_hash: *hash,
                    log_index: *log_index,
                    path: *path,
                    text,
                    appealed: *appealed,
                    identical_to,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn texts_that_differ_only_in_case_and_spacing_are_the_same() {
        use super::same_text_key as key;
        assert_eq!(key("Sunday buses, please."), key("  sunday   BUSES,\nplease. "));
        assert_ne!(key("Sunday buses, please."), key("Sunday buses please."));
    }
}
