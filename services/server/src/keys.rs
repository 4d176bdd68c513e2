//! Key files (docs/FORMAT.md §10). A secret key file holds the 32-byte Ed25519 seed as 64 hex
//! digits; its public key is written beside it as `<file>.pub`, also in hex. A log key file
//! also holds the log's name, so the name that signs checkpoints and the name in the verifier
//! key printed for auditors come from one place:
//!
//! ```text
//! klero-log-key/v1
//! name <log name>
//! seed <64 hex digits>
//! ```

use anyhow::{bail, Context};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::cosignature::CosignerKey;
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

/// The first line of a log key file.
pub const LOG_KEY_FILE_HEADER: &str = "klero-log-key/v1";
/// The first line of a witness key file: the same layout, for a key that cosigns.
pub const WITNESS_KEY_FILE_HEADER: &str = "klero-witness-key/v1";

/// Writes a new key to `out` (mode 0600) and its public key to `out.pub`. With a log name,
/// `out` is a log key file holding the name, and the verifier key goes to `out.vkey` too.
pub fn keygen(out: &Path, log_name: Option<&str>, witness_name: Option<&str>) -> anyhow::Result<()> {
    let key = generate_key()?;
    if let Some(name) = witness_name {
        let witness = CosignerKey::new(name, key.clone()).context("--witness-name")?;
        let mut file = create_new(out, 0o600)?;
        write!(file, "{WITNESS_KEY_FILE_HEADER}\nname {name}\nseed {}\n", to_hex(&key.to_bytes()))?;
        file.sync_all()?;
        println!("witness key: {}", out.display());
        return write_vkey(out, "witness verifier key", &witness.verifier().to_vkey_string());
    }
    let log_key = log_name.map(|name| LogSigningKey::new(name, key.clone()).context("--log-name")).transpose()?;
    let mut file = create_new(out, 0o600)?;
    match log_name {
        Some(name) => write!(file, "{LOG_KEY_FILE_HEADER}\nname {name}\nseed {}\n", to_hex(&key.to_bytes()))?,
        None => writeln!(file, "{}", to_hex(&key.to_bytes()))?,
    }
    file.sync_all()?;
    let public = to_hex(&key.verifying_key().to_bytes());
    let public_path = beside(out, "pub");
    let mut public_file = create_new(&public_path, 0o644)?;
    writeln!(public_file, "{public}")?;
    public_file.sync_all()?;
    println!("secret key: {}", out.display());
    println!("public key: {public} (also in {})", public_path.display());
    match log_key {
        Some(log_key) => write_vkey(out, "verifier key", &log_key.verifier().to_vkey_string()),
        None => Ok(()),
    }
}

/// Writes `vkey` to `<out>.vkey` and says where.
fn write_vkey(out: &Path, what: &str, vkey: &str) -> anyhow::Result<()> {
    let vkey_path = beside(out, "vkey");
    let mut vkey_file = create_new(&vkey_path, 0o644)?;
    writeln!(vkey_file, "{vkey}")?;
    vkey_file.sync_all()?;
    println!("{what}: {vkey} (also in {})", vkey_path.display());
    Ok(())
}

/// `path` with `suffix` added to its extension: `log.key` → `log.key.pub`.
fn beside(path: &Path, suffix: &str) -> std::path::PathBuf {
    path.with_extension(path.extension().map_or(suffix.to_string(), |e| format!("{}.{suffix}", e.to_string_lossy())))
}

/// Reads a witness key file (`klero keygen --witness-name`).
pub fn read_witness_key(path: &Path) -> anyhow::Result<CosignerKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading witness key file {}", path.display()))?;
    let (name, seed) = named_seed(&text, WITNESS_KEY_FILE_HEADER).ok_or_else(|| {
        anyhow::anyhow!(
            "witness key file {} must be `{WITNESS_KEY_FILE_HEADER}`, `name <witness name>` and `seed <64 hex digits>`, one per line",
            path.display()
        )
    })?;
    CosignerKey::new(&name, SigningKey::from_bytes(&seed)).with_context(|| format!("the name in {}", path.display()))
}

/// The name and seed of a key file that starts with `header`.
fn named_seed(text: &str, header: &str) -> Option<(String, [u8; 32])> {
    let mut lines = text.strip_prefix(header)?.strip_prefix('\n')?.lines();
    let name = lines.next()?.strip_prefix("name ")?;
    let seed = lines.next()?.strip_prefix("seed ")?;
    if lines.next().is_some() {
        return None;
    }
    let seed = from_hex(seed).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())?;
    Some((name.to_string(), seed))
}

/// Reads the log's key for `klero serve`. A log key file names the log itself; `--log-name`,
/// if given too, must agree with it. A plain secret key file needs `--log-name`.
pub fn read_log_key(path: &Path, log_name: Option<&str>) -> anyhow::Result<LogSigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading log key file {}", path.display()))?;
    if !text.starts_with(LOG_KEY_FILE_HEADER) {
        let Some(name) = log_name else {
            bail!(
                "{} is a plain key file, which does not name the log: give --log-name, or create the key with \
                 `klero keygen --out FILE --log-name NAME`",
                path.display()
            )
        };
        return LogSigningKey::new(name, read_secret_key(path)?).context("--log-name");
    }
    let (name, seed) = named_seed(&text, LOG_KEY_FILE_HEADER).ok_or_else(|| {
        anyhow::anyhow!(
            "log key file {} must be `{LOG_KEY_FILE_HEADER}`, `name <log name>` and `seed <64 hex digits>`, one per line",
            path.display()
        )
    })?;
    if let Some(flag) = log_name {
        if flag != name {
            bail!("--log-name {flag} differs from the name {name} in the log key file {}", path.display());
        }
    }
    LogSigningKey::new(&name, SigningKey::from_bytes(&seed)).with_context(|| format!("the name in {}", path.display()))
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

/// `--tls-cert`, `--tls-key` and `--tls-client-ca` of `klero serve`, read as PEM.
pub fn read_server_tls(
    cert: Option<&Path>,
    key: Option<&Path>,
    client_ca: Option<&Path>,
) -> anyhow::Result<Option<klero_application::ServerTls>> {
    let (Some(cert), Some(key)) = (cert, key) else { return Ok(None) };
    let read =
        |path: &Path, what: &str| std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()));
    Ok(Some(klero_application::ServerTls {
        cert_pem: read(cert, "the TLS certificate")?,
        key_pem: read(key, "the TLS key")?,
        client_ca_pem: client_ca.map(|path| read(path, "the client CA")).transpose()?,
    }))
}
