//! Kleroterion's gRPC edge.
//!
//! - [`service`]: the Ledger, Registry and Assemblies services over a transparency log.
//! - [`signatures`]: signature checks for appends, batched across concurrent requests.
//! - [`errors`]: failures → gRPC status codes with rich error details.
//! - [`server`]: serving with health, reflection and limits; shutdown by a future.

pub mod errors;
pub mod selection;
pub mod server;
pub mod service;
pub mod signatures;

pub use server::{serve, ServerLimits};
pub use service::{system_clock, Clock, Kleroterion};
