//! Key files. A secret key file holds the 32-byte Ed25519 seed as 64 hex digits; its public
//! key is written beside it as `<file>.pub`, also in hex.

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

fn create_new(path: &Path, mode: u32) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    options.open(path).with_context(|| format!("creating {} (it must not exist yet)", path.display()))
}

/// Writes a new key to `out` (mode 0600) and its public key to `out.pub`.
pub fn keygen(out: &Path, log_name: Option<&str>) -> anyhow::Result<()> {
    let key = generate_key()?;
    let mut file = create_new(out, 0o600)?;
    writeln!(file, "{}", to_hex(&key.to_bytes()))?;
    file.sync_all()?;
    let public = to_hex(&key.verifying_key().to_bytes());
    let public_path =
        out.with_extension(out.extension().map_or("pub".to_string(), |e| format!("{}.pub", e.to_string_lossy())));
    let mut public_file = create_new(&public_path, 0o644)?;
    writeln!(public_file, "{public}")?;
    public_file.sync_all()?;
    println!("secret key: {}", out.display());
    println!("public key: {public} (also in {})", public_path.display());
    if let Some(name) = log_name {
        let log_key = LogSigningKey::new(name, key).context("log name")?;
        println!("verifier key: {}", log_key.verifier().to_vkey_string());
    }
    Ok(())
}

fn read_32_hex(path: &Path, what: &str) -> anyhow::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {what} file {}", path.display()))?;
    let bytes =
        from_hex(text.trim()).with_context(|| format!("{what} file {} must hold 64 hex digits", path.display()))?;
    let Ok(bytes) = <[u8; 32]>::try_from(bytes) else { bail!("{what} file {} must hold 32 bytes", path.display()) };
    Ok(bytes)
}

/// Reads a secret key file written by `klero keygen`.
pub fn read_secret_key(path: &Path) -> anyhow::Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_32_hex(path, "secret key")?))
}

/// Reads a public key file (`<key>.pub`), or derives the public key from a secret key file.
pub fn read_public_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    read_32_hex(path, "public key")
}
