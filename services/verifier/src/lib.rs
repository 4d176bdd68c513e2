//! The auditor's verifier. It depends on the ledger core, the domain rules, the catalogue codec
//! and the projections, and on nothing that does I/O or networking: give it an export's bytes
//! and it tells you whether everything holds, and if not, the first thing that fails and where.
//!
//! It reads an export as a stream, in bounded memory, and checks every author signature
//! (batched, on worker threads), every stream chain, every signed checkpoint against the events
//! it covers, that a checkpoint covers every event, each author's role, scope and revocation
//! state at that author's position, every domain rule, and every published view digest,
//! rebuilt from the log; with an auditor's openings, every opened sealed field against its
//! commitment.

pub mod export;
pub mod letters;
pub mod openings;
pub mod slice;
pub mod verify;

pub use export::{Export, ExportFormatError, ExportHeader, ExportReader, ExportWriter, PublishedView};
pub use verify::{
    check_documents, check_openings, verify_envelopes, verify_export, verify_export_with, verify_stream, AnswerTime,
    ContinuedVerification, Failure, FailureClass, Opening, Report, VerifyOptions, TIME_TOLERANCE_MS,
};
