//! Kleroterion in the transparency-log ecosystem (docs/FORMAT.md §12–13):
//!
//! - [`witness`]: `klero witness`, a C2SP tlog-witness server that cosigns a log's checkpoints
//!   only when they are consistent with the last it cosigned.
//! - [`cosigner`]: the log's side: it asks its witnesses to cosign each published checkpoint
//!   and keeps their cosignatures with it.
//! - [`monitor`]: `klero monitor`, which follows a log over its tiles and raises the alarm.
//! - [`http_client`]: the small HTTP/1.1 client the three share.
//!
//! The tiles themselves are served by the public pages' front end (`klero-web`).

pub mod cosigner;
pub mod http_client;
pub mod monitor;
pub mod witness;

pub use cosigner::{WitnessCosigner, WitnessEndpoint};
pub use monitor::{Monitor, MonitorConfig, MonitorError, RoundOutcome};
pub use witness::{Witness, WitnessError};

/// The witness policy a server states in its slices (docs/FORMAT.md §15) for visitors' browsers
/// to require: its witnesses' verifier keys and the quorum. `None` without witnesses.
pub fn witness_statement(witnesses: &[WitnessEndpoint], quorum: u64) -> Option<(Vec<String>, u64)> {
    (!witnesses.is_empty()).then(|| {
        let keys = witnesses.iter().map(|w| w.key.to_vkey_string()).collect::<Vec<_>>();
        let quorum = quorum.clamp(1, keys.len() as u64);
        (keys, quorum)
    })
}
