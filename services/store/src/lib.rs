//! Kleroterion's event store: the port, the embedded implementation, and the conformance suite.
//!
//! - [`port`]: the [`EventStore`] trait with KurrentDB's semantics (expected revision, global
//!   position, catch-up subscriptions) and the classified [`StoreError`].
//! - [`embedded`]: the default store, durable segment files in one data directory.
//! - [`conformance`]: the behaviour every store must show; each implementation runs it.
//! - [`segment`]: the embedded store's record format.

pub mod conformance;
pub mod embedded;
pub mod port;
pub mod segment;

pub use embedded::{EmbeddedStore, EmbeddedStoreOptions, RecoveryReport, TruncatedTail};
pub use port::*;
