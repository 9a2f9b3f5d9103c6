//! The RS256 signing key: loaded from a PKCS#8 PEM file, or generated into the data
//! folder on first start; its `kid` is the RFC 7638 SHA-256 thumbprint of its JWK.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};

use super::KeySet;
use crate::proto;

/// The file name of the generated key inside `TESSERA_DATA_DIR`.
pub const GENERATED_KEY_FILE: &str = "signing-key.pem";

/// Why the signing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an RSA private key in PKCS#8 PEM form")]
    NotRsaPkcs8 { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("RSA key generation failed")]
    Generate,
}

/// The private key tessera signs with, its `kid` and its public JWK.
/// `Debug` shows the `kid` only.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    n: String,
    e: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 PEM RSA private key.
    pub fn from_pem(pem: &[u8]) -> Option<Self> {
        let encoding = EncodingKey::from_rsa_pem(pem).ok()?;
        // Extracting the public components parses the key with aws-lc-rs, so this also
        // proves the key is usable before the server starts.
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).ok()?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).ok()?;
        let AlgorithmParameters::RSA(rsa) = &mut jwk.algorithm else {
            return None;
        };
        Some(Self {
            kid,
            encoding,
            n: std::mem::take(&mut rsa.n),
            e: std::mem::take(&mut rsa.e),
        })
    }

    /// Generates a fresh 2048-bit RSA key, returning it and its PKCS#8 PEM.
    pub fn generate() -> Result<(Self, String), KeyError> {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| KeyError::Generate)?;
        let der = pair.as_der().map_err(|_| KeyError::Generate)?;
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
        let key = Self::from_pem(pem.as_bytes()).ok_or(KeyError::Generate)?;
        Ok((key, pem))
    }

    /// Loads the key at `path`.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&pem).ok_or_else(|| KeyError::NotRsaPkcs8 {
            path: path.to_owned(),
        })
    }

    /// Loads `data_dir/signing-key.pem`, generating it (mode 0600) if it does not
    /// exist. `create_new` makes two processes racing on a fresh folder agree on one
    /// file instead of overwriting each other.
    pub fn load_or_generate(data_dir: &Path) -> Result<(Self, bool), KeyError> {
        let path = data_dir.join(GENERATED_KEY_FILE);
        if path.exists() {
            return Self::load(&path).map(|k| (k, false));
        }
        let (key, pem) = Self::generate()?;
        let write_err = |source| KeyError::Write {
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
                file.write_all(pem.as_bytes()).map_err(write_err)?;
                file.sync_all().map_err(write_err)?;
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(&path).map(|k| (k, false))
            }
            Err(e) => Err(write_err(e)),
        }
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public key as a JWK for GetJwks.
    pub fn jwk(&self) -> proto::Jwk {
        proto::Jwk {
            kty: "RSA".into(),
            kid: self.kid.clone(),
            r#use: "sig".into(),
            alg: "RS256".into(),
            n: self.n.clone(),
            e: self.e.clone(),
        }
    }

    /// A key set holding this key's public half.
    pub fn key_set(&self) -> Result<KeySet, super::VerifyError> {
        let mut set = KeySet::new();
        set.insert_rsa_components(self.kid.clone(), &self.n, &self.e)?;
        Ok(set)
    }
}
