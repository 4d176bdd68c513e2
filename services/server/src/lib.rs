//! The `klero` binary's library: wiring the store, log and services into a server, key files,
//! and the demonstration. `main.rs` only parses arguments and calls in here; black-box tests
//! start servers through [`wiring::start`] exactly as `klero serve` does.

pub mod audit;
pub mod demo;
pub mod keys;
pub mod privacy;
pub mod select;
pub mod transparency;
pub mod wiring;
