//! An RS256 signing key: parsed from PKCS#8 PEM or generated; its `kid` is the
//! RFC 7638 SHA-256 thumbprint of its JWK. Keys live in the store, sealed
//! ([`super::seal`]); which one signs is the key ring's business ([`super::ring`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use super::KeySet;

/// Where versions before keys moved into the store kept the generated key, inside
/// `TESSERA_DATA_DIR`: imported once if the store has no key.
pub const LEGACY_KEY_FILE: &str = "signing-key.pem";

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
    #[error("RSA key generation failed")]
    Generate,
}

/// A private key tessera signs with, its `kid` and its public JWK.
/// `Debug` shows the `kid` only.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    pem: Arc<[u8]>,
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
        let decoding = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).ok()?;
        Some(Self {
            kid,
            encoding,
            decoding,
            pem: Arc::from(pem),
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

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public key as a JWK, for the published key set.
    pub fn jwk(&self) -> super::Jwk {
        super::Jwk::rs256(&self.kid, &self.n, &self.e)
    }

    /// The private key in PKCS#8 PEM, for sealing into the store only.
    pub(crate) fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The public modulus and exponent, base64url.
    pub fn public_components(&self) -> (&str, &str) {
        (&self.n, &self.e)
    }

    /// Adds this key's public half to `set`.
    pub fn add_to(&self, set: &mut KeySet) {
        set.insert(self.kid.clone(), self.decoding.clone());
    }
}
