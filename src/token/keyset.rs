//! [`KeySet`]: the public keys a verifier trusts, each parsed once when it is added.

use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::VerifyError;

/// The public keys that may have signed a live token, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    /// Each key parsed once, when it is added: a signature check does no parsing.
    keys: HashMap<String, ParsedPublicKey>,
}

impl KeySet {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an RSA public key from its base64url `n` and `e`, under `kid`. Keys
    /// under 2,048 bits are refused.
    pub fn insert_rsa_components(
        &mut self,
        kid: impl Into<String>,
        n: &str,
        e: &str,
    ) -> Result<(), VerifyError> {
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| VerifyError::Invalid)
        };
        let components = PublicKeyComponents {
            n: decode(n)?,
            e: decode(e)?,
        };
        let significant = components.n.iter().skip_while(|b| **b == 0).count();
        if significant < 256 {
            return Err(VerifyError::Invalid);
        }
        let der = components.as_der().map_err(|_| VerifyError::Invalid)?;
        let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_ref())
            .map_err(|_| VerifyError::Invalid)?;
        self.keys.insert(kid.into(), key);
        Ok(())
    }

    /// Adds `jwk` if it is an RS256 signing key whose components parse; returns
    /// whether it was added.
    pub fn insert_jwk(&mut self, jwk: &super::Jwk) -> bool {
        jwk.is_rs256_signing()
            && self
                .insert_rsa_components(jwk.kid.clone(), &jwk.n, &jwk.e)
                .is_ok()
    }

    /// Adds a parsed RS256 public key under `kid`.
    #[cfg(feature = "server")]
    pub(crate) fn insert_parsed(&mut self, kid: impl Into<String>, key: ParsedPublicKey) {
        self.keys.insert(kid.into(), key);
    }

    /// Whether both sets publish the same kids. tessera's kids are RFC 7638
    /// thumbprints of the public key, so the same kids mean the same keys.
    pub(super) fn same_kids(&self, other: &KeySet) -> bool {
        self.keys.len() == other.keys.len() && self.keys.keys().all(|k| other.keys.contains_key(k))
    }

    /// The key published under `kid`.
    pub(super) fn get(&self, kid: &str) -> Option<&ParsedPublicKey> {
        self.keys.get(kid)
    }
}
