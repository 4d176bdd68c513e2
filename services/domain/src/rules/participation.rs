//! Residents taking part: open calls, residents' own submissions, and open moderation
//! (docs/RULES.md, `call.*` and `moderation.*`). Part of the deliberation stage; its events are
//! the ones a resident's key, not a grant, may author.

use super::*;
use crate::personal::SealedText;

/// A call, as the rules keep it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CallState {
    pub opened: CallOpened,
    /// The log index of the `CallClosed`, once a facilitator closed it early.
    pub closed_at_log_index: Option<u64>,
    /// Keys that authored a submission to it in the browser, for `call.one_per_key`.
    pub browser_authors: BTreeSet<[u8; 32]>,
}

impl CallState {
    /// Whether a submission recorded at `recorded_at_unix_ms` falls inside the call: not
    /// closed, and on a day from `opens_on` to `closes_on` (UTC).
    pub fn open_at(&self, recorded_at_unix_ms: u64) -> bool {
        let day = Date((recorded_at_unix_ms / DAY_MS) as i64);
        self.closed_at_log_index.is_none() && self.opened.opens_on <= day && day <= self.opened.closes_on
    }
}

/// A resident's submission, as the rules keep it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ResidentSubmissionState {
    pub call_id: String,
    pub author: [u8; 32],
    pub path: SubmissionPath,
    /// Each decision in order, with its moderator's key: at most two, the second after an
    /// appeal.
    pub decisions: Vec<(ModerationDecision, [u8; 32])>,
    pub appealed: bool,
}

impl ResidentSubmissionState {
    /// Whether its latest decision publishes it.
    pub fn published(&self) -> bool {
        self.decisions.last().is_some_and(|(decision, _)| *decision == ModerationDecision::Publish)
    }
}

/// The plaintext length of a sealed text, from its ciphertext: salt (32) and tag (16) off.
fn sealed_text_bytes(sealed: &SealedText) -> usize {
    sealed.ciphertext.len().saturating_sub(32 + 16)
}

impl AssemblyState {
    pub(super) fn decide_call_opened(&self, call: &CallOpened) -> Result<Acceptance, Rejection> {
        if self.calls.contains_key(&call.call_id) {
            return Err(broken(RuleCode::CallIdUnique, format!("call {} is already open or was", call.call_id)));
        }
        if call.closes_on < call.opens_on {
            return Err(broken(RuleCode::CallDatesOrdered, "closes_on is before opens_on"));
        }
        if let Some(id) = &call.recommendation_id {
            match self.recommendations.get(id) {
                Some(r) if r.status == RecommendationStatus::Drafted => {}
                _ => {
                    return Err(broken(
                        RuleCode::CallNamesDraftedRecommendation,
                        format!("recommendation {id} is not a draft of this assembly"),
                    ))
                }
            }
        }
        Ok(Acceptance::default())
    }

    fn call(&self, call_id: &str) -> Result<&CallState, Rejection> {
        self.calls.get(call_id).ok_or_else(|| broken(RuleCode::CallExists, format!("no call {call_id} was opened")))
    }

    pub(super) fn decide_call_closed(&self, closed: &CallClosed) -> Result<Acceptance, Rejection> {
        if self.call(&closed.call_id)?.closed_at_log_index.is_some() {
            return Err(broken(RuleCode::CallOpen, format!("call {} is already closed", closed.call_id)));
        }
        Ok(Acceptance::default())
    }

    pub(super) fn decide_resident_submitted(
        &self,
        submitted: &ResidentSubmitted,
        proposal: Proposal<'_>,
    ) -> Result<Acceptance, Rejection> {
        let call = self.call(&submitted.call_id)?;
        if !call.open_at(proposal.recorded_at_unix_ms) {
            return Err(broken(
                RuleCode::CallOpen,
                format!(
                    "call {} takes submissions from {} to {}{}; this one is recorded on {}",
                    submitted.call_id,
                    call.opened.opens_on,
                    call.opened.closes_on,
                    if call.closed_at_log_index.is_some() { ", and was closed early" } else { "" },
                    Date((proposal.recorded_at_unix_ms / DAY_MS) as i64)
                ),
            ));
        }
        let length = sealed_text_bytes(&submitted.text);
        if length == 0 || length > call.opened.text_bytes_max as usize {
            return Err(broken(
                RuleCode::CallWithinLimits,
                format!(
                    "the text is {length} bytes; call {} takes 1 to {}",
                    submitted.call_id, call.opened.text_bytes_max
                ),
            ));
        }
        let bits = call.opened.proof_of_work_bits;
        if submitted.path == SubmissionPath::Browser
            && !crate::work::is_work(
                &submitted.call_id,
                proposal.author,
                &submitted.text.commitment,
                submitted.work_nonce,
                bits,
            )
        {
            return Err(broken(
                RuleCode::CallProofOfWork,
                format!(
                    "call {} asks each browser's submission for {bits} bits of work; work_nonce {} gives fewer (docs/FORMAT.md §14.6)",
                    submitted.call_id, submitted.work_nonce
                ),
            ));
        }
        if call.opened.one_per_key
            && submitted.path == SubmissionPath::Browser
            && call.browser_authors.contains(proposal.author)
        {
            return Err(broken(
                RuleCode::CallOnePerKey,
                format!("call {} takes one submission per key, and this key has made one", submitted.call_id),
            ));
        }
        Ok(Acceptance::default())
    }

    fn resident_submission(&self, hash: &Hash256) -> Result<&ResidentSubmissionState, Rejection> {
        self.resident_submissions.get(hash).ok_or_else(|| {
            broken(
                RuleCode::ModerationNamesResidentSubmission,
                format!("{hash} is not the event hash of a resident's submission to this assembly"),
            )
        })
    }

    pub(super) fn decide_submission_moderated(
        &self,
        moderated: &SubmissionModerated,
        proposal: Proposal<'_>,
    ) -> Result<Acceptance, Rejection> {
        let submission = self.resident_submission(&moderated.submission_event_hash)?;
        if submission.author == *proposal.author {
            return Err(broken(RuleCode::ModerationNotOwn, "a key cannot moderate a submission it authored"));
        }
        match (&moderated.decision, &moderated.reason) {
            (ModerationDecision::Publish, None) => {}
            (ModerationDecision::Withhold, Some(reason))
                if self.calls[&submission.call_id].opened.withhold_reasons.contains(reason) => {}
            _ => {
                return Err(broken(
                    RuleCode::ModerationReasonInPolicy,
                    format!(
                        "a publication gives no reason, and a withholding one of call {}'s: {}",
                        submission.call_id,
                        self.calls[&submission.call_id].opened.withhold_reasons.join(", ")
                    ),
                ))
            }
        }
        match (submission.decisions.as_slice(), submission.appealed) {
            ([], _) => Ok(Acceptance::default()),
            ([(_, first)], true) if first == proposal.author => Err(broken(
                RuleCode::ModerationSecondByAnother,
                "the decision after an appeal is by another moderator than the first",
            )),
            ([_], true) => Ok(Acceptance::default()),
            _ => Err(broken(
                RuleCode::ModerationDecidedOnce,
                "this submission is decided: it may be decided again once, after an appeal",
            )),
        }
    }

    pub(super) fn decide_moderation_appealed(&self, appealed: &ModerationAppealed) -> Result<Acceptance, Rejection> {
        let submission = self.resident_submission(&appealed.submission_event_hash)?;
        match (submission.decisions.as_slice(), submission.appealed) {
            ([(ModerationDecision::Withhold, _)], false) => Ok(Acceptance::default()),
            _ => Err(broken(
                RuleCode::ModerationAppealAfterWithhold,
                "an appeal follows the first decision, when it withheld the submission, once",
            )),
        }
    }

    pub(super) fn evolve_participation(&mut self, event: DeliberationEvent<'_>, recorded: Recorded<'_>) {
        match event {
            DeliberationEvent::CallOpened(call) => {
                self.calls.insert(
                    call.call_id.clone(),
                    CallState { opened: call.clone(), closed_at_log_index: None, browser_authors: BTreeSet::new() },
                );
            }
            DeliberationEvent::CallClosed(closed) => {
                if let Some(call) = self.calls.get_mut(&closed.call_id) {
                    call.closed_at_log_index = Some(recorded.log_index);
                }
            }
            DeliberationEvent::ResidentSubmitted(submitted) => {
                if submitted.path == SubmissionPath::Browser {
                    if let Some(call) = self.calls.get_mut(&submitted.call_id) {
                        call.browser_authors.insert(*recorded.author);
                    }
                }
                self.public_submissions += 1;
                self.resident_submissions.insert(
                    recorded.event_hash,
                    ResidentSubmissionState {
                        call_id: submitted.call_id.clone(),
                        author: *recorded.author,
                        path: submitted.path,
                        decisions: Vec::new(),
                        appealed: false,
                    },
                );
            }
            DeliberationEvent::SubmissionModerated(moderated) => {
                if let Some(submission) = self.resident_submissions.get_mut(&moderated.submission_event_hash) {
                    submission.decisions.push((moderated.decision, *recorded.author));
                }
            }
            DeliberationEvent::ModerationAppealed(appealed) => {
                if let Some(submission) = self.resident_submissions.get_mut(&appealed.submission_event_hash) {
                    submission.appealed = true;
                }
            }
            DeliberationEvent::SessionHeld(_)
            | DeliberationEvent::EvidencePresented(_)
            | DeliberationEvent::PublicSubmissionReceived(_) => {}
        }
    }
}

impl DomainState {
    /// Who may author a resident's event (docs/RULES.md, Authority): any key for a submission
    /// signed in the browser; the intake role for one from the web form; for an appeal, the
    /// submission's own author, or the intake role when it came from the web form.
    pub(super) fn authorise_resident(
        &self,
        event: &DomainEvent,
        assembly_id: &str,
        author: &[u8; 32],
    ) -> Result<AuthorisedBy<'_>, Rejection> {
        let intake = || self.role_grant(author, Role::Intake, assembly_id).map(AuthorisedBy::Grant);
        match event {
            DomainEvent::ResidentSubmitted(submitted) => match submitted.path {
                SubmissionPath::Browser => Ok(AuthorisedBy::Resident),
                SubmissionPath::WebForm => intake(),
            },
            DomainEvent::ModerationAppealed(appealed) => {
                let submission = self
                    .assemblies
                    .get(assembly_id)
                    .and_then(|assembly| assembly.resident_submissions.get(&appealed.submission_event_hash));
                match submission {
                    Some(s) if s.path == SubmissionPath::Browser && s.author == *author => Ok(AuthorisedBy::Resident),
                    Some(s) if s.path == SubmissionPath::WebForm => intake(),
                    Some(_) => Err(Rejection::NotAuthorised {
                        rule: RuleCode::AuthoritySubmitterOnly,
                        message: "only the submission's own author may appeal its moderation".into(),
                    }),
                    // The stage's rules name the missing submission.
                    None => Ok(AuthorisedBy::Resident),
                }
            }
            _ => Err(broken(RuleCode::EventStreamMatches, "not a resident's event")),
        }
    }
}
