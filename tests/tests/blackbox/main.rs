//! Black-box tests over real gRPC. One binary, one module per concern:
//!
//! - `audit`: served views equal rebuilds; the verifier passes honest exports and names every tampering.
//! - `connections`: idle sockets are shed or timed out; busy ones never are.
//! - `contract`: what API.md promises, tried with raw bytes: statuses, limits, the stream head,
//!   the batch replay rule, plausible signing times.
//! - `documents`: documents by hash, citations, the trace views, receipts, export and verify.
//! - `checkpoints`: one publisher; readers among writers never fail and never see the tree shrink.
//! - `lifecycle`: a whole assembly, from grants to implementation, then its proofs.
//! - `errors`: every error class has the right status, names its field or rule, appends nothing.
//! - `idempotency`: retries of single and batch appends return the original results.
//! - `concurrency`: many clients at once; streams never fork.
//! - `restart`: a graceful restart keeps everything, and history stays consistent.
//! - `operations`: health and reflection answer.
//! - `selection`: a LEXIMIN panel is accepted only as the draw from the published lottery.
//! - `reads`: paged log reads and a subscription that goes from catch-up to live.
//! - `snapshots`: restarts take up a valid snapshot and refuse any other, with the same answers.
//! - `tls`: gRPC and the pages over TLS, with and without client certificates.
//! - `privacy`: personal text sealed, opened, erased; proofs hold and no file gives it back.
//! - `participation`: open calls, residents' own submissions, open moderation, every rule named.
//! - `notifications`: residents told by email through a real SMTP server, across kills.
//! - `storage`: a real full disk (a small tmpfs): fail-stop appends, reads go on, nothing lost.
//! - `tenancy`: councils as tenants: no council reaches into another; one council's slice alone.

mod audit;
mod checkpoints;
mod concurrency;
mod connections;
mod contract;
mod documents;
mod errors;
mod idempotency;
mod lifecycle;
mod notifications;
mod operations;
mod participation;
mod privacy;
mod reads;
mod restart;
mod selection;
mod snapshots;
mod storage;
mod tenancy;
mod tls;
