//! Erasure by design on PostgreSQL (docs/FORMAT.md §14.3): what an erasure must make unreadable
//! (data keys, and documents marked personal data) is kept in the database only encrypted under
//! a *key-encryption key* that the klero servers hold outside it, in files. Erasing a row does
//! not erase its old versions (dead rows until a `VACUUM FULL`, the WAL, every replica, every
//! base backup), so instead the key-encryption key is rotated: every live row is encrypted
//! again under a new one, then the old one is destroyed. From then on every old copy, wherever
//! it is, is ciphertext under a key that no longer exists.
//!
//! A wrapped value is `0x01 | u64 generation | 24-byte nonce | XChaCha20-Poly1305 ciphertext`,
//! with associated data `"klero/key-encryption/v1" 0x00 | purpose | 0x00 | id`: a data key (its
//! event id) or a document (its SHA-256). The key of generation `g` is the 32 bytes of the file
//! `kek-<g, 20 digits>` in the keys directory. Every server of one database must see the same
//! directory (a mounted secret, say).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use klero_store::StoreError;
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT_VERSION: u8 = 1;
const DOMAIN: &[u8] = b"klero/key-encryption/v1";
const NONCE_BYTES: usize = 24;
const HEADER_BYTES: usize = 1 + 8 + NONCE_BYTES;

/// What a wrapped value is, bound into its associated data so that one cannot stand for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    DataKey,
    Document,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::DataKey => b"data-key",
            Purpose::Document => b"document",
        }
    }
}

fn failed(reason: impl Into<String>) -> StoreError {
    StoreError::Unavailable { reason: format!("key-encryption keys: {}", reason.into()) }
}

/// The directory of key-encryption keys, one file per generation.
#[derive(Clone, Debug)]
pub struct KeyEncryptionKeys {
    directory: PathBuf,
}

impl KeyEncryptionKeys {
    /// The keys in `directory`, which is made (readable by this user alone) if missing.
    pub fn open(directory: &Path) -> Result<KeyEncryptionKeys, StoreError> {
        std::fs::create_dir_all(directory).map_err(|e| failed(format!("cannot make {}: {e}", directory.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o700));
        }
        Ok(KeyEncryptionKeys { directory: directory.to_path_buf() })
    }

    fn path(&self, generation: u64) -> PathBuf {
        self.directory.join(format!("kek-{generation:020}"))
    }

    /// The key of `generation`, or an error naming it when it is not (or no longer) here.
    pub fn key(&self, generation: u64) -> Result<[u8; 32], StoreError> {
        let path = self.path(generation);
        let bytes = std::fs::read(&path).map_err(|e| {
            failed(format!(
                "generation {generation} is not in {} ({e}): every server of a database needs the same directory",
                self.directory.display()
            ))
        })?;
        bytes.try_into().map_err(|_| failed(format!("{} does not hold 32 bytes", path.display())))
    }

    /// Makes the key of `generation` from the operating system's random source, durably,
    /// unless it is there already; returns it.
    pub fn create(&self, generation: u64) -> Result<[u8; 32], StoreError> {
        if let Ok(key) = self.key(generation) {
            return Ok(key);
        }
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| failed(format!("no random source: {e}")))?;
        let path = self.path(generation);
        let temporary = self.directory.join(format!(".kek-{generation:020}.{}.new", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(&key)?;
            file.sync_all()?;
            // A link fails if the name exists: two servers making one generation at once end
            // with one key, the first's, which both then read.
            let linked = std::fs::hard_link(&temporary, &path);
            std::fs::remove_file(&temporary)?;
            match linked {
                Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => return Err(error),
                _ => {}
            }
            std::fs::File::open(&self.directory)?.sync_all()
        };
        write().map_err(|e| failed(format!("cannot keep {}: {e}", path.display())))?;
        self.key(generation)
    }

    /// Destroys every key older than `generation`: each file overwritten with zeros and synced,
    /// then removed, and the directory synced.
    pub fn destroy_before(&self, generation: u64) -> Result<(), StoreError> {
        let entries = std::fs::read_dir(&self.directory)
            .map_err(|e| failed(format!("cannot read {}: {e}", self.directory.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(older) = name.strip_prefix("kek-").and_then(|g| g.parse::<u64>().ok()) else { continue };
            if older >= generation {
                continue;
            }
            let path = entry.path();
            let destroy = || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
                file.write_all(&[0u8; 32])?;
                file.sync_all()?;
                std::fs::remove_file(&path)
            };
            destroy().map_err(|e| failed(format!("cannot destroy {}: {e}", path.display())))?;
        }
        std::fs::File::open(&self.directory)
            .and_then(|directory| directory.sync_all())
            .map_err(|e| failed(format!("cannot sync {}: {e}", self.directory.display())))
    }
}

fn associated_data(purpose: Purpose, id: &[u8]) -> Vec<u8> {
    [DOMAIN, &[0], purpose.label(), &[0], id].concat()
}

/// `plaintext` encrypted under `key` of `generation`, for `purpose` and `id`.
pub fn wrap(
    key: &[u8; 32],
    generation: u64,
    purpose: Purpose,
    id: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::getrandom(&mut nonce).map_err(|e| failed(format!("no random source: {e}")))?;
    let aad = associated_data(purpose, id);
    let ciphertext = XChaCha20Poly1305::new(key.into())
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| failed("a value could not be encrypted"))?;
    let mut out = Vec::with_capacity(HEADER_BYTES + ciphertext.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// The generation a wrapped value names, if it is one.
pub fn generation_of(wrapped: &[u8]) -> Option<u64> {
    (wrapped.len() > HEADER_BYTES && wrapped[0] == FORMAT_VERSION)
        .then(|| u64::from_be_bytes(wrapped[1..9].try_into().unwrap_or_default()))
}

/// The plaintext of `wrapped`, with the key of the generation it names from `keys`.
pub fn unwrap(keys: &KeyEncryptionKeys, purpose: Purpose, id: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, String> {
    let generation = generation_of(wrapped).ok_or("not a wrapped value")?;
    let key = keys.key(generation).map_err(|e| e.to_string())?;
    let aad = associated_data(purpose, id);
    XChaCha20Poly1305::new((&key).into())
        .decrypt(XNonce::from_slice(&wrapped[9..HEADER_BYTES]), Payload { msg: &wrapped[HEADER_BYTES..], aad: &aad })
        .map_err(|_| format!("it does not open under key-encryption key generation {generation}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_value_opens_under_its_generation_purpose_and_id_only() {
        let directory = tempfile::tempdir().expect("temp dir");
        let keys = KeyEncryptionKeys::open(directory.path()).expect("keys");
        let key = keys.create(1).expect("create");
        assert_eq!(keys.create(1).expect("again"), key, "creating an existing generation keeps it");
        let wrapped = wrap(&key, 1, Purpose::DataKey, b"event id", b"a data key").expect("wrap");
        assert_eq!(generation_of(&wrapped), Some(1));
        assert_eq!(unwrap(&keys, Purpose::DataKey, b"event id", &wrapped).as_deref(), Ok(&b"a data key"[..]));
        assert!(unwrap(&keys, Purpose::Document, b"event id", &wrapped).is_err(), "another purpose");
        assert!(unwrap(&keys, Purpose::DataKey, b"other id", &wrapped).is_err(), "another id");
        keys.create(2).expect("create");
        keys.destroy_before(2).expect("destroy");
        assert!(unwrap(&keys, Purpose::DataKey, b"event id", &wrapped).is_err(), "its key is destroyed");
        assert!(keys.key(2).is_ok(), "the newer generation stays");
    }
}
