//! Kleroterion's ledger core: the bytes of the record and the proofs over them.
//!
//! This crate does no I/O and starts no threads, so an auditor's tool (or a WebAssembly build)
//! can depend on it alone. Every byte format here is specified in `docs/FORMAT.md` and pinned by
//! the golden vectors in `tests/golden/`.
//!
//! - [`envelope`]: what authors sign, what the ledger adds, and the event hash over both.
//! - [`merkle`]: the RFC 6962 tree over event hashes, with inclusion and consistency proofs.
//! - [`checkpoint`]: C2SP tlog-checkpoints as Ed25519 signed notes.
//! - [`heads`]: the stream-heads commitment a checkpoint signs, and its range proofs.
//! - [`bundle`]: the offline proof bundle.
//! - [`chain`]: per-stream hash chain checks.
//! - [`signature`]: the rule for author signatures, and batch checks that agree with it.
//! - [`tiles`]: the log as C2SP tlog-tiles: tile paths, entry and envelope bundles.
//! - [`cosignature`]: witness cosignatures (C2SP tlog-cosignature) and witness policies.
//! - [`witness`]: the body of a C2SP tlog-witness `add-checkpoint` request.

pub mod bundle;
pub mod chain;
pub mod checkpoint;
pub mod cosignature;
pub mod envelope;
pub mod hash;
pub mod heads;
pub mod merkle;
pub mod parallel;
#[cfg(feature = "serde")]
pub mod records;
pub mod signature;
mod text;
pub mod tiles;
pub mod witness;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use hash::Hash256;
