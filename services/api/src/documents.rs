//! The Documents service: uploads and downloads of the documents the record commits to, in
//! chunks, mapped onto the application core (`klero_application::documents`).

use crate::errors::{invalid_field, status};
use klero_application::{Application, DocumentRecord, UploadHeader};
use klero_proto as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// Largest chunk in either direction.
pub const CHUNK_BYTES_MAX: usize = 1024 * 1024;
/// Most documents one list call returns.
pub const LIST_COUNT_MAX: u32 = 1_000;
/// Uploads, and downloads, in progress at once: a download holds its document (up to 16 MiB)
/// in memory, an upload one chunk on the embedded store (the whole document on stores that
/// gather it, such as PostgreSQL's).
pub const TRANSFERS_IN_PROGRESS_MAX: usize = 16;

/// The service, over the application core.
pub struct DocumentsService {
    application: Arc<Application>,
    uploads: Arc<tokio::sync::Semaphore>,
    downloads: Arc<tokio::sync::Semaphore>,
}

impl DocumentsService {
    pub fn new(application: Arc<Application>) -> Self {
        DocumentsService {
            application,
            uploads: Arc::new(tokio::sync::Semaphore::new(TRANSFERS_IN_PROGRESS_MAX)),
            downloads: Arc::new(tokio::sync::Semaphore::new(TRANSFERS_IN_PROGRESS_MAX)),
        }
    }
}

/// A place among the transfers in progress, or RESOURCE_EXHAUSTED naming the limit.
fn transfer_slot(slots: &Arc<tokio::sync::Semaphore>, what: &str) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
    slots.clone().try_acquire_owned().map_err(|_| {
        Status::resource_exhausted(format!(
            "limit exceeded: {what} in progress is {TRANSFERS_IN_PROGRESS_MAX}, the maximum; retry shortly"
        ))
    })
}

impl std::fmt::Debug for DocumentsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentsService").finish_non_exhaustive()
    }
}

pub(crate) fn sha256_field(field: &str, bytes: &[u8]) -> Result<[u8; 32], Status> {
    <[u8; 32]>::try_from(bytes).map_err(|_| invalid_field(field, format!("must be 32 bytes, got {}", bytes.len())))
}

fn info_to_proto(record: &DocumentRecord) -> pb::documents::DocumentInfo {
    pb::documents::DocumentInfo {
        sha256: record.info.sha256.to_vec(),
        media_type: record.info.media_type.clone(),
        size: record.info.size,
        personal_data: record.info.personal_data,
        committed_as: record.committed.map(|c| c.kind.as_str().to_string()).unwrap_or_default(),
        committed_at_log_index: record.committed.map_or(0, |c| c.log_index),
    }
}

#[tonic::async_trait]
impl pb::documents::documents_server::Documents for DocumentsService {
    async fn upload(
        &self,
        request: Request<Streaming<pb::documents::UploadRequest>>,
    ) -> Result<Response<pb::documents::UploadResponse>, Status> {
        use pb::documents::upload_request::Part;
        let _slot = transfer_slot(&self.uploads, "uploads")?;
        let mut parts = request.into_inner();
        let header = match parts.message().await? {
            Some(pb::documents::UploadRequest { part: Some(Part::Header(header)) }) => header,
            _ => return Err(invalid_field("header", "the first message of an upload is its header")),
        };
        let header = UploadHeader {
            sha256: sha256_field("header.sha256", &header.sha256)?,
            media_type: header.media_type,
            size: header.size,
            personal_data: header.personal_data,
        };
        // Refused before a byte is read if the header already breaks a limit; then each chunk
        // goes to the store as it arrives, so writing it overlaps the transfer.
        let (sha256, size) = (header.sha256, header.size);
        let mut upload = self.application.begin_upload(header).await.map_err(status)?;
        while let Some(message) = parts.message().await? {
            let Some(Part::Chunk(chunk)) = message.part else {
                return Err(invalid_field("header", "an upload has one header, first"));
            };
            if chunk.len() > CHUNK_BYTES_MAX {
                return Err(Status::resource_exhausted(format!(
                    "limit exceeded: chunk bytes is {}, the maximum is {CHUNK_BYTES_MAX}",
                    chunk.len()
                )));
            }
            upload.write(&chunk).await.map_err(status)?;
        }
        let newly_stored = self.application.finish_upload(upload).await.map_err(status)?;
        Ok(Response::new(pb::documents::UploadResponse { sha256: sha256.to_vec(), size, newly_stored }))
    }

    type DownloadStream = tokio_stream::wrappers::ReceiverStream<Result<pb::documents::DownloadResponse, Status>>;

    async fn download(
        &self,
        request: Request<pb::documents::DownloadRequest>,
    ) -> Result<Response<Self::DownloadStream>, Status> {
        use pb::documents::download_response::Part;
        let slot = transfer_slot(&self.downloads, "downloads")?;
        let sha256 = sha256_field("sha256", &request.into_inner().sha256)?;
        let (document, committed) = self.application.download_document(sha256).await.map_err(status)?;
        let info = info_to_proto(&DocumentRecord { info: document.info, committed: Some(committed) });
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let _slot = slot; // held until the last chunk is handed over
            if sender.send(Ok(pb::documents::DownloadResponse { part: Some(Part::Info(info)) })).await.is_err() {
                return;
            }
            // The chunks are slices of one buffer: no copy.
            let bytes = tonic::codegen::Bytes::from(document.bytes);
            for start in (0..bytes.len()).step_by(CHUNK_BYTES_MAX) {
                let chunk = bytes.slice(start..(start + CHUNK_BYTES_MAX).min(bytes.len()));
                let message = pb::documents::DownloadResponse { part: Some(Part::Chunk(chunk)) };
                if sender.send(Ok(message)).await.is_err() {
                    return; // the client went away
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    async fn list_documents(
        &self,
        request: Request<pb::documents::ListDocumentsRequest>,
    ) -> Result<Response<pb::documents::ListDocumentsResponse>, Status> {
        let request = request.into_inner();
        if request.max_count == 0 || request.max_count > LIST_COUNT_MAX {
            return Err(invalid_field("max_count", format!("must be 1 to {LIST_COUNT_MAX}")));
        }
        let after = if request.after_sha256.is_empty() {
            None
        } else {
            Some(sha256_field("after_sha256", &request.after_sha256)?)
        };
        let records = self.application.committed_documents(after, request.max_count as usize).await.map_err(status)?;
        Ok(Response::new(pb::documents::ListDocumentsResponse {
            documents: records.iter().map(info_to_proto).collect(),
        }))
    }
}
