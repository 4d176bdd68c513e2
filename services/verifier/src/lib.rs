//! The auditor's verifier. It depends on the ledger core, the domain rules, the catalogue codec
//! and the projections, and on nothing that does I/O or networking: give it an export's bytes
//! and it tells you whether everything holds, and if not, the first thing that fails and where.
//!
//! It checks every author signature (batched, on both cores), every stream chain, every event
//! against every signed checkpoint (and each checkpoint's consistency with the one before),
//! each author's role, scope and revocation state at that author's position, every domain
//! rule, and every published view digest, rebuilt from the log.

pub mod export;
pub mod verify;

pub use export::{Export, PublishedView};
pub use verify::{verify_export, Failure, FailureClass, Report};
