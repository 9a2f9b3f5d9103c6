//! An RS256 signing key: parsed from PKCS#8 PEM or generated; its `kid` is the
//! RFC 7638 SHA-256 thumbprint of its JWK. Keys live in the store, sealed
//! ([`super::seal`]); which one signs is the key ring's business ([`super::ring`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};

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
///
/// The private key is parsed once, here, into an aws-lc-rs key pair that signs
/// directly; the JWS header, the same for every token of this key, is encoded once
/// too.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pair: Arc<KeyPair>,
    /// `{"alg":"RS256","typ":"JWT","kid":…}`, base64url.
    header: Arc<str>,
    public: ParsedPublicKey,
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
        let block = pem::parse(pem).ok()?;
        if block.tag() != "PRIVATE KEY" {
            return None;
        }
        let pair = KeyPair::from_pkcs8(block.contents()).ok()?;
        // The JWK and its thumbprint come from jsonwebtoken, once.
        let encoding = EncodingKey::from_rsa_pem(pem).ok()?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).ok()?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).ok()?;
        let AlgorithmParameters::RSA(rsa) = &mut jwk.algorithm else {
            return None;
        };
        let public =
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref()).ok()?;
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        Some(Self {
            kid,
            pair: Arc::new(pair),
            header: header.into(),
            public,
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

    /// Signs `claims` (a JSON object) as a compact RS256 JWS under this key's header:
    /// `header.claims.signature`, each part base64url (RFC 7515 §7.1), the signature
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    pub(crate) fn sign_jws(&self, claims: &[u8]) -> Result<String, aws_lc_rs::error::Unspecified> {
        let sig_len = self.pair.public_modulus_len();
        let mut token = String::with_capacity(
            self.header.len() + 2 + (claims.len() * 4).div_ceil(3) + (sig_len * 4).div_ceil(3),
        );
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let mut signature = vec![0u8; sig_len];
        self.pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            token.as_bytes(),
            &mut signature,
        )?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
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
        set.insert_parsed(self.kid.clone(), self.public.clone());
    }
}
