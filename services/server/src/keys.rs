//! Key files: a 32-byte Ed25519 secret seed written as 64 hex digits and a newline.

use anyhow::{bail, Context};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::hash::{from_hex, to_hex};
use klero_ledger::SigningKey;
use std::io::Write;
use std::path::Path;

/// A new key from the operating system's random source.
pub fn generate_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("reading the operating system's random source")?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn keygen(out: &Path, log_name: Option<&str>) -> anyhow::Result<()> {
    let key = generate_key()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(out).with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    writeln!(file, "{}", to_hex(&key.to_bytes()))?;
    file.sync_all()?;
    println!("public key: {}", to_hex(&key.verifying_key().to_bytes()));
    if let Some(name) = log_name {
        let log_key = LogSigningKey::new(name, key).context("log name")?;
        println!("verifier key: {}", log_key.verifier().to_vkey_string());
    }
    Ok(())
}

/// Reads a key file written by `klero keygen`.
#[allow(dead_code)] // used by `klero serve` (issue 3)
pub fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
    let bytes =
        from_hex(text.trim()).with_context(|| format!("key file {} must hold 64 hex digits", path.display()))?;
    let Ok(seed) = <[u8; 32]>::try_from(bytes) else { bail!("key file {} must hold 32 bytes", path.display()) };
    Ok(SigningKey::from_bytes(&seed))
}
