//! The council's response: answers, amendments, implementation updates and the inputs each
//! answer considered (docs/RULES.md, `response.*`, `citation.*`).

use super::*;

impl AssemblyState {
    pub(super) fn decide_response(
        &self,
        event: ResponseEvent<'_>,
        proposal: Proposal<'_>,
        inputs: &InputTable,
    ) -> Result<Acceptance, Rejection> {
        match event {
            ResponseEvent::ResponseIssued(issued) => {
                let id = self.adopted(&issued.recommendation_event_hash)?;
                if self.responses.contains_key(&issued.recommendation_event_hash) {
                    return Err(broken(
                        RuleCode::ResponseOncePerRecommendation,
                        format!("recommendation {id} already has a response; amend it instead"),
                    ));
                }
                Ok(Acceptance { late: self.is_late(&issued.recommendation_event_hash, proposal.recorded_at_unix_ms) })
            }
            ResponseEvent::ResponseAmended(amended) => {
                let id = self.adopted(&amended.recommendation_event_hash)?;
                if !self.responses.contains_key(&amended.recommendation_event_hash) {
                    return Err(broken(
                        RuleCode::ResponseAmendExisting,
                        format!("recommendation {id} has no response to amend"),
                    ));
                }
                Ok(Acceptance::default())
            }
            ResponseEvent::ImplementationUpdated(update) => {
                let id = self.adopted(&update.recommendation_event_hash)?;
                let response = self.responses.get(&update.recommendation_event_hash).ok_or_else(|| {
                    broken(
                        RuleCode::ResponseImplementationNeedsAcceptance,
                        format!("recommendation {id} has no response yet"),
                    )
                })?;
                if !response.decision.accepts() {
                    return Err(broken(
                        RuleCode::ResponseImplementationNeedsAcceptance,
                        format!("the response to {id} is {}, not accepted", response.decision.as_str()),
                    ));
                }
                Ok(Acceptance::default())
            }
            ResponseEvent::ResponseInputsConsidered(considered) => {
                let id = self.adopted(&considered.recommendation_event_hash)?;
                if !self.responses.contains_key(&considered.recommendation_event_hash) {
                    return Err(broken(
                        RuleCode::CitationAfterResponse,
                        format!("recommendation {id} has no response yet: issue it, then record what it considered"),
                    ));
                }
                self.check_citations(&considered.citations, inputs)
            }
        }
    }

    pub(super) fn evolve_response(&mut self, event: ResponseEvent<'_>, recorded: Recorded<'_>) -> Acceptance {
        let mut outcome = Acceptance::default();
        match event {
            ResponseEvent::ResponseIssued(issued) => {
                let late = self.is_late(&issued.recommendation_event_hash, recorded.recorded_at_unix_ms);
                outcome.late = late;
                let recommendation_id =
                    self.adopted_by_hash.get(&issued.recommendation_event_hash).cloned().unwrap_or_default();
                self.responses.insert(
                    issued.recommendation_event_hash,
                    ResponseState {
                        recommendation_id,
                        decision: issued.decision,
                        late,
                        amendments: 0,
                        implementation_updates: 0,
                    },
                );
            }
            ResponseEvent::ResponseAmended(amended) => {
                if let Some(response) = self.responses.get_mut(&amended.recommendation_event_hash) {
                    response.decision = amended.decision;
                    response.amendments += 1;
                }
            }
            ResponseEvent::ImplementationUpdated(update) => {
                if let Some(response) = self.responses.get_mut(&update.recommendation_event_hash) {
                    response.implementation_updates += 1;
                }
            }
            ResponseEvent::ResponseInputsConsidered(_) => {}
        }
        outcome
    }

    fn adopted(&self, hash: &Hash256) -> Result<&String, Rejection> {
        self.adopted_by_hash.get(hash).ok_or_else(|| {
            broken(
                RuleCode::ResponseNamesAdoptedRecommendation,
                format!("{hash} is not the event hash of an adoption in this assembly"),
            )
        })
    }

    /// A response is late if recorded after the deadline counted from the adoption.
    fn is_late(&self, adoption_hash: &Hash256, recorded_at_unix_ms: u64) -> bool {
        let Some(id) = self.adopted_by_hash.get(adoption_hash) else { return false };
        let Some(adopted_at) = self.recommendations.get(id).and_then(|r| r.adopted_at_unix_ms) else { return false };
        recorded_at_unix_ms > response_due_by_unix_ms(adopted_at, self.convened.response_deadline_days)
    }
}
