//! The recommendation stage: drafts, amendments, votes, adoption, the final report and the
//! inputs each recommendation cites (docs/RULES.md, `recommendation.*`, `citation.*`).

use super::*;

impl AssemblyState {
    pub(super) fn decide_recommendation(
        &self,
        event: RecommendationEvent<'_>,
        inputs: &InputTable,
    ) -> Result<Acceptance, Rejection> {
        match event {
            RecommendationEvent::RecommendationDrafted(draft) => {
                self.selection.require_panel(RuleCode::RecommendationAfterPanel)?;
                if self.recommendations.contains_key(&draft.recommendation_id) {
                    return Err(broken(
                        RuleCode::RecommendationIdUnique,
                        format!("recommendation {} already exists", draft.recommendation_id),
                    ));
                }
                Ok(Acceptance::default())
            }
            RecommendationEvent::RecommendationAmended(amended) => {
                self.drafted(&amended.recommendation_id).map(|_| Acceptance::default())
            }
            RecommendationEvent::RecommendationWithdrawn(withdrawn) => {
                self.drafted(&withdrawn.recommendation_id).map(|_| Acceptance::default())
            }
            RecommendationEvent::VoteRecorded(vote) => {
                self.drafted(&vote.recommendation_id)?;
                let cast = vote.tally.in_favour as u64 + vote.tally.against as u64 + vote.tally.abstaining as u64;
                if cast > self.seated_count() as u64 {
                    return Err(broken(
                        RuleCode::RecommendationVoteWithinPanel,
                        format!("{cast} votes exceed the {} seated members", self.seated_count()),
                    ));
                }
                Ok(Acceptance::default())
            }
            RecommendationEvent::RecommendationAdopted(adopted) => {
                let recommendation = self.drafted(&adopted.recommendation_id)?;
                let vote = recommendation.last_vote.ok_or_else(|| {
                    broken(
                        RuleCode::RecommendationAdoptionNeedsVote,
                        "no vote has been recorded since the last draft or amendment",
                    )
                })?;
                if vote != adopted.tally {
                    return Err(broken(
                        RuleCode::RecommendationAdoptionMatchesVote,
                        "the adoption's tally differs from the last recorded vote",
                    ));
                }
                let decisive = vote.in_favour as u64 + vote.against as u64;
                let threshold = self.convened.adoption_threshold_percent as u64;
                if vote.in_favour == 0 || (vote.in_favour as u64) * 100 < threshold * decisive {
                    return Err(broken(
                        RuleCode::RecommendationAdoptionMeetsThreshold,
                        format!("{} of {} votes cast is below the {threshold}% threshold", vote.in_favour, decisive),
                    ));
                }
                if adopted.final_text_hash != recommendation.text_hash {
                    return Err(broken(
                        RuleCode::RecommendationAdoptionFinalText,
                        "the final text hash is not the latest draft or amendment",
                    ));
                }
                Ok(Acceptance::default())
            }
            RecommendationEvent::FinalReportPublished(_) => {
                if self.final_report.is_some() {
                    return Err(broken(RuleCode::RecommendationReportOnce, "the final report is already published"));
                }
                if self.adopted_by_hash.is_empty() {
                    return Err(broken(
                        RuleCode::RecommendationReportAfterAdoption,
                        "no recommendation has been adopted",
                    ));
                }
                Ok(Acceptance::default())
            }
            RecommendationEvent::RecommendationInputsCited(cited) => {
                let recommendation = self.recommendations.get(&cited.recommendation_id).ok_or_else(|| {
                    broken(
                        RuleCode::RecommendationExists,
                        format!("recommendation {} does not exist", cited.recommendation_id),
                    )
                })?;
                if recommendation.status == RecommendationStatus::Withdrawn {
                    return Err(broken(
                        RuleCode::CitationCurrentText,
                        format!("recommendation {} is withdrawn", cited.recommendation_id),
                    ));
                }
                if recommendation.text_hash != cited.text_hash {
                    return Err(broken(
                        RuleCode::CitationCurrentText,
                        format!(
                            "text {} is not the current text of {} (its draft or last amendment)",
                            cited.text_hash, cited.recommendation_id
                        ),
                    ));
                }
                self.check_citations(&cited.citations, inputs)
            }
        }
    }

    pub(super) fn evolve_recommendation(&mut self, event: RecommendationEvent<'_>, recorded: Recorded<'_>) {
        match event {
            RecommendationEvent::RecommendationDrafted(draft) => {
                self.recommendations.insert(
                    draft.recommendation_id.clone(),
                    RecommendationState {
                        status: RecommendationStatus::Drafted,
                        title: draft.title.clone(),
                        text_hash: draft.text_hash,
                        amendments: 0,
                        last_vote: None,
                        adopted_event_hash: None,
                        adopted_at_unix_ms: None,
                    },
                );
            }
            RecommendationEvent::RecommendationAmended(amended) => {
                if let Some(r) = self.recommendations.get_mut(&amended.recommendation_id) {
                    r.text_hash = amended.text_hash;
                    r.amendments += 1;
                    r.last_vote = None; // a vote on the old text does not carry over
                }
            }
            RecommendationEvent::RecommendationWithdrawn(withdrawn) => {
                if let Some(r) = self.recommendations.get_mut(&withdrawn.recommendation_id) {
                    r.status = RecommendationStatus::Withdrawn;
                }
            }
            RecommendationEvent::VoteRecorded(vote) => {
                if let Some(r) = self.recommendations.get_mut(&vote.recommendation_id) {
                    r.last_vote = Some(vote.tally);
                }
            }
            RecommendationEvent::RecommendationAdopted(adopted) => {
                if let Some(r) = self.recommendations.get_mut(&adopted.recommendation_id) {
                    r.status = RecommendationStatus::Adopted;
                    r.adopted_event_hash = Some(recorded.event_hash);
                    r.adopted_at_unix_ms = Some(recorded.recorded_at_unix_ms);
                }
                self.adopted_by_hash.insert(recorded.event_hash, adopted.recommendation_id.clone());
            }
            RecommendationEvent::FinalReportPublished(report) => self.final_report = Some(report.content_hash),
            RecommendationEvent::RecommendationInputsCited(_) => {}
        }
    }

    pub(super) fn drafted(&self, id: &str) -> Result<&RecommendationState, Rejection> {
        let recommendation = self
            .recommendations
            .get(id)
            .ok_or_else(|| broken(RuleCode::RecommendationExists, format!("no recommendation {id}")))?;
        if recommendation.status != RecommendationStatus::Drafted {
            return Err(broken(
                RuleCode::RecommendationDraftedOnly,
                format!("recommendation {id} is {}", recommendation.status.as_str()),
            ));
        }
        Ok(recommendation)
    }

    /// `citation.names_recorded_input`: every citation names evidence or a public submission
    /// already recorded in this assembly.
    pub(super) fn check_citations(
        &self,
        citations: &[InputCitation],
        inputs: &InputTable,
    ) -> Result<Acceptance, Rejection> {
        if let Some((index, citation)) = citations
            .iter()
            .enumerate()
            .find(|(_, c)| !inputs.is_input_of(&self.convened.assembly_id, &c.input_event_hash))
        {
            return Err(broken(
                RuleCode::CitationNamesRecordedInput,
                format!(
                    "citations[{index}] names {}, which is not the event hash of evidence or a public submission recorded in this assembly",
                    citation.input_event_hash
                ),
            ));
        }
        if let Some((index, citation)) = citations.iter().enumerate().find(|(_, c)| {
            self.resident_submissions.get(&c.input_event_hash).is_some_and(|submission| !submission.published())
        }) {
            return Err(broken(
                RuleCode::CitationPublishedOnly,
                format!(
                    "citations[{index}] names the resident's submission {}, which a moderator has not published",
                    citation.input_event_hash
                ),
            ));
        }
        Ok(Acceptance::default())
    }
}
