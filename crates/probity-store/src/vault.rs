//! The identity vault at rest: every vault file is sealed with
//! XChaCha20-Poly1305 under the vault key, which is kept apart from the
//! pseudonymisation key.
//!
//! A sealed file is a small header, then the ciphertext of a whole Parquet
//! file (the vault rows of one table in one batch), then the 16-byte tag:
//!
//! ```text
//! offset  bytes  field
//!      0      8  magic  "PRBVAULT"
//!      8      1  format version (1)
//!      9      8  key id: the first 8 bytes of BLAKE3 derive_key(KEY_ID_CONTEXT, key)
//!     17     24  nonce (random, one per file)
//!     41      …  ciphertext of the Parquet file, then the Poly1305 tag (16)
//! ```
//!
//! The associated data is the header followed by the file's store-relative
//! path (`batches/<id>/vault/<table>.parquet.enc`), so a file moved to
//! another place in the store, or given another header, fails
//! authentication. The key id tells a wrong key ("does not match this
//! store's vault") from a damaged or moved file without trying to decrypt.
//!
//! The key file holds 64 hex digits (256 bits), mode 0600. It is at
//! `STORE/keys/vault.key` unless the environment variable
//! [`KEY_FILE_ENV`] (`PROBITY_VAULT_KEY_FILE`) names another file, so that a
//! force can keep it outside the store (another volume, a secrets mount).
//!
//! Sealing and opening happen in memory: a vault file's plaintext is never
//! written anywhere. Vault files from before encryption (plain Parquet,
//! recognised by the magic `PAR1`) are still read, with no key needed.

use std::fmt;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

use crate::{Error, Result, fsio};

/// The environment variable naming the vault key file, overriding
/// `STORE/keys/vault.key`.
pub const KEY_FILE_ENV: &str = "PROBITY_VAULT_KEY_FILE";
/// The vault key's default place, relative to the store root.
pub const DEFAULT_KEY_FILE: &str = "keys/vault.key";
/// First bytes of a sealed vault file.
pub const MAGIC: &[u8; 8] = b"PRBVAULT";
/// The sealed format this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// BLAKE3 key-derivation context of the key id in the header.
pub const KEY_ID_CONTEXT: &str = "probity 2026 identity vault key id";
/// File name ending of sealed vault files.
pub const SEALED_SUFFIX: &str = ".parquet.enc";

const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of the header (magic, version, key id, nonce).
pub const HEADER_LEN: usize = MAGIC.len() + 1 + KEY_ID_LEN + NONCE_LEN;
/// First bytes of a Parquet file: a vault file written before encryption.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// The vault key (256 bits). Its `Debug` shows only the key id.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultKey([u8; 32]);

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultKey(id {})", self.id_hex())
    }
}

impl VaultKey {
    /// A new random key from the operating system's random source.
    pub fn generate() -> std::io::Result<VaultKey> {
        let mut k = [0u8; 32];
        crate::getrandom(&mut k)?;
        Ok(VaultKey(k))
    }

    /// The key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> VaultKey {
        VaultKey(bytes)
    }

    /// The key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<VaultKey> {
        let t = text.trim().as_bytes();
        if t.len() != 64 {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, pair) in t.chunks(2).enumerate() {
            let hex = |c: u8| (c as char).to_digit(16);
            k[i] = u8::try_from(hex(pair[0])? * 16 + hex(pair[1])?).ok()?;
        }
        Some(VaultKey(k))
    }

    /// The key as 64 lower-case hex digits (the key file's contents).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key id written in every file it seals: a one-way derivation, so
    /// that a wrong key is named as such.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        let d = blake3::derive_key(KEY_ID_CONTEXT, &self.0);
        d[..KEY_ID_LEN].try_into().expect("8 bytes")
    }

    /// The key id in hex.
    pub fn id_hex(&self) -> String {
        self.id().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

/// Where the vault key of the store at `root` is: the file named by
/// `PROBITY_VAULT_KEY_FILE` when it is set and not empty, otherwise
/// `root/keys/vault.key`.
pub fn key_file(root: &Path) -> PathBuf {
    match std::env::var_os(KEY_FILE_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => root.join(DEFAULT_KEY_FILE),
    }
}

/// Reads the vault key at `path`: [`Error::VaultKeyMissing`] if there is no
/// such file.
pub fn load_key(path: &Path) -> Result<VaultKey> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::VaultKeyMissing {
                key: path.to_path_buf(),
            });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    VaultKey::from_hex(&text).ok_or_else(|| Error::Corrupt {
        path: path.to_path_buf(),
        reason: "the identity vault's key is not 64 hex digits; restore the key file from backup"
            .into(),
    })
}

/// Creates a new random vault key at `path` (mode 0600; fails if the file
/// exists).
pub fn create_key(path: &Path) -> Result<VaultKey> {
    let key = VaultKey::generate().map_err(|e| Error::io(path, e))?;
    fsio::create_private(path, key.to_hex().as_bytes())?;
    Ok(key)
}

/// The key for a new store: a new one at `path`, or the one already there
/// (a force that provisions its key file outside the store before `init`).
pub fn init_key(path: &Path) -> Result<VaultKey> {
    match load_key(path) {
        Ok(k) => Ok(k),
        Err(Error::VaultKeyMissing { .. }) => create_key(path),
        Err(e) => Err(e),
    }
}

/// What the first bytes of a vault file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sealed with the key of this id.
    Sealed([u8; KEY_ID_LEN]),
    /// Plain Parquet, written before the vault was encrypted.
    Plain,
}

/// Reads what a vault file is from its header.
pub fn kind(path: &Path, head: &[u8]) -> Result<Kind> {
    if head.starts_with(PARQUET_MAGIC) {
        return Ok(Kind::Plain);
    }
    if !head.starts_with(MAGIC) || head.len() < HEADER_LEN + TAG_LEN {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason:
                "not an identity-vault file (neither sealed nor Parquet); restore it from backup"
                    .into(),
        });
    }
    let version = head[MAGIC.len()];
    if version != FORMAT_VERSION {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "identity-vault file format {version} is not supported by this probity (reads {FORMAT_VERSION})"
            ),
        });
    }
    let id = &head[MAGIC.len() + 1..MAGIC.len() + 1 + KEY_ID_LEN];
    Ok(Kind::Sealed(id.try_into().expect("8 bytes")))
}

/// Reads only the header of the vault file at `path`.
pub fn kind_of_file(path: &Path) -> Result<Kind> {
    use std::io::Read;
    let mut head = Vec::with_capacity(HEADER_LEN + TAG_LEN);
    std::fs::File::open(path)
        .and_then(|f| f.take((HEADER_LEN + TAG_LEN) as u64).read_to_end(&mut head))
        .map_err(|e| Error::io(path, e))?;
    kind(path, &head)
}

fn associated_data(header: &[u8], rel: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(header.len() + rel.len());
    ad.extend_from_slice(header);
    ad.extend_from_slice(rel.as_bytes());
    ad
}

/// Seals a whole Parquet file for the store-relative path `rel`. The
/// plaintext buffer is encrypted in place (it holds ciphertext afterwards).
pub fn seal(key: &VaultKey, rel: &str, mut plain: Vec<u8>) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::getrandom(&mut nonce).map_err(|e| Error::io(Path::new(rel), e))?;
    let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&key.id());
    out.extend_from_slice(&nonce);
    let ad = associated_data(&out, rel);
    key.cipher()
        .encrypt_in_place(&XNonce::from(nonce), &ad, &mut plain)
        .map_err(|_| Error::Corrupt {
            path: PathBuf::from(rel),
            reason: "the identity-vault file is too large to seal (this is a bug)".into(),
        })?;
    out.extend_from_slice(&plain);
    Ok(out)
}

/// Opens a sealed vault file's bytes (read from `path`, store-relative
/// `rel`) with `key`, read from `key_path`; returns the Parquet bytes.
pub fn open(
    key: &VaultKey,
    key_path: &Path,
    path: &Path,
    rel: &str,
    mut bytes: Vec<u8>,
) -> Result<Vec<u8>> {
    match kind(path, &bytes)? {
        Kind::Plain => return Ok(bytes),
        Kind::Sealed(id) if id != key.id() => {
            return Err(Error::VaultKeyMismatch {
                key: key_path.to_path_buf(),
                file: path.to_path_buf(),
            });
        }
        Kind::Sealed(_) => {}
    }
    let ad = associated_data(&bytes[..HEADER_LEN], rel);
    let nonce: [u8; NONCE_LEN] = bytes[HEADER_LEN - NONCE_LEN..HEADER_LEN]
        .try_into()
        .expect("24 bytes");
    bytes.drain(..HEADER_LEN);
    key.cipher()
        .decrypt_in_place(&XNonce::from(nonce), &ad, &mut bytes)
        .map_err(|_| Error::Corrupt {
            path: path.to_path_buf(),
            reason: "the identity-vault file fails authentication although it was sealed with this key: it was altered or damaged, or moved here from another place (each vault file is bound to its path in the store); restore it from backup".into(),
        })?;
    Ok(bytes)
}

/// The vault key, read from its file the first time a sealed file needs it
/// (a store whose vault files are all plain Parquet needs no key).
#[derive(Debug)]
pub struct KeySlot {
    path: PathBuf,
    key: Option<VaultKey>,
}

impl KeySlot {
    /// A slot for the key at `path`, not read yet.
    pub fn new(path: PathBuf) -> KeySlot {
        KeySlot { path, key: None }
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key, read now if not yet.
    pub fn get(&mut self) -> Result<&VaultKey> {
        if self.key.is_none() {
            self.key = Some(load_key(&self.path)?);
        }
        Ok(self.key.as_ref().expect("just loaded"))
    }
}

/// Reads the vault file at `path` (store-relative `rel`) into record
/// batches of `schema`, decrypting in memory.
pub fn read_batches(
    keys: &mut KeySlot,
    path: &Path,
    rel: &str,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let plain = match kind(path, &bytes)? {
        // Only files written before vault encryption (named `….parquet`)
        // may be plain: a sealed file replaced by plain Parquet is refused.
        Kind::Plain if rel.ends_with(SEALED_SUFFIX) => {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: "this identity-vault file was sealed when written but is now plain Parquet: it was replaced outside probity; restore it from backup".into(),
            });
        }
        Kind::Plain => bytes,
        Kind::Sealed(_) => {
            let key_path = keys.path().to_path_buf();
            open(keys.get()?, &key_path, path, rel, bytes)?
        }
    };
    let corrupt = |e: &dyn fmt::Display| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("identity-vault Parquet: {e}"),
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(plain),
    )
    .and_then(|b| b.build())
    .map_err(|e| corrupt(&e))?;
    let mut out = vec![];
    for b in reader {
        let b = b.map_err(|e| corrupt(&e))?;
        // The contract's vault schema, whatever metadata the file carries.
        out.push(
            RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| corrupt(&e))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_path_and_key() {
        let key = VaultKey::from_bytes([7; 32]);
        let rel = "batches/b000001/vault/people.parquet.enc";
        let plain = b"PAR1 Ada Okafor 1990-02-03 PAR1".to_vec();
        let sealed = seal(&key, rel, plain.clone()).unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert_eq!(sealed.len(), HEADER_LEN + plain.len() + TAG_LEN);
        assert!(!sealed.windows(6).any(|w| w == b"Okafor"));
        let p = Path::new("x");
        let k = Path::new("k");
        assert_eq!(open(&key, k, p, rel, sealed.clone()).unwrap(), plain);
        // Another path: authentication fails (files cannot be swapped).
        let moved = open(
            &key,
            k,
            p,
            "batches/b000002/vault/people.parquet.enc",
            sealed.clone(),
        );
        assert!(matches!(moved, Err(Error::Corrupt { .. })), "{moved:?}");
        // One flipped bit of ciphertext or header.
        for at in [HEADER_LEN + 3, HEADER_LEN - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(matches!(
                open(&key, k, p, rel, bad),
                Err(Error::Corrupt { .. })
            ));
        }
        // Another key: named as a mismatch.
        let other = VaultKey::from_bytes([8; 32]);
        assert!(matches!(
            open(&other, k, p, rel, sealed.clone()),
            Err(Error::VaultKeyMismatch { .. })
        ));
        // Two seals of the same bytes differ (a fresh nonce per file).
        assert_ne!(seal(&key, rel, plain.clone()).unwrap(), sealed);
    }

    #[test]
    fn keys_read_back_from_hex_and_debug_hides_them() {
        let key = VaultKey::generate().unwrap();
        assert_eq!(
            VaultKey::from_hex(&format!("{}\n", key.to_hex())),
            Some(key.clone())
        );
        assert_eq!(VaultKey::from_hex("abc"), None);
        assert_eq!(VaultKey::from_hex(&"zz".repeat(32)), None);
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }
}
