//! Documents beside the log: the texts the record commits to by hash (docs/API.md, Documents).
//!
//! - An upload is kept only if its bytes hash to the SHA-256 it declares, within the size limit
//!   and the media-type allow-list. Anyone may upload, so documents no event commits to yet are
//!   bounded in count and bytes, and are garbage once their grace period has passed.
//! - Only documents an event commits to are served: the server is not a file host.
//! - A document a `PublicSubmissionReceived` commits to is personal data, whatever its upload
//!   said; erasure can remove such a document without touching the log, so every proof holds.

use crate::{read, Application, ApplicationError};
use klero_fold::CommittedDocument;
use klero_ledger::Hash256;
use klero_store::{Document, DocumentInfo, DocumentUpload, DOCUMENT_BYTES_MAX};
use std::time::Duration;

/// The media types the server keeps. Text is UTF-8.
pub const MEDIA_TYPES: &[&str] =
    &["text/plain; charset=utf-8", "text/markdown; charset=utf-8", "application/pdf", "image/png", "image/jpeg"];

/// Limits on documents, and when uncommitted ones are collected.
#[derive(Clone, Debug)]
pub struct DocumentPolicy {
    /// Largest document.
    pub bytes_max: usize,
    /// Documents no event commits to, at most.
    pub uncommitted_max: usize,
    /// Their bytes, at most.
    pub uncommitted_bytes_max: u64,
    /// How long an uncommitted document is kept before it is garbage: time for its event to
    /// be signed and appended.
    pub grace: Duration,
    /// How often garbage is collected.
    pub collect_every: Duration,
}

impl Default for DocumentPolicy {
    fn default() -> Self {
        DocumentPolicy {
            bytes_max: DOCUMENT_BYTES_MAX,
            uncommitted_max: 10_000,
            uncommitted_bytes_max: 1024 * 1024 * 1024,
            grace: Duration::from_secs(24 * 3600),
            collect_every: Duration::from_secs(600),
        }
    }
}

/// What an uploader declares before the bytes.
#[derive(Clone, Debug)]
pub struct UploadHeader {
    pub sha256: [u8; 32],
    pub media_type: String,
    pub size: u64,
    pub personal_data: bool,
}

/// A document's details, and what commits to it, if anything does.
#[derive(Clone, Debug)]
pub struct DocumentRecord {
    pub info: DocumentInfo,
    pub committed: Option<CommittedDocument>,
}

/// What a garbage collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub deleted: usize,
    /// Uncommitted documents still within their grace period.
    pub waiting: usize,
}

impl Application {
    /// Checks an upload's header before any byte is read, so a client learns at once.
    pub fn check_upload_header(&self, header: &UploadHeader) -> Result<(), ApplicationError> {
        let policy = &self.config.documents;
        if header.size > policy.bytes_max as u64 {
            return Err(ApplicationError::LimitExceeded {
                limit: "document bytes",
                actual: header.size,
                max: policy.bytes_max as u64,
            });
        }
        if !MEDIA_TYPES.contains(&header.media_type.as_str()) {
            return Err(ApplicationError::invalid_field(
                "header.media_type",
                format!(
                    "{:?} is not accepted; the accepted media types are {}",
                    header.media_type,
                    MEDIA_TYPES.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Keeps an uploaded document whose bytes are all at hand; false if it was kept already.
    pub async fn upload_document(&self, header: UploadHeader, bytes: Vec<u8>) -> Result<bool, ApplicationError> {
        let mut upload = self.begin_upload(header).await?;
        upload.write(&bytes).await?;
        self.finish_upload(upload).await
    }

    /// Begins an upload whose bytes arrive in parts ([`Upload::write`], then
    /// [`Application::finish_upload`]): the store may write each part as it comes, so its work
    /// overlaps the transfer. Dropped unfinished, it keeps nothing.
    pub async fn begin_upload(&self, header: UploadHeader) -> Result<Upload<'_>, ApplicationError> {
        self.check_upload_header(&header)?;
        // Every acknowledged event counts: one may have just committed to this document.
        self.sync_fold().await?;
        let committed = read(&self.fold).committed_document(&Hash256(header.sha256));
        let personal_data = header.personal_data || committed.is_some_and(|c| c.kind.may_hold_personal_data());
        let info = DocumentInfo {
            sha256: header.sha256,
            media_type: header.media_type.clone(),
            size: header.size,
            personal_data,
            stored_at_unix_ms: (self.config.clock)(),
        };
        let store = self.store.begin_document(info).await.inspect_err(|e| self.write_failure.record_store_error(e))?;
        let text = header.media_type.starts_with("text/").then(Utf8Parts::default);
        Ok(Upload { header, store, received: 0, text })
    }

    /// Keeps an upload once all its bytes came: their size, their UTF-8 if text, the room
    /// for uncommitted documents, and (in the store) their hash. False if it was kept already.
    pub async fn finish_upload(&self, upload: Upload<'_>) -> Result<bool, ApplicationError> {
        let Upload { header, store, received, text } = upload;
        if received != header.size {
            return Err(ApplicationError::invalid_field(
                "header.size",
                format!("declares {} bytes but {received} came", header.size),
            ));
        }
        if text.is_some_and(|text| !text.is_complete()) {
            return Err(ApplicationError::invalid_field("header.media_type", "the text is not UTF-8"));
        }
        self.sync_fold().await?;
        if read(&self.fold).committed_document(&Hash256(header.sha256)).is_none() {
            self.reserve_uncommitted_room(&header.sha256, header.size).await?;
        }
        let kept = store.finish().await.inspect_err(|e| self.write_failure.record_store_error(e));
        if kept.is_err() {
            self.forget_pending(&header.sha256).await;
        }
        kept.map_err(|error| match error {
            klero_store::StoreError::InvalidArgument { field: "sha256", .. } => ApplicationError::invalid_field(
                "header.sha256",
                "is not the SHA-256 of the bytes uploaded: nothing was kept",
            ),
            other => other.into(),
        })
    }

    /// Refuses an upload that would take uncommitted documents past their limits, else counts
    /// it among them. A document the store holds already takes no more room. The count is
    /// kept here, not listed from the store per upload: the store may hold millions of
    /// committed documents.
    async fn reserve_uncommitted_room(&self, sha256: &[u8; 32], size: u64) -> Result<(), ApplicationError> {
        let policy = &self.config.documents;
        let mut pending = self.pending_documents.lock().await;
        if pending.is_none() {
            let infos = self.store.document_infos().await?;
            let fold = read(&self.fold);
            *pending = Some(
                infos
                    .into_iter()
                    .filter(|info| fold.committed_document(&Hash256(info.sha256)).is_none())
                    .map(|info| (info.sha256, info.size))
                    .collect(),
            );
        }
        let pending = pending.as_mut().expect("just filled");
        if pending.contains_key(sha256) {
            return Ok(());
        }
        // Forget those an event has committed to since.
        {
            let fold = read(&self.fold);
            pending.retain(|hash, _| fold.committed_document(&Hash256(*hash)).is_none());
        }
        let (count, bytes) = (pending.len(), pending.values().sum::<u64>());
        if count + 1 > policy.uncommitted_max {
            return Err(ApplicationError::LimitExceeded {
                limit: "documents no event commits to",
                actual: count as u64 + 1,
                max: policy.uncommitted_max as u64,
            });
        }
        if bytes + size > policy.uncommitted_bytes_max {
            return Err(ApplicationError::LimitExceeded {
                limit: "bytes of documents no event commits to",
                actual: bytes + size,
                max: policy.uncommitted_bytes_max,
            });
        }
        pending.insert(*sha256, size);
        Ok(())
    }

    /// Stops counting a document among the uncommitted (it was deleted, or never kept).
    async fn forget_pending(&self, sha256: &[u8; 32]) {
        if let Some(pending) = self.pending_documents.lock().await.as_mut() {
            pending.remove(sha256);
        }
    }

    /// A document an event commits to, with its bytes.
    pub async fn download_document(&self, sha256: [u8; 32]) -> Result<(Document, CommittedDocument), ApplicationError> {
        self.sync_fold().await?;
        let hash = Hash256(sha256);
        let committed = read(&self.fold)
            .committed_document(&hash)
            .ok_or_else(|| ApplicationError::NotFound { what: format!("document {hash} committed to by any event") })?;
        let mut document = self.store.read_document(&sha256).await?.ok_or_else(|| ApplicationError::NotFound {
            what: format!("document {hash} (an event commits to it, but it was never uploaded, or was erased)"),
        })?;
        document.info.personal_data |= committed.kind.may_hold_personal_data();
        Ok((document, committed))
    }

    /// The documents an event commits to and the store holds, by hash, after `after`.
    pub async fn committed_documents(
        &self,
        after: Option<[u8; 32]>,
        max_count: usize,
    ) -> Result<Vec<DocumentRecord>, ApplicationError> {
        self.sync_fold().await?;
        let infos = self.store.document_infos().await?;
        let fold = read(&self.fold);
        Ok(infos
            .into_iter()
            .filter(|info| after.is_none_or(|after| info.sha256 > after))
            .filter_map(|mut info| {
                let committed = fold.committed_document(&Hash256(info.sha256))?;
                // Personal data if the upload said so, or if what commits to it may hold it.
                info.personal_data |= committed.kind.may_hold_personal_data();
                Some(DocumentRecord { info, committed: Some(committed) })
            })
            .take(max_count)
            .collect())
    }

    /// Deletes uploaded documents no event commits to whose grace period has passed.
    pub async fn collect_uncommitted_documents(&self) -> Result<Collected, ApplicationError> {
        self.sync_fold().await?;
        let now = (self.config.clock)();
        let grace = self.config.documents.grace.as_millis() as u64;
        let infos = self.store.document_infos().await?;
        let garbage: Vec<DocumentInfo> = {
            let fold = read(&self.fold);
            infos.into_iter().filter(|info| fold.committed_document(&Hash256(info.sha256)).is_none()).collect()
        };
        let mut collected = Collected::default();
        for info in garbage {
            if now.saturating_sub(info.stored_at_unix_ms) < grace {
                collected.waiting += 1;
                continue;
            }
            // An event may have committed to it since the list was taken: look again first.
            self.sync_fold().await?;
            if read(&self.fold).committed_document(&Hash256(info.sha256)).is_some() {
                continue;
            }
            self.forget_pending(&info.sha256).await;
            if self
                .store
                .delete_document(&info.sha256)
                .await
                .inspect_err(|e| self.write_failure.record_store_error(e))?
            {
                collected.deleted += 1;
                tracing::info!(sha256 = %Hash256(info.sha256), "deleted a document no event committed to within its grace period");
            }
        }
        Ok(collected)
    }
}

/// Collects uncommitted documents every `collect_every`, until stopped.
pub(crate) async fn collect_garbage(
    application: std::sync::Arc<Application>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = application.config.documents.collect_every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if let Err(error) = application.collect_uncommitted_documents().await {
            tracing::warn!(%error, "document garbage collection failed; it runs again later");
        }
    }
}

/// An upload in progress ([`Application::begin_upload`]).
pub struct Upload<'a> {
    header: UploadHeader,
    store: Box<dyn DocumentUpload + 'a>,
    received: u64,
    /// For text, the check that it is UTF-8 so far.
    text: Option<Utf8Parts>,
}

impl std::fmt::Debug for Upload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").field("header", &self.header).field("received", &self.received).finish_non_exhaustive()
    }
}

impl Upload<'_> {
    /// The next part of the bytes.
    pub async fn write(&mut self, part: &[u8]) -> Result<(), ApplicationError> {
        if self.received + part.len() as u64 > self.header.size {
            return Err(ApplicationError::invalid_field(
                "header.size",
                format!("declares {} bytes but more came", self.header.size),
            ));
        }
        if let Some(text) = &mut self.text {
            if !text.push(part) {
                return Err(ApplicationError::invalid_field("header.media_type", "the text is not UTF-8"));
            }
        }
        self.received += part.len() as u64;
        Ok(self.store.write(part).await?)
    }
}

/// Checks that text arriving in parts is UTF-8, where a part may end inside a character.
#[derive(Debug, Default)]
struct Utf8Parts {
    /// The first bytes of a character the last part cut (at most 3).
    pending: Vec<u8>,
}

impl Utf8Parts {
    /// False once the bytes so far cannot be UTF-8.
    fn push(&mut self, mut part: &[u8]) -> bool {
        while !self.pending.is_empty() {
            let Some((&byte, rest)) = part.split_first() else { return true };
            self.pending.push(byte);
            part = rest;
            match std::str::from_utf8(&self.pending) {
                Ok(_) => self.pending.clear(),
                Err(error) if error.error_len().is_some() => return false,
                Err(_) => {} // still incomplete
            }
        }
        match std::str::from_utf8(part) {
            Ok(_) => true,
            Err(error) if error.error_len().is_some() => false,
            Err(error) => {
                self.pending = part[error.valid_up_to()..].to_vec();
                true
            }
        }
    }

    /// Whether the text ended on a whole character.
    fn is_complete(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Parts;

    /// Split at every place, in two and in parts of one byte, the check agrees with checking
    /// the whole text at once, for text and for bytes that are not.
    #[test]
    fn utf8_in_parts_agrees_with_the_whole() {
        let cases: [&[u8]; 6] = [
            "plain ASCII".as_bytes(),
            "Grüße, naïve café — 東京 🗳️".as_bytes(),
            b"cut \xE2\x82",
            b"bad \xFF byte",
            b"overlong \xC0\xAF",
            b"\xF0\x9F\x97\xB3 then a lone \x80",
        ];
        for bytes in cases {
            let whole = std::str::from_utf8(bytes).is_ok();
            for cut in 0..=bytes.len() {
                let mut parts = Utf8Parts::default();
                let ok = parts.push(&bytes[..cut]) && parts.push(&bytes[cut..]) && parts.is_complete();
                assert_eq!(ok, whole, "{bytes:?} cut at {cut}");
            }
            let mut parts = Utf8Parts::default();
            let ok = bytes.chunks(1).all(|byte| parts.push(byte)) && parts.is_complete();
            assert_eq!(ok, whole, "{bytes:?} a byte at a time");
        }
    }
}
