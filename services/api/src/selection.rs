//! The Selection service: computes a LEXIMIN lottery with `klero-selection`, the crate the
//! domain uses to check draws and `klero select` uses offline. It appends nothing.

use crate::errors;
use klero_proto as pb;
use klero_selection::{
    build_instance, leximin, nash, publish, read_features, smallest_relaxation_within, InputFile, Objective,
    Relaxation, SelectionError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Volunteers one request may bring. pool_2000's maximin takes about 15 s on 2 cores.
pub const SELECTION_PEOPLE_MAX: usize = 2_500;
/// Columns one request may name as saying where volunteers live.
pub const HOUSEHOLD_COLUMNS_MAX: usize = 8;
/// Quotas one request may ask a relaxation to keep, as many as a plan may hold.
pub const KEEP_QUOTAS_MAX: usize = 200;
/// Refinement beyond the maximin stage stops here, inside the server's request timeout.
const LEXIMIN_TIME_LIMIT: Duration = Duration::from_secs(20);

/// The service. Computations hold a CPU for seconds, so only one runs at a time.
#[derive(Debug)]
pub struct SelectionService {
    running: Arc<Semaphore>,
}

impl Default for SelectionService {
    fn default() -> Self {
        SelectionService { running: Arc::new(Semaphore::new(1)) }
    }
}

fn selection_status(error: SelectionError) -> Status {
    match error {
        SelectionError::Input { file: InputFile::Arguments, reason, .. } => errors::invalid_field("panel_size", reason),
        SelectionError::Input { file, line, column, reason } => {
            let field = if file == InputFile::Features { "features_csv" } else { "people_csv" };
            let column = column.map(|c| format!(", column {c}")).unwrap_or_default();
            errors::invalid_field(field, format!("line {line}{column}: {reason}"))
        }
        SelectionError::Infeasible { conflict } => {
            let rule = klero_domain::RuleCode::SelectionQuotasFeasible;
            Status::failed_precondition(format!("{rule}: no panel can meet the quotas: {conflict}"))
        }
        SelectionError::TimeLimit { seconds } => {
            Status::deadline_exceeded(format!("the maximin stage did not finish within {seconds} s"))
        }
        SelectionError::Solver { reason } => Status::internal(format!("the LP/MIP solver failed: {reason}")),
    }
}

/// FAILED_PRECONDITION for quotas no panel meets, with the smallest relaxation: in the
/// message, and as one PreconditionFailure violation per quota it changes (type
/// `QUOTA_RELAXATION`, subject `feature=value`, description `min..max to min..max`), so a
/// client can show the officer the quotas side by side before anything is committed.
fn infeasible_status(conflict: &str, relaxation: Result<Option<Relaxation>, SelectionError>) -> Status {
    let rule = klero_domain::RuleCode::SelectionQuotasFeasible;
    let mut details = ErrorDetails::new();
    details.add_precondition_failure_violation("RULE", rule.as_str(), conflict.to_string());
    let proposal = match relaxation {
        Ok(Some(relaxation)) => {
            for c in &relaxation.changes {
                details.add_precondition_failure_violation(
                    "QUOTA_RELAXATION",
                    format!("{}={}", c.feature, c.value),
                    format!("{}..{} to {}..{}", c.min, c.max, c.relaxed_min, c.relaxed_max),
                );
            }
            format!("; the smallest relaxation: {relaxation}")
        }
        Ok(None) => "; no relaxation of the other quotas can help".to_string(),
        Err(error) => format!("; the relaxation could not be computed: {error}"),
    };
    Status::with_error_details(
        tonic::Code::FailedPrecondition,
        format!("{rule}: no panel can meet the quotas: {conflict}{proposal}"),
        details,
    )
}

#[tonic::async_trait]
impl pb::selection::selection_server::Selection for SelectionService {
    async fn compute_lottery(
        &self,
        request: Request<pb::selection::ComputeLotteryRequest>,
    ) -> Result<Response<pb::selection::ComputeLotteryResponse>, Status> {
        let request = request.into_inner();
        let Ok(_permit) = self.running.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(
                "limit exceeded: one lottery is computed at a time, and one is running; retry later",
            ));
        };
        let features = read_features(&request.features_csv).map_err(selection_status)?;
        let quotas = &features.quotas;
        let people = request.people_csv.lines().filter(|l| !l.trim().is_empty()).count().saturating_sub(1);
        if people > SELECTION_PEOPLE_MAX {
            return Err(Status::resource_exhausted(format!(
                "limit exceeded: people_csv has {people} volunteers, the maximum is {SELECTION_PEOPLE_MAX}"
            )));
        }
        if request.panel_size == 0 || request.panel_size as usize > people {
            return Err(errors::invalid_field("panel_size", format!("must be 1 to the pool's size ({people})")));
        }
        if request.household_columns.len() > HOUSEHOLD_COLUMNS_MAX {
            return Err(Status::resource_exhausted(format!(
                "limit exceeded: household_columns names {} columns, the maximum is {HOUSEHOLD_COLUMNS_MAX}",
                request.household_columns.len()
            )));
        }
        if request.keep_quotas.len() > KEEP_QUOTAS_MAX {
            return Err(Status::resource_exhausted(format!(
                "limit exceeded: keep_quotas names {} quotas, the maximum is {KEEP_QUOTAS_MAX}",
                request.keep_quotas.len()
            )));
        }
        let mut keep = Vec::with_capacity(request.keep_quotas.len());
        for (i, kept) in request.keep_quotas.iter().enumerate() {
            if !quotas.iter().any(|q| q.feature == kept.feature && q.value == kept.value) {
                return Err(errors::invalid_field(
                    &format!("keep_quotas[{i}]"),
                    format!("{} = {} has no quota in features_csv", kept.feature, kept.value),
                ));
            }
            keep.push((kept.feature.clone(), kept.value.clone()));
        }
        let objective: Objective = match request.objective.as_str() {
            "" => Objective::default(),
            name => name.parse().map_err(|reason: String| errors::invalid_field("objective", reason))?,
        };
        let instance = build_instance(quotas, &request.people_csv, request.panel_size, &request.household_columns)
            .map_err(selection_status)?;
        // The permit moves into the blocking task: if the client gives up, the computation
        // still holds it until it ends, so abandoned requests cannot pile up.
        let computed = tokio::task::spawn_blocking(move || {
            let _permit = _permit;
            let computed = match objective {
                Objective::Leximin => leximin(&instance, LEXIMIN_TIME_LIMIT).map(|d| (d.leximin_complete, false, d)),
                Objective::Nash => nash(&instance, LEXIMIN_TIME_LIMIT).map(|n| (false, n.converged, n.distribution)),
            };
            let (leximin_complete, nash_converged, distribution) = match computed {
                Err(SelectionError::Infeasible { conflict }) => {
                    let relaxation = smallest_relaxation_within(&instance, &keep, &features.flex);
                    return Err(infeasible_status(&conflict, relaxation));
                }
                other => other.map_err(selection_status)?,
            };
            let lottery = publish(&distribution);
            let probabilities: Vec<f64> =
                (0..instance.types.len()).map(|t| lottery.type_probability(&instance, t)).collect();
            let gini = klero_selection::gini(&instance, &probabilities);
            Ok::<_, Status>((lottery, probabilities, leximin_complete, nash_converged, gini))
        })
        .await
        .map_err(|e| Status::internal(format!("the selection task failed: {e}")))??;
        let (lottery, type_probabilities, leximin_complete, nash_converged, gini) = computed;
        let min_probability = type_probabilities.iter().cloned().fold(f64::INFINITY, f64::min);
        Ok(Response::new(pb::selection::ComputeLotteryResponse {
            lottery: Some(klero_catalogue::lottery_message(&lottery)),
            type_probabilities,
            min_probability,
            leximin_complete,
            algorithm_version: klero_selection::ALGORITHM_VERSION.into(),
            objective: objective.as_str().into(),
            gini,
            nash_converged,
        }))
    }
}
