//! Each view of an assembly built from what is kept, and its canonical JSON (FORMAT.md §7).

use super::*;

impl Views<'_> {
    /// A view's body wrapped with what every view carries.
    pub(crate) fn view<B>(&self, name: ViewName, assembly_id: &AssemblyId, body: B) -> View<B> {
        View {
            as_of_unix_ms: self.as_of_unix_ms,
            assembly_id: assembly_id.to_string(),
            body,
            tree_size: self.tree_size,
            version: name.version(),
            view: name.as_str().to_string(),
        }
    }

    /// Every view of one assembly; `None` if it is not convened.
    pub fn assembly_views(&self, assembly_id: &AssemblyId) -> Option<AssemblyViewSet> {
        Some(AssemblyViewSet {
            overview: self.overview(assembly_id)?,
            panel: self.panel(assembly_id)?,
            deliberation: self.deliberation(assembly_id)?,
            recommendations: self.recommendations(assembly_id)?,
            accountability: self.accountability(assembly_id)?,
            input_trace: self.input_trace(assembly_id)?,
            response_trace: self.response_trace(assembly_id)?,
        })
    }

    /// Writes one view of one assembly as canonical JSON into `out`; `None` if the assembly is
    /// not convened.
    fn write_view(&self, name: ViewName, assembly_id: &AssemblyId, out: impl std::io::Write) -> Option<()> {
        match name {
            ViewName::AssemblyOverview => write_canonical(out, &self.overview(assembly_id)?),
            ViewName::Panel => write_canonical(out, &self.panel(assembly_id)?),
            ViewName::DeliberationRecord => write_canonical(out, &self.deliberation(assembly_id)?),
            ViewName::Recommendations => write_canonical(out, &self.recommendations(assembly_id)?),
            ViewName::Accountability => write_canonical(out, &self.accountability(assembly_id)?),
            ViewName::InputTrace => write_canonical(out, &self.input_trace_streamed(assembly_id)?),
            ViewName::ResponseTrace => write_canonical(out, &self.response_trace(assembly_id)?),
        }
        Some(())
    }

    /// Renders one view of one assembly as canonical JSON; `None` if the assembly is not
    /// convened.
    pub fn render(&self, name: ViewName, assembly_id: &AssemblyId) -> Option<RenderedView> {
        let mut json = Vec::new();
        self.write_view(name, assembly_id, &mut json)?;
        let json = String::from_utf8(json).expect("serde_json writes UTF-8");
        let digest = Hash256::of(json.as_bytes());
        Some(RenderedView { name, assembly_id: assembly_id.clone(), json, digest, tree_size: self.tree_size })
    }

    /// One view's digest, its JSON hashed as it is written and never held whole: what a
    /// verifier compares, for a view of any size.
    pub fn digest(&self, name: ViewName, assembly_id: &AssemblyId) -> Option<Hash256> {
        let mut hasher = Hash256::hasher();
        self.write_view(name, assembly_id, &mut hasher)?;
        Some(hasher.finish())
    }

    /// `assembly-overview`.
    pub fn overview(&self, assembly_id: &AssemblyId) -> Option<View<AssemblyOverview>> {
        let views = self.assemblies.get(assembly_id)?;
        let c = &views.convened;
        let body = AssemblyOverview {
            adoption_threshold_percent: c.adoption_threshold_percent,
            area: c.area.clone(),
            convened_log_index: views.convened_log_index,
            council: c.council.clone(),
            counts: OverviewCounts {
                adopted: views.adopted_by_hash.len() as u64,
                recommendations: views.recommendations.len() as u64,
                responses: views.responses.len() as u64,
                seated: views.seated.len() as u64,
                sessions: views.sessions.len() as u64,
            },
            ends_on: IsoDate(c.ends_on),
            panel_size: c.panel_size,
            remit_question: c.remit_question.clone(),
            response_deadline_days: c.response_deadline_days,
            starts_on: IsoDate(c.starts_on),
            status: views.timeline.last().map_or(MilestoneKind::Convened, |m| m.what),
            timeline: views.timeline.clone(),
        };
        Some(self.view(ViewName::AssemblyOverview, assembly_id, body))
    }

    /// `panel`.
    pub fn panel(&self, assembly_id: &AssemblyId) -> Option<View<Panel>> {
        let views = self.assemblies.get(assembly_id)?;
        let mut seated_counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for id in &views.seated {
            if let Some(features) = views.pool.get(id) {
                for (feature, value) in features {
                    *seated_counts.entry((feature, value)).or_insert(0) += 1;
                }
            }
        }
        let relaxed_quotas = views.relaxation.as_ref().map(|r| r.quotas.as_slice()).unwrap_or_default();
        let quotas = views
            .quotas
            .iter()
            .map(|planned| {
                let relaxed = relaxed_quotas.iter().find(|r| r.feature == planned.feature && r.value == planned.value);
                let q = relaxed.unwrap_or(planned);
                let seated = seated_counts.get(&(q.feature.as_str(), q.value.as_str())).copied().unwrap_or(0);
                QuotaSeats {
                    feature: q.feature.clone(),
                    max: q.max,
                    min: q.min,
                    planned_max: relaxed.map(|_| planned.max),
                    planned_min: relaxed.map(|_| planned.min),
                    seated,
                    value: q.value.clone(),
                    within_quota: (q.min as u64..=q.max as u64).contains(&seated),
                }
            })
            .collect();
        let body = Panel {
            panel_size: views.convened.panel_size,
            pool_size: views.pool.len() as u64,
            quotas,
            relaxation_reason: views.relaxation.as_ref().map(|r| r.reason.clone()),
            replacements: views.replacements,
            seated: views.seated.len() as u64,
            withdrawals: views.withdrawals,
        };
        Some(self.view(ViewName::Panel, assembly_id, body))
    }

    /// `deliberation-record`.
    pub fn deliberation(&self, assembly_id: &AssemblyId) -> Option<View<DeliberationRecord>> {
        let views = self.assemblies.get(assembly_id)?;
        let sessions = views
            .sessions
            .iter()
            .map(|s| SessionEntry {
                agenda: s.held.agenda.clone(),
                attendance_count: s.held.attendance_count,
                evidence: s
                    .evidence
                    .iter()
                    .map(|(e, log_index, hash)| EvidenceEntry {
                        content_hash: e.content_hash,
                        event_hash: *hash,
                        log_index: *log_index,
                        media_type: e.media_type.clone(),
                        speaker_role: e.speaker_role.clone(),
                        title: views.personal(&KeptText::from(&e.title)),
                    })
                    .collect(),
                held_on: IsoDate(s.held.held_on),
                log_index: s.log_index,
                session_number: s.held.session_number,
            })
            .collect();
        let by_day = views
            .submissions_by_day
            .iter()
            .map(|(day, count)| SubmissionsOnDay { count: *count, received_on: IsoDate(*day) })
            .collect();
        let mut calls: Vec<CallEntry> = views
            .calls
            .values()
            .map(|call| CallEntry {
                appeals: 0,
                call_id: call.opened.call_id.clone(),
                closed: call
                    .closed
                    .as_ref()
                    .map(|(log_index, reason)| CallClosedEntry { log_index: *log_index, reason: reason.clone() }),
                closes_on: IsoDate(call.opened.closes_on),
                consent_hash: call.opened.consent_hash,
                log_index: call.log_index,
                moderation_policy_hash: call.opened.moderation_policy_hash,
                names_asked: call.opened.names_asked,
                one_per_key: call.opened.one_per_key,
                opens_on: IsoDate(call.opened.opens_on),
                prompt: call.opened.prompt.clone(),
                recommendation_id: call.opened.recommendation_id.clone(),
                retention_days: call.opened.retention_days,
                proof_of_work_bits: call.opened.proof_of_work_bits,
                submissions: CallCounts::default(),
                text_bytes_max: call.opened.text_bytes_max,
                withheld_by_reason: call.opened.withhold_reasons.iter().map(|code| (code.clone(), 0)).collect(),
                withhold_reasons: call.opened.withhold_reasons.clone(),
            })
            .collect();
        // Counted at render time, one pass over the residents' submissions: no per-event cost.
        for submission in views.resident.values() {
            let Some(call) = calls.iter_mut().find(|c| c.call_id == submission.call_id) else { continue };
            let counts = &mut call.submissions;
            counts.received += 1;
            match submission.path {
                SubmissionPath::Browser => counts.by_browser += 1,
                SubmissionPath::WebForm => counts.by_web_form += 1,
            }
            match submission.decisions.last() {
                None => counts.pending += 1,
                Some((ModerationDecision::Publish, _, _)) => counts.published += 1,
                Some((ModerationDecision::Withhold, reason, _)) => {
                    counts.withheld += 1;
                    if let Some(reason) = reason {
                        *call.withheld_by_reason.entry(reason.clone()).or_insert(0) += 1;
                    }
                }
            }
            call.appeals += u64::from(submission.appealed_log_index.is_some());
        }
        let body = DeliberationRecord {
            calls,
            public_submissions: PublicSubmissionCounts {
                by_day,
                total: views.submissions_by_day.values().sum::<u64>(),
            },
            sessions,
        };
        Some(self.view(ViewName::DeliberationRecord, assembly_id, body))
    }

    /// `recommendations`.
    pub fn recommendations(&self, assembly_id: &AssemblyId) -> Option<View<Recommendations>> {
        let views = self.assemblies.get(assembly_id)?;
        let recommendations = views
            .recommendations
            .iter()
            .map(|(id, r)| RecommendationEntry {
                adoption: r.adoption.as_ref().map(|(a, log_index, hash, at)| AdoptionVote {
                    abstaining: a.tally.abstaining,
                    against: a.tally.against,
                    event_hash: *hash,
                    final_text_hash: a.final_text_hash,
                    in_favour: a.tally.in_favour,
                    log_index: *log_index,
                    recorded_at_unix_ms: *at,
                }),
                amendments: r.amendments.clone(),
                current_text_hash: r.text_hash,
                drafted: Drafted { log_index: r.drafted_log_index, text_hash: r.drafted_text_hash },
                recommendation_id: id.clone(),
                status: r.status,
                title: r.title.clone(),
                votes: r.votes.clone(),
                withdrawn_reason: r.withdrawn_reason.clone(),
            })
            .collect();
        let body = Recommendations {
            final_report: views.final_report.map(|(content_hash, log_index)| FinalReport { content_hash, log_index }),
            recommendations,
        };
        Some(self.view(ViewName::Recommendations, assembly_id, body))
    }

    /// `accountability`.
    pub fn accountability(&self, assembly_id: &AssemblyId) -> Option<View<Accountability>> {
        let views = self.assemblies.get(assembly_id)?;
        let adopted_recommendations = views
            .recommendations
            .iter()
            .filter_map(|(id, r)| {
                let (adopted, log_index, hash, at) = r.adoption.as_ref()?;
                let deadline = response_due_by_unix_ms(*at, views.convened.response_deadline_days);
                let response = views.responses.get(hash);
                let state = match response {
                    Some(_) => ResponseState::Responded,
                    None if self.as_of_unix_ms > deadline => ResponseState::Overdue,
                    None => ResponseState::NoResponseYet,
                };
                Some(AdoptedRecommendation {
                    adoption: AdoptionRef {
                        event_hash: *hash,
                        final_text_hash: adopted.final_text_hash,
                        log_index: *log_index,
                        recorded_at_unix_ms: *at,
                    },
                    implementation: views.updates(response),
                    recommendation_id: id.clone(),
                    response: response.map(|response| views.response_record(response)),
                    response_due_by_unix_ms: deadline,
                    state,
                    title: r.title.clone(),
                })
            })
            .collect();
        Some(self.view(ViewName::Accountability, assembly_id, Accountability { adopted_recommendations }))
    }

    /// `input-trace`: for each input, in log order, what cited it and what became of it.
    pub fn input_trace(&self, assembly_id: &AssemblyId) -> Option<View<InputTrace>> {
        let inputs = self.input_entries(assembly_id)?.collect();
        Some(self.view(ViewName::InputTrace, assembly_id, InputTrace { inputs }))
    }

    /// `input-trace` with each entry built as it is written: the same JSON, without an
    /// assembly's every input in memory at once.
    fn input_trace_streamed<'s>(
        &'s self,
        assembly_id: &'s AssemblyId,
    ) -> Option<View<StreamedInputTrace<impl Iterator<Item = InputEntry> + Clone + 's>>> {
        let inputs = Streamed(self.input_entries(assembly_id)?);
        Some(self.view(ViewName::InputTrace, assembly_id, StreamedInputTrace { inputs }))
    }

    /// Each input's entry of `input-trace`, in log order, built as it is asked for.
    fn input_entries<'s>(
        &'s self,
        assembly_id: &'s AssemblyId,
    ) -> Option<impl Iterator<Item = InputEntry> + Clone + 's> {
        let views = self.assemblies.get(assembly_id)?;
        let inputs = self.inputs.of_assembly(assembly_id).map(move |input| {
            let citations: &[(Citer, CitationRecord)] =
                views.input_citations.get(&input.event_hash).map_or(&[], Vec::as_slice);
            // A sealed submission's erasure is marked through its commitment, any other
            // input's through its event.
            let erasure = if input.sealed {
                views.erased_commitments.get(&input.content_hash)
            } else {
                views.erased_events.get(&input.event_hash)
            };
            let resident = views.resident.get(&input.event_hash);
            InputEntry {
                call_id: resident.map(|r| r.call_id.clone()),
                cited_by: citations
                    .iter()
                    .filter_map(|(citer, c)| match citer {
                        Citer::Recommendation(id) => Some(CitedBy {
                            event_hash: c.event_hash,
                            log_index: c.log_index,
                            note: c.note.clone(),
                            recommendation_id: id.clone(),
                            text_hash: c.text_hash,
                        }),
                        Citer::Response(_) => None,
                    })
                    .collect(),
                considered_in: citations
                    .iter()
                    .filter_map(|(citer, c)| match citer {
                        Citer::Response(adoption) => Some(ConsideredIn {
                            event_hash: c.event_hash,
                            log_index: c.log_index,
                            note: c.note.clone(),
                            recommendation_id: views.adopted_id(adoption).cloned(),
                        }),
                        Citer::Recommendation(_) => None,
                    })
                    .collect(),
                content_hash: (!input.sealed).then_some(input.content_hash),
                erased_on: erasure.map(|e| IsoDate(e.erased_on)),
                erasure_reason: erasure.map(|e| e.legal_basis.clone()),
                event_hash: input.event_hash,
                kind: input.kind,
                log_index: input.log_index,
                moderation: resident.map(|r| ModerationEntry {
                    appealed_log_index: r.appealed_log_index,
                    decisions: r
                        .decisions
                        .iter()
                        .map(|(decision, reason, log_index)| ModerationDecisionEntry {
                            decision: decision.as_str().to_string(),
                            log_index: *log_index,
                            reason: reason.clone(),
                        })
                        .collect(),
                    state: r.state().to_string(),
                }),
                outcomes: Self::outcomes(views, citations),
                path: resident.map(|r| r.path.as_str().to_string()),
                sealed_commitment: input.sealed.then_some(input.content_hash),
            }
        });
        Some(inputs)
    }

    /// What became of the recommendations that cited an input (or whose responses did).
    pub(crate) fn outcomes(views: &AssemblyViews, citations: &[(Citer, CitationRecord)]) -> Vec<Outcome> {
        let ids: BTreeSet<&String> = citations
            .iter()
            .filter_map(|(citer, _)| match citer {
                Citer::Recommendation(id) => Some(id),
                Citer::Response(adoption) => views.adopted_id(adoption),
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                let r = views.recommendations.get(id)?;
                let adoption = r.adoption.as_ref().map(|(_, _, hash, _)| *hash);
                let response = adoption.and_then(|hash| views.responses.get(&hash));
                Some(Outcome {
                    adoption_event_hash: adoption,
                    implementation: views.updates(response),
                    recommendation_id: id.clone(),
                    response: response.map(|response| views.answer(response.current())),
                    status: r.status,
                })
            })
            .collect()
    }

    /// `response-trace`: for each response, by recommendation id, what it answers and cites.
    pub fn response_trace(&self, assembly_id: &AssemblyId) -> Option<View<ResponseTrace>> {
        let views = self.assemblies.get(assembly_id)?;
        let citation = |c: &CitationRecord| Citation {
            event_hash: c.event_hash,
            input_event_hash: c.input_event_hash,
            kind: self.inputs.by_event(&c.input_event_hash).map(|(_, input)| input.kind),
            log_index: c.log_index,
            note: c.note.clone(),
        };
        let responses = views
            .recommendations
            .iter()
            .filter_map(|(id, r)| {
                let (adopted, log_index, hash, _) = r.adoption.as_ref()?;
                let response = views.responses.get(hash)?;
                Some(ResponseTraceEntry {
                    adoption: TraceAdoption {
                        event_hash: *hash,
                        final_text_hash: adopted.final_text_hash,
                        log_index: *log_index,
                    },
                    considered: views
                        .response_citations
                        .get(hash)
                        .map_or_else(Vec::new, |cs| cs.iter().map(citation).collect()),
                    letters: views.response_letters.get(hash).map_or_else(Vec::new, |ls| {
                        ls.iter()
                            .map(|(letter, at, event)| Letter {
                                event_hash: *event,
                                letter_hash: *letter,
                                log_index: *at,
                            })
                            .collect()
                    }),
                    recommendation_cited: views.recommendation_citations.get(id).map_or_else(Vec::new, |cs| {
                        cs.iter()
                            .map(|c| RecommendationCitation {
                                event_hash: c.event_hash,
                                input_event_hash: c.input_event_hash,
                                kind: self.inputs.by_event(&c.input_event_hash).map(|(_, input)| input.kind),
                                log_index: c.log_index,
                                note: c.note.clone(),
                                text_hash: c.text_hash,
                            })
                            .collect()
                    }),
                    recommendation_id: id.clone(),
                    response: views.response_record(response),
                    title: r.title.clone(),
                })
            })
            .collect();
        Some(self.view(ViewName::ResponseTrace, assembly_id, ResponseTrace { responses }))
    }
}

/// A view's canonical JSON (FORMAT.md §7): its types declare their fields in key order, and
/// `serde_json` escapes strings as the format asks.
/// [`InputTrace`]'s JSON, its entries serialised one at a time as `inputs` yields them.
#[derive(serde::Serialize)]
#[serde(bound(serialize = "Streamed<I>: serde::Serialize"))]
pub(crate) struct StreamedInputTrace<I> {
    inputs: Streamed<I>,
}

/// A sequence serialised from an iterator, without collecting it.
pub(crate) struct Streamed<I>(I);

impl<I> serde::Serialize for Streamed<I>
where
    I: Iterator + Clone,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// A view's canonical JSON (FORMAT.md §7), written into `out`.
fn write_canonical<B: serde::Serialize>(out: impl std::io::Write, view: &View<B>) {
    serde_json::to_writer(out, view).expect("a view always serialises, and its writers do not fail");
}
