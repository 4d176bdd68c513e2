//! Kleroterion's gRPC front end: a mapping between protobuf and the application core
//! (`klero-application`), and nothing more.
//!
//! - [`service`]: the Ledger, Registry, Assemblies and Query services.
//! - [`selection`]: the Selection service (LEXIMIN lotteries, appending nothing).
//! - [`errors`]: the core's typed errors → gRPC status codes with rich error details.
//! - [`server`]: [`GrpcFrontEnd`], serving with health, reflection and limits.

pub mod connections;
pub mod documents;
pub mod errors;
pub mod selection;
pub mod server;
pub mod service;

pub use server::{serve, GrpcFrontEnd, ServerLimits};
pub use service::GrpcServices;
