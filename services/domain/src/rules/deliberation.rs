//! The deliberation stage: sessions, evidence and public submissions (docs/RULES.md,
//! `deliberation.*`); residents' own submissions are in `participation`.

use super::*;

impl AssemblyState {
    pub(super) fn decide_deliberation(
        &self,
        event: DeliberationEvent<'_>,
        proposal: Proposal<'_>,
    ) -> Result<Acceptance, Rejection> {
        match event {
            DeliberationEvent::SessionHeld(session) => {
                self.selection.require_panel(RuleCode::DeliberationAfterPanel)?;
                if session.session_number != self.sessions_held + 1 {
                    return Err(broken(
                        RuleCode::DeliberationSessionSequence,
                        format!("the next session is number {}", self.sessions_held + 1),
                    ));
                }
                if session.attendance_count > self.seated_count() {
                    return Err(broken(
                        RuleCode::DeliberationAttendanceWithinPanel,
                        format!(
                            "attendance {} exceeds the {} seated members",
                            session.attendance_count,
                            self.seated_count()
                        ),
                    ));
                }
                Ok(Acceptance::default())
            }
            DeliberationEvent::EvidencePresented(evidence) => {
                if evidence.session_number == 0 || evidence.session_number > self.sessions_held {
                    return Err(broken(
                        RuleCode::DeliberationEvidenceAtHeldSession,
                        format!("session {} has not been held", evidence.session_number),
                    ));
                }
                Ok(Acceptance::default())
            }
            DeliberationEvent::PublicSubmissionReceived(_) => Ok(Acceptance::default()),
            DeliberationEvent::CallOpened(call) => self.decide_call_opened(call),
            DeliberationEvent::CallClosed(closed) => self.decide_call_closed(closed),
            DeliberationEvent::ResidentSubmitted(submitted) => self.decide_resident_submitted(submitted, proposal),
            DeliberationEvent::SubmissionModerated(moderated) => self.decide_submission_moderated(moderated, proposal),
            DeliberationEvent::ModerationAppealed(appealed) => self.decide_moderation_appealed(appealed),
        }
    }

    pub(super) fn evolve_deliberation(&mut self, event: DeliberationEvent<'_>, recorded: Recorded<'_>) {
        match event {
            DeliberationEvent::SessionHeld(_) => self.sessions_held += 1,
            DeliberationEvent::EvidencePresented(_) => {
                self.evidence_presented += 1;
            }
            DeliberationEvent::PublicSubmissionReceived(_) => {
                self.public_submissions += 1;
            }
            DeliberationEvent::CallOpened(_)
            | DeliberationEvent::CallClosed(_)
            | DeliberationEvent::ResidentSubmitted(_)
            | DeliberationEvent::SubmissionModerated(_)
            | DeliberationEvent::ModerationAppealed(_) => self.evolve_participation(event, recorded),
        }
    }
}
