//! The master key, and sealing private keys with it for storage.
//!
//! A sealed key is `1 || nonce (12 bytes) || AES-256-GCM(private PEM) || tag`, with
//! the key's `kid` as associated data: a sealed key copied onto another row does not
//! open. The nonce is random; at a few keys per master key, collisions are out of
//! reach. A wrong master key fails to open every key, which start-up reports as a
//! misconfigured master key, never as a corrupt database.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;

/// The file name of the generated master key inside `TESSERA_DATA_DIR`.
pub const GENERATED_MASTER_KEY_FILE: &str = "master.key";

const VERSION: u8 = 1;

/// Why a master key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("expected 32 random bytes in base64 (e.g. from `openssl rand -base64 32`)")]
    Malformed,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A sealed key that does not open: a wrong master key, or a damaged row.
#[derive(Debug, thiserror::Error)]
#[error("the sealed key does not open with this master key")]
pub struct OpenError;

/// The AES-256-GCM key that seals private keys at rest. `Debug` prints nothing of it.
#[derive(Clone)]
pub struct MasterKey {
    key: Arc<LessSafeKey>,
    /// Keys refresh-token successors (see [`MasterKey::successor_key`]).
    successor: Arc<aws_lc_rs::hmac::Key>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != 32 {
            return Err(MasterKeyError::Malformed);
        }
        use aws_lc_rs::{hkdf, hmac};
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| MasterKeyError::Malformed)?;
        // A key of its own for each use: HKDF-SHA256 with a label.
        let successor: hmac::Key = hkdf::Salt::new(hkdf::HKDF_SHA256, &[])
            .extract(bytes)
            .expand(&[b"tessera refresh successor v1"], hmac::HMAC_SHA256)
            .map_err(|_| MasterKeyError::Malformed)?
            .into();
        Ok(Self {
            key: Arc::new(LessSafeKey::new(unbound)),
            successor: Arc::new(successor),
        })
    }

    /// Parses 32 bytes written in base64 (standard or URL-safe, padded or not).
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(MasterKeyError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    /// Reads a file holding the key in base64.
    pub fn load(path: &Path) -> Result<Self, MasterKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| MasterKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_base64(&text)
    }

    /// A fresh random key and its base64 form.
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        crate::crypto::random_bytes(&mut bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        // 32 bytes are always a valid AES-256 key.
        #[allow(clippy::expect_used)]
        let key = Self::from_bytes(&bytes).expect("32 bytes make an AES-256 key");
        (key, text)
    }

    /// Loads `data_dir/master.key`, generating it (mode 0600) if it does not exist.
    /// `create_new` makes two processes racing on a fresh folder agree on one file.
    pub fn load_or_generate(data_dir: &Path) -> Result<(Self, bool), MasterKeyError> {
        let path = data_dir.join(GENERATED_MASTER_KEY_FILE);
        if path.exists() {
            return Self::load(&path).map(|k| (k, false));
        }
        let (key, text) = Self::generate();
        let write_err = |source| MasterKeyError::Write {
            path: path.clone(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).map_err(write_err)?;
                file.sync_all().map_err(write_err)?;
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(&path).map(|k| (k, false))
            }
            Err(e) => Err(write_err(e)),
        }
    }

    /// Seals `plaintext` for the key `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::crypto::random_bytes(&mut nonce);
        let mut sealed = plaintext.to_vec();
        // Sealing fails only for inputs of gigabytes; a PEM is a few kilobytes.
        #[allow(clippy::expect_used)]
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals a key-sized input");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The HMAC key that derives a refresh token's successor from it, so that a
    /// client retrying a refresh within the reuse grace is handed the very same
    /// successor (see `auth/session.rs`). Derived from the master key, so every
    /// instance, and an instance after a restart, derives the same.
    pub fn successor_key(&self) -> &aws_lc_rs::hmac::Key {
        &self.successor
    }

    /// Opens what [`MasterKey::seal`] sealed for `kid`.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (&version, rest) = sealed.split_first().ok_or(OpenError)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| OpenError)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_master_key_and_kid_only() {
        let (master, _) = MasterKey::generate();
        let sealed = master.seal("kid-1", b"private");
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(master.open("kid-1", &sealed).unwrap(), b"private");
        assert!(master.open("kid-2", &sealed).is_err());
        let (other, _) = MasterKey::generate();
        assert!(other.open("kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(master.open("kid-1", &tampered).is_err());
    }

    #[test]
    fn a_master_key_is_32_bytes_of_base64() {
        let (_, text) = MasterKey::generate();
        assert!(MasterKey::from_base64(&format!(" {text}\n")).is_ok());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64 at all!").is_err());
    }

    #[test]
    fn a_generated_master_key_file_is_kept_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = MasterKey::load_or_generate(dir.path()).unwrap();
        assert!(created);
        let (again, created) = MasterKey::load_or_generate(dir.path()).unwrap();
        assert!(!created);
        let sealed = first.seal("k", b"x");
        assert_eq!(again.open("k", &sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(GENERATED_MASTER_KEY_FILE);
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
