//! The `klero` binary's library: the commands' work (key files, the demonstration, audits,
//! selection, the transparency tools). `main.rs` only parses arguments and calls in here; the
//! servers themselves are wired by `klero-wiring`, as the tests and benchmarks wire theirs.

pub mod audit;
pub mod demo;
pub mod keys;
pub mod privacy;
pub mod residents;
pub mod select;
pub mod transparency;
