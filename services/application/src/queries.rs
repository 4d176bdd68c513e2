//! Read-only queries of the fold, as typed answers: what the gRPC front end lists and
//! summarises. The fold itself (the write model the rules decide on) stays inside the core.

use crate::{read, Application, ApplicationError};
use klero_domain::events::AssemblyConvened;
use klero_domain::{AssemblyId, Decision, Grant};
use klero_ledger::Hash256;

/// One recommendation of an assembly, as the rules see it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecommendationSummary {
    pub recommendation_id: String,
    /// `drafted`, `withdrawn` or `adopted`.
    pub status: &'static str,
    pub adopted_event_hash: Option<Hash256>,
    /// The council's current decision, once it answered.
    pub response_decision: Option<Decision>,
    pub response_late: bool,
    pub implementation_updates: u32,
}

/// An assembly as the rules see it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblySummary {
    pub convened: AssemblyConvened,
    pub panel_member_ids: Vec<String>,
    pub sessions_held: u32,
    pub evidence_presented: u32,
    pub public_submissions: u32,
    pub recommendations: Vec<RecommendationSummary>,
    pub final_report_published: bool,
}

impl Application {
    /// Every grant of the registry that can cover an assembly of `council` (the platform's
    /// own when `None`; revoked ones with their revocation), and the platform's trust root.
    pub async fn grants(&self, council: Option<&str>) -> Result<(Vec<Grant>, [u8; 32]), ApplicationError> {
        self.sync_fold().await?;
        let fold = read(&self.fold);
        Ok((fold.state().grants_of(council).to_vec(), *fold.state().trust_root()))
    }

    /// The assemblies convened, in the order they were.
    pub async fn assembly_ids(&self) -> Result<Vec<AssemblyId>, ApplicationError> {
        self.sync_fold().await?;
        Ok(read(&self.fold).state().assembly_ids().to_vec())
    }

    /// An assembly as the rules see it now; `None` if it is not convened.
    pub async fn assembly_summary(&self, id: &AssemblyId) -> Result<Option<AssemblySummary>, ApplicationError> {
        self.sync_fold().await?;
        let fold = read(&self.fold);
        let Some(state) = fold.state().assembly(id) else { return Ok(None) };
        let recommendations = state
            .recommendations
            .iter()
            .map(|(rid, r)| {
                let response = r.adopted_event_hash.and_then(|h| state.responses.get(&h));
                RecommendationSummary {
                    recommendation_id: rid.clone(),
                    status: r.status.as_str(),
                    adopted_event_hash: r.adopted_event_hash,
                    response_decision: response.map(|s| s.decision),
                    response_late: response.is_some_and(|s| s.late),
                    implementation_updates: response.map_or(0, |s| s.implementation_updates),
                }
            })
            .collect();
        Ok(Some(AssemblySummary {
            convened: state.convened.clone(),
            panel_member_ids: state.selection.seated.iter().cloned().collect(),
            sessions_held: state.sessions_held,
            evidence_presented: state.evidence_presented,
            public_submissions: state.public_submissions,
            recommendations,
            final_report_published: state.final_report.is_some(),
        }))
    }
}
