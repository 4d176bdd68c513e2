//! What the tests that run `klero serve` as a process share: fixed keys and the files that name
//! them, free ports, starting a server and waiting until it answers.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use klero_client::KleroClient;
use klero_ledger::checkpoint::{LogSigningKey, LogVerifierKey};
use klero_ledger::{Hash256, SigningKey};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An acknowledged append: its log index and event hash.
pub type Acknowledged = (u64, Vec<u8>);

pub fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

pub fn hex(bytes: &[u8]) -> String {
    klero_ledger::hash::to_hex(bytes)
}

/// Writes `council.key.pub` (the trust root, `key("council")`) and `log.key`, a log key file as
/// docs/FORMAT.md §10 describes it, naming the log `log_name` (`key("log")`).
pub fn write_key_files(directory: &Path, log_name: &str) {
    std::fs::write(directory.join("council.key.pub"), hex(&key("council").verifying_key().to_bytes())).expect("write");
    let log_key = format!("klero-log-key/v1\nname {log_name}\nseed {}\n", hex(&key("log").to_bytes()));
    std::fs::write(directory.join("log.key"), log_key).expect("write");
}

/// The verifier key of the log [`write_key_files`] names.
pub fn log_verifier(log_name: &str) -> LogVerifierKey {
    LogVerifierKey::parse_vkey(&LogSigningKey::new(log_name, key("log")).expect("key").verifier().to_vkey_string())
        .expect("vkey")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// `klero serve <args> --trust-root council.key.pub --log-key log.key` in `directory`.
pub fn serve(directory: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_klero"))
        .arg("serve")
        .args(args)
        .args(["--trust-root", "council.key.pub", "--log-key", "log.key"])
        .current_dir(directory)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("klero serve starts")
}

/// Connects once the server answers, or fails after 60 s.
pub async fn connect(url: &str, child: &mut Child) -> KleroClient {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("klero serve exited with {status} instead of starting");
        }
        if let Ok(mut client) = KleroClient::connect(url).await {
            if client.checkpoint().await.is_ok() {
                return client;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "klero serve did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The event hash the server gives for the event at `log_index`, read back from its log.
pub async fn event_hash_at(client: &mut KleroClient, log_index: u64) -> Vec<u8> {
    client
        .ledger()
        .read_log(klero_proto::ledger::ReadLogRequest { from_log_index: log_index, max_count: 1 })
        .await
        .expect("read")
        .into_inner()
        .events
        .remove(0)
        .event_hash
}
