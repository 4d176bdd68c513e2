//! The gRPC services, each only a mapping between protobuf and the application core: parse
//! and name wire fields, call the core, and turn its answer or its typed error into protobuf.

use crate::errors::{invalid_field, status};
use klero_application::{AppendRequest, Appended, Application, ServedView};
use klero_domain::AssemblyId;
use klero_ledger::envelope::SignedAuthorPart;
use klero_log::LoggedEvent;
use klero_projections::ViewName;
use klero_proto as pb;
use klero_store::{ExpectedRevision, ReadDirection, StreamStart};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Events buffered per subscriber before the server waits for the client to read.
const SUBSCRIPTION_BUFFER_EVENTS: usize = 256;

/// The Ledger, Registry, Assemblies and Query services over one application core.
pub struct GrpcServices {
    application: Arc<Application>,
}

impl GrpcServices {
    pub fn new(application: Arc<Application>) -> GrpcServices {
        GrpcServices { application }
    }

    /// The view a `GetView` or `StreamView` request names, rendered.
    async fn served_view(&self, request: &pb::query::GetViewRequest) -> Result<ServedView, Status> {
        let name = ViewName::parse(&request.view).ok_or_else(|| {
            let names: Vec<&str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
            invalid_field("view", format!("must be one of {}", names.join(", ")))
        })?;
        let assembly = parse_assembly_id(&request.assembly_id)?;
        self.application.view(name, &assembly).await.map_err(|error| match error {
            klero_application::ApplicationError::NotFound { .. } => {
                Status::not_found(format!("assembly {assembly} has not been convened"))
            }
            other => status(other),
        })
    }
}

impl std::fmt::Debug for GrpcServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServices").field("application", &self.application).finish()
    }
}

/// A request's signed event as the core's `SignedAuthorPart`, or `INVALID_ARGUMENT` naming
/// `field`. Public, with the other conversions of requests, for the fuzz targets.
pub fn parse_signed(event: Option<pb::ledger::SignedEvent>, field: &str) -> Result<SignedAuthorPart, Status> {
    let event = event.ok_or_else(|| invalid_field(field, "is required"))?;
    if event.signature.len() != 64 {
        return Err(invalid_field(
            &format!("{field}.signature"),
            format!("must be 64 bytes (an Ed25519 signature), got {}", event.signature.len()),
        ));
    }
    SignedAuthorPart::from_wire(event.author_encoding, &event.signature)
        .map_err(|e| invalid_field(&format!("{field}.author_encoding"), e.to_string()))
}

/// A request's expected revision as the store port's.
pub fn parse_expected(expected: Option<pb::ledger::ExpectedRevision>) -> Result<ExpectedRevision, Status> {
    use pb::ledger::expected_revision::Kind;
    let must_be_true = |field: &str, set: bool| {
        if set {
            Ok(())
        } else {
            Err(invalid_field(
                &format!("expected_revision.{field}"),
                "must be true when set; leave the field unset instead",
            ))
        }
    };
    Ok(match expected.and_then(|e| e.kind) {
        None => ExpectedRevision::Any,
        Some(Kind::Any(set)) => must_be_true("any", set).map(|()| ExpectedRevision::Any)?,
        Some(Kind::NoStream(set)) => must_be_true("no_stream", set).map(|()| ExpectedRevision::NoStream)?,
        Some(Kind::StreamExists(set)) => must_be_true("stream_exists", set).map(|()| ExpectedRevision::StreamExists)?,
        Some(Kind::Exact(revision)) => ExpectedRevision::Exact(revision),
    })
}

/// A request's assembly id, checked.
pub fn parse_assembly_id(text: &str) -> Result<AssemblyId, Status> {
    AssemblyId::parse(text).map_err(|reason| invalid_field("assembly_id", reason.to_string()))
}

fn appended_to_proto(appended: Appended) -> pb::ledger::AppendedEvent {
    let event = appended.event;
    pb::ledger::AppendedEvent {
        event_id: event.event_id.0.to_vec(),
        stream: event.stream,
        stream_revision: event.stream_revision,
        log_index: event.leaf_index,
        event_hash: event.event_hash.0.to_vec(),
        recorded_at_unix_ms: event.recorded_at_unix_ms,
        newly_appended: event.newly_appended,
        late: appended.late,
    }
}

fn logged_to_proto(event: LoggedEvent) -> pb::ledger::RecordedEvent {
    pb::ledger::RecordedEvent {
        log_index: event.leaf_index,
        event_hash: event.event_hash.0.to_vec(),
        envelope: event.envelope.into_bytes(),
    }
}

/// The most JSON a `GetView` answer carries: a view grows with its assembly's input, and one
/// message must stay well under the 8 MiB a client decodes.
const VIEW_MESSAGE_JSON_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The JSON in one `StreamView` part.
const VIEW_PART_BYTES_MAX: usize = 1024 * 1024;

fn view_to_proto(view: ServedView) -> pb::query::View {
    pb::query::View {
        view: view.name.as_str().to_string(),
        version: view.name.version(),
        assembly_id: view.assembly_id.to_string(),
        json: view.json,
        digest: view.digest.0.to_vec(),
        tree_size: view.tree_size,
        root_hash: view.root_hash.0.to_vec(),
    }
}

/// A data key from the wire: empty for none, else exactly 32 bytes.
fn parse_data_key(bytes: &[u8], field: &str) -> Result<Option<klero_domain::DataKey>, Status> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let key = <[u8; 32]>::try_from(bytes)
        .map_err(|_| invalid_field(field, format!("must be empty or a 32-byte data key, got {} bytes", bytes.len())))?;
    Ok(Some(klero_domain::DataKey(key)))
}

/// A request count as the core takes it; a count beyond `usize` is beyond every limit anyway.
fn count(max_count: u32) -> usize {
    usize::try_from(max_count).unwrap_or(usize::MAX)
}

#[tonic::async_trait]
impl pb::ledger::ledger_server::Ledger for GrpcServices {
    async fn append(
        &self,
        request: Request<pb::ledger::AppendRequest>,
    ) -> Result<Response<pb::ledger::AppendResponse>, Status> {
        let _announced = self.application.announce_append();
        let request = request.into_inner();
        let signed = parse_signed(request.event, "event")?;
        let stream = signed.author().stream.clone();
        let expected = parse_expected(request.expected_revision)?;
        let data_keys = match parse_data_key(&request.data_key, "data_key")? {
            None => Vec::new(),
            key => vec![key],
        };
        let mut appended = self
            .application
            .append(AppendRequest { stream, expected, events: vec![signed], data_keys })
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ledger::AppendResponse { appended: appended.pop().map(appended_to_proto) }))
    }

    async fn append_batch(
        &self,
        request: Request<pb::ledger::AppendBatchRequest>,
    ) -> Result<Response<pb::ledger::AppendBatchResponse>, Status> {
        let _announced = self.application.announce_append();
        let request = request.into_inner();
        let batch_events_max = self.application.limits().batch_events_max;
        if request.events.len() > batch_events_max {
            // Refused before parsing, so an oversized batch costs nothing more.
            return Err(status(klero_application::ApplicationError::LimitExceeded {
                limit: "events per batch",
                actual: request.events.len() as u64,
                max: batch_events_max as u64,
            }));
        }
        let mut events = Vec::with_capacity(request.events.len());
        for (index, event) in request.events.into_iter().enumerate() {
            events.push(parse_signed(Some(event), &format!("events[{index}]"))?);
        }
        let expected = parse_expected(request.expected_revision)?;
        let mut data_keys = Vec::with_capacity(request.data_keys.len());
        for (index, key) in request.data_keys.iter().enumerate() {
            data_keys.push(parse_data_key(key, &format!("data_keys[{index}]"))?);
        }
        let appended = self
            .application
            .append(AppendRequest { stream: request.stream, expected, events, data_keys })
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ledger::AppendBatchResponse {
            appended: appended.into_iter().map(appended_to_proto).collect(),
        }))
    }

    async fn read_stream(
        &self,
        request: Request<pb::ledger::ReadStreamRequest>,
    ) -> Result<Response<pb::ledger::ReadStreamResponse>, Status> {
        let request = request.into_inner();
        let direction = if request.backwards { ReadDirection::Backwards } else { ReadDirection::Forwards };
        let events = self
            .application
            .read_stream(
                &request.stream,
                StreamStart::Revision(request.from_revision),
                direction,
                count(request.max_count),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ledger::ReadStreamResponse { events: events.into_iter().map(logged_to_proto).collect() }))
    }

    async fn read_log(
        &self,
        request: Request<pb::ledger::ReadLogRequest>,
    ) -> Result<Response<pb::ledger::ReadLogResponse>, Status> {
        let request = request.into_inner();
        let (events, log_size) =
            self.application.read_log(request.from_log_index, count(request.max_count)).await.map_err(status)?;
        Ok(Response::new(pb::ledger::ReadLogResponse {
            events: events.into_iter().map(logged_to_proto).collect(),
            log_size,
        }))
    }

    type SubscribeStream = tokio_stream::wrappers::ReceiverStream<Result<pb::ledger::RecordedEvent, Status>>;

    async fn subscribe(
        &self,
        request: Request<pb::ledger::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let mut subscription = self.application.subscribe(request.into_inner().from_log_index).map_err(status)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(SUBSCRIPTION_BUFFER_EVENTS);
        tokio::spawn(async move {
            loop {
                let item = subscription.next().await.map(logged_to_proto).map_err(status);
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    return; // the client went away, or the log failed; the slot is released
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    async fn get_stream_head(
        &self,
        request: Request<pb::ledger::GetStreamHeadRequest>,
    ) -> Result<Response<pb::ledger::GetStreamHeadResponse>, Status> {
        let stream = request.into_inner().stream;
        let head = self.application.stream_head(&stream).await.map_err(status)?;
        Ok(Response::new(match head {
            None => pb::ledger::GetStreamHeadResponse::default(),
            Some(event) => pb::ledger::GetStreamHeadResponse {
                exists: true,
                revision: event.envelope.ledger().stream_revision,
                event_hash: event.event_hash.0.to_vec(),
                log_index: event.leaf_index,
            },
        }))
    }

    async fn get_checkpoint(
        &self,
        _request: Request<pb::ledger::GetCheckpointRequest>,
    ) -> Result<Response<pb::ledger::GetCheckpointResponse>, Status> {
        let signed = self.application.fresh_checkpoint().await.map_err(status)?;
        Ok(Response::new(pb::ledger::GetCheckpointResponse {
            signed_note: signed.note().to_string(),
            tree_size: signed.checkpoint().tree_size,
            root_hash: signed.checkpoint().root_hash.0.to_vec(),
            verifier_key: self.application.verifier_key().to_vkey_string(),
        }))
    }

    async fn list_witnessed_checkpoints(
        &self,
        request: Request<pb::ledger::ListWitnessedCheckpointsRequest>,
    ) -> Result<Response<pb::ledger::ListWitnessedCheckpointsResponse>, Status> {
        let request = request.into_inner();
        let max_count = match request.max_count {
            0 => WITNESSED_CHECKPOINTS_PAGE_MAX,
            count if count as usize > WITNESSED_CHECKPOINTS_PAGE_MAX => {
                return Err(Status::invalid_argument(format!("max_count: at most {WITNESSED_CHECKPOINTS_PAGE_MAX}")))
            }
            count => count as usize,
        };
        let signed_notes =
            self.application.witnessed_checkpoints(request.from_size, max_count).await.map_err(status)?;
        Ok(Response::new(pb::ledger::ListWitnessedCheckpointsResponse { signed_notes }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::ledger::GetInclusionProofRequest>,
    ) -> Result<Response<pb::ledger::GetInclusionProofResponse>, Status> {
        let request = request.into_inner();
        let proof = self.application.inclusion_proof(request.log_index, request.tree_size).map_err(status)?;
        Ok(Response::new(pb::ledger::GetInclusionProofResponse {
            hashes: proof.iter().map(|h| h.0.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::ledger::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ledger::GetConsistencyProofResponse>, Status> {
        let request = request.into_inner();
        let proof = self.application.consistency_proof(request.old_tree_size, request.new_tree_size).map_err(status)?;
        Ok(Response::new(pb::ledger::GetConsistencyProofResponse {
            hashes: proof.iter().map(|h| h.0.to_vec()).collect(),
        }))
    }

    async fn get_proof_bundle(
        &self,
        request: Request<pb::ledger::GetProofBundleRequest>,
    ) -> Result<Response<pb::ledger::GetProofBundleResponse>, Status> {
        let bundle = self.application.proof_bundle(request.into_inner().log_index).await.map_err(status)?;
        Ok(Response::new(pb::ledger::GetProofBundleResponse { bundle: bundle.encode() }))
    }
}

fn role_to_proto(role: klero_domain::Role) -> pb::registry::Role {
    use klero_domain::Role::*;
    match role {
        Convenor => pb::registry::Role::Convenor,
        SelectionOperator => pb::registry::Role::SelectionOperator,
        Facilitator => pb::registry::Role::Facilitator,
        PanelSecretary => pb::registry::Role::PanelSecretary,
        CouncilDecisionMaker => pb::registry::Role::CouncilDecisionMaker,
        Auditor => pb::registry::Role::Auditor,
        DataProtectionOfficer => pb::registry::Role::DataProtectionOfficer,
        Moderator => pb::registry::Role::Moderator,
        Intake => pb::registry::Role::Intake,
    }
}

/// Most witnessed checkpoints one `ListWitnessedCheckpoints` answers with.
const WITNESSED_CHECKPOINTS_PAGE_MAX: usize = 1_000;

#[tonic::async_trait]
impl pb::registry::registry_server::Registry for GrpcServices {
    async fn list_keys(
        &self,
        request: Request<pb::registry::ListKeysRequest>,
    ) -> Result<Response<pb::registry::ListKeysResponse>, Status> {
        let filter = request.into_inner().assembly_id;
        let assembly = if filter.is_empty() { None } else { Some(parse_assembly_id(&filter)?) };
        // A council's assembly is covered by its council's registry alone.
        let council = assembly.as_ref().and_then(|a| a.council());
        let (grants, trust_root) = self.application.grants(council).await.map_err(status)?;
        let grants = grants
            .iter()
            .filter(|g| assembly.as_ref().is_none_or(|a| g.scope.covers(a)))
            .map(|g| pb::registry::KeyGrant {
                public_key: g.public_key.to_vec(),
                role: role_to_proto(g.role) as i32,
                scope: g.scope.to_string(),
                holder_title: g.holder_title.clone(),
                granted_at_log_index: g.granted_at_log_index,
                revoked_at_log_index: g.revoked_at_log_index,
            })
            .collect();
        let response = pb::registry::ListKeysResponse { grants, trust_root_public_key: trust_root.to_vec() };
        Ok(Response::new(response))
    }
}

fn assembly_summary(summary: klero_application::queries::AssemblySummary) -> pb::assembly::AssemblySummary {
    let convened = &summary.convened;
    pb::assembly::AssemblySummary {
        convened: Some(pb::assembly::AssemblyConvened {
            assembly_id: convened.assembly_id.to_string(),
            council: convened.council.clone(),
            remit_question: convened.remit_question.clone(),
            area: convened.area.clone(),
            starts_on: convened.starts_on.to_string(),
            ends_on: convened.ends_on.to_string(),
            panel_size: convened.panel_size,
            adoption_threshold_percent: convened.adoption_threshold_percent,
            response_deadline_days: convened.response_deadline_days,
        }),
        panel_member_ids: summary.panel_member_ids,
        sessions_held: summary.sessions_held,
        evidence_presented: summary.evidence_presented,
        public_submissions: summary.public_submissions,
        recommendations: summary
            .recommendations
            .into_iter()
            .map(|r| pb::assembly::RecommendationSummary {
                recommendation_id: r.recommendation_id,
                status: r.status.to_string(),
                adopted_event_hash: r.adopted_event_hash.map(|h| h.0.to_vec()).unwrap_or_default(),
                response_decision: r.response_decision.map(|d| d.as_str().to_string()).unwrap_or_default(),
                response_late: r.response_late,
                implementation_updates: r.implementation_updates,
            })
            .collect(),
        final_report_published: summary.final_report_published,
    }
}

#[tonic::async_trait]
impl pb::assembly::assemblies_server::Assemblies for GrpcServices {
    async fn get_assembly(
        &self,
        request: Request<pb::assembly::GetAssemblyRequest>,
    ) -> Result<Response<pb::assembly::AssemblySummary>, Status> {
        let id = parse_assembly_id(&request.into_inner().assembly_id)?;
        self.application
            .assembly_summary(&id)
            .await
            .map_err(status)?
            .map(|summary| Response::new(assembly_summary(summary)))
            .ok_or_else(|| Status::not_found(format!("assembly {id} has not been convened")))
    }

    async fn list_assemblies(
        &self,
        _request: Request<pb::assembly::ListAssembliesRequest>,
    ) -> Result<Response<pb::assembly::ListAssembliesResponse>, Status> {
        let assembly_ids =
            self.application.assembly_ids().await.map_err(status)?.iter().map(ToString::to_string).collect();
        Ok(Response::new(pb::assembly::ListAssembliesResponse { assembly_ids }))
    }
}

#[tonic::async_trait]
impl pb::query::query_server::Query for GrpcServices {
    async fn get_view(&self, request: Request<pb::query::GetViewRequest>) -> Result<Response<pb::query::View>, Status> {
        let request = request.into_inner();
        let mut view = self.served_view(&request).await?;
        if request.digest_only {
            view.json = String::new();
        } else if view.json.len() > VIEW_MESSAGE_JSON_BYTES_MAX {
            return Err(Status::out_of_range(format!(
                "view {} of {} is {} bytes of JSON, more than one message holds ({VIEW_MESSAGE_JSON_BYTES_MAX}): ask with digest_only for its digest, or use StreamView for the JSON",
                request.view,
                request.assembly_id,
                view.json.len()
            )));
        }
        Ok(Response::new(view_to_proto(view)))
    }

    type StreamViewStream = tokio_stream::wrappers::ReceiverStream<Result<pb::query::ViewPart, Status>>;

    async fn stream_view(
        &self,
        request: Request<pb::query::GetViewRequest>,
    ) -> Result<Response<Self::StreamViewStream>, Status> {
        let view = self.served_view(&request.into_inner()).await?;
        let json = tonic::codegen::Bytes::from(view.json.clone().into_bytes());
        let head = view_to_proto(ServedView { json: String::new(), ..view });
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            if sender.send(Ok(pb::query::ViewPart { view: Some(head), json: Default::default() })).await.is_err() {
                return;
            }
            // The parts are slices of one buffer: no copy.
            for start in (0..json.len()).step_by(VIEW_PART_BYTES_MAX) {
                let part = json.slice(start..(start + VIEW_PART_BYTES_MAX).min(json.len()));
                if sender.send(Ok(pb::query::ViewPart { view: None, json: part })).await.is_err() {
                    return; // the client went away
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    async fn list_assemblies(
        &self,
        _request: Request<pb::query::ListAssembliesRequest>,
    ) -> Result<Response<pb::query::ListAssembliesResponse>, Status> {
        // The views list assemblies by id.
        let mut assembly_ids: Vec<String> =
            self.application.assembly_ids().await.map_err(status)?.iter().map(ToString::to_string).collect();
        assembly_ids.sort();
        Ok(Response::new(pb::query::ListAssembliesResponse {
            assembly_ids,
            views: ViewName::ALL.iter().map(|v| v.as_str().to_string()).collect(),
        }))
    }

    async fn open_personal_text(
        &self,
        request: Request<pb::query::OpenPersonalTextRequest>,
    ) -> Result<Response<pb::query::OpenPersonalTextResponse>, Status> {
        let request = request.into_inner();
        let assembly = parse_assembly_id(&request.assembly_id)?;
        let event_hash = klero_ledger::Hash256(crate::documents::sha256_field("event_hash", &request.event_hash)?);
        let opening = self.application.open_personal_text(&assembly, &event_hash).await.map_err(status)?;
        Ok(Response::new(pb::query::OpenPersonalTextResponse {
            fields: opening
                .fields
                .into_iter()
                .map(|field| pb::query::OpenedField {
                    field: field.field.to_string(),
                    text: field.opened.as_ref().map(|o| o.text.clone()).unwrap_or_default(),
                    salt: field.opened.as_ref().map(|o| o.salt.to_vec()).unwrap_or_default(),
                    commitment: field.commitment.0.to_vec(),
                })
                .collect(),
            erased_on: opening.erasure.as_ref().map(|e| e.erased_on.to_string()).unwrap_or_default(),
            erasure_reason: opening.erasure.map(|e| e.legal_basis).unwrap_or_default(),
            document_hash: opening.document.map(|h| h.0.to_vec()).unwrap_or_default(),
        }))
    }

    async fn list_moderation_queue(
        &self,
        request: Request<pb::query::ListModerationQueueRequest>,
    ) -> Result<Response<pb::query::ListModerationQueueResponse>, Status> {
        let request = request.into_inner();
        let assembly = parse_assembly_id(&request.assembly_id)?;
        let queue = self.application.moderation_queue(&assembly, &request.call_id).await.map_err(status)?;
        Ok(Response::new(pb::query::ListModerationQueueResponse {
            submissions: queue
                .into_iter()
                .map(|queued| pb::query::QueuedSubmission {
                    event_hash: queued.event_hash.0.to_vec(),
                    log_index: queued.log_index,
                    path: match queued.path {
                        klero_domain::SubmissionPath::Browser => pb::deliberation::SubmissionPath::Browser,
                        klero_domain::SubmissionPath::WebForm => pb::deliberation::SubmissionPath::WebForm,
                    } as i32,
                    text: queued.text.unwrap_or_default(),
                    appealed: queued.appealed,
                    identical_to: queued.identical_to,
                })
                .collect(),
        }))
    }

    async fn list_overdue_erasures(
        &self,
        request: Request<pb::query::ListOverdueErasuresRequest>,
    ) -> Result<Response<pb::query::ListOverdueErasuresResponse>, Status> {
        let assembly = parse_assembly_id(&request.into_inner().assembly_id)?;
        let (retention_days, overdue) = self.application.overdue_erasures(&assembly).await.map_err(status)?;
        let complete_through = self.application.erasures_complete_through().await.map_err(status)?;
        Ok(Response::new(pb::query::ListOverdueErasuresResponse {
            erasures_complete_at_once: complete_through.is_none(),
            erasures_complete_through_unix_ms: complete_through.unwrap_or(0),
            retention_days: retention_days.unwrap_or(0),
            overdue: overdue
                .into_iter()
                .map(|item| pb::query::OverdueErasure {
                    event_hash: item.event_hash.0.to_vec(),
                    log_index: item.log_index,
                    recorded_at_unix_ms: item.recorded_at_unix_ms,
                    due_at_unix_ms: item.due_at_unix_ms,
                })
                .collect(),
        }))
    }
}
