//! Personal data: the retention period and erasures (docs/RULES.md, `privacy.*`). The
//! convening itself, the assembly stream's other event, creates the state (`DomainState`).

use super::*;

impl AssemblyState {
    pub(super) fn decide_privacy(
        &self,
        event: AssemblyEvent<'_>,
        tables: &EventTables,
    ) -> Result<Acceptance, Rejection> {
        match event {
            AssemblyEvent::AssemblyConvened(_) => {
                Err(broken(RuleCode::EventStreamMatches, "handled before the assembly's rules"))
            }
            AssemblyEvent::PersonalDataRetentionSet(_) => {
                if let Some(days) = self.retention_days {
                    return Err(broken(
                        RuleCode::PrivacyRetentionSetOnce,
                        format!("the retention period is already set, to {days} days"),
                    ));
                }
                Ok(Acceptance::default())
            }
            AssemblyEvent::ContentErased(erased) => {
                tables.personal_row(&self.convened.assembly_id, &erased.event_hash).ok_or_else(|| {
                    broken(
                        RuleCode::PrivacyErasureNamesPersonalContent,
                        format!(
                            "{} is not the event hash of an event of this assembly that holds sealed text or a \
                             personal document (plain text in the log cannot be erased)",
                            erased.event_hash
                        ),
                    )
                })?;
                if let Some(erasure) = self.erasures.get(&erased.event_hash) {
                    return Err(broken(
                        RuleCode::PrivacyErasedOnce,
                        format!("its content was already erased, at log index {}", erasure.log_index),
                    ));
                }
                Ok(Acceptance::default())
            }
        }
    }

    pub(super) fn evolve_privacy(&mut self, event: AssemblyEvent<'_>, recorded: Recorded<'_>) {
        match event {
            AssemblyEvent::AssemblyConvened(_) => {}
            AssemblyEvent::PersonalDataRetentionSet(set) => self.retention_days = Some(set.retention_days),
            AssemblyEvent::ContentErased(erased) => {
                // `decide` found the event among the assembly's personal items.
                self.erasures.insert(
                    erased.event_hash,
                    Erasure {
                        erased_on: erased.erased_on,
                        legal_basis: erased.legal_basis.clone(),
                        log_index: recorded.log_index,
                    },
                );
            }
        }
    }
}
