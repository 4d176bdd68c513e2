//! The Selection service: computes a LEXIMIN lottery with `klero-selection`, the crate the
//! domain uses to check draws and `klero select` uses offline. It appends nothing.

use crate::errors;
use klero_proto as pb;
use klero_selection::{build_instance, leximin, parse_features_csv, publish, InputFile, SelectionError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

/// Volunteers one request may bring. pool_2000's maximin takes about 15 s on 2 cores.
pub const SELECTION_PEOPLE_MAX: usize = 2_500;
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
        let quotas = parse_features_csv(&request.features_csv).map_err(selection_status)?;
        let people = request.people_csv.lines().filter(|l| !l.trim().is_empty()).count().saturating_sub(1);
        if people > SELECTION_PEOPLE_MAX {
            return Err(Status::resource_exhausted(format!(
                "limit exceeded: people_csv has {people} volunteers, the maximum is {SELECTION_PEOPLE_MAX}"
            )));
        }
        if request.panel_size == 0 || request.panel_size as usize > people {
            return Err(errors::invalid_field("panel_size", format!("must be 1 to the pool's size ({people})")));
        }
        let instance = build_instance(&quotas, &request.people_csv, request.panel_size).map_err(selection_status)?;
        // The permit moves into the blocking task: if the client gives up, the computation
        // still holds it until it ends, so abandoned requests cannot pile up.
        let computed = tokio::task::spawn_blocking(move || {
            let _permit = _permit;
            let distribution = leximin(&instance, LEXIMIN_TIME_LIMIT)?;
            let lottery = publish(&distribution);
            let probabilities: Vec<f64> =
                (0..instance.types.len()).map(|t| lottery.type_probability(&instance, t)).collect();
            Ok::<_, SelectionError>((lottery, probabilities, distribution.leximin_complete))
        })
        .await
        .map_err(|e| Status::internal(format!("the selection task failed: {e}")))?
        .map_err(selection_status)?;
        let (lottery, type_probabilities, leximin_complete) = computed;
        let min_probability = type_probabilities.iter().cloned().fold(f64::INFINITY, f64::min);
        Ok(Response::new(pb::selection::ComputeLotteryResponse {
            lottery: Some(klero_catalogue::lottery_message(&lottery)),
            type_probabilities,
            min_probability,
            leximin_complete,
            algorithm_version: klero_selection::ALGORITHM_VERSION.into(),
        }))
    }
}
