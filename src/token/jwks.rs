//! Public keys as JSON Web Keys (RFC 7517): what GetJwks returns, and what an HTTP
//! JWKS document would serve. A domain type: the gRPC message is built from it at
//! the transport edge.

use serde::{Deserialize, Serialize};

/// One public key. tessera publishes RSA keys for RS256 signatures only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`.
    pub kty: String,
    /// Key id: the RFC 7638 SHA-256 thumbprint of the public key.
    pub kid: String,
    /// Public key use: `sig`.
    #[serde(rename = "use", default)]
    pub use_: String,
    /// Algorithm: `RS256`.
    pub alg: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

impl Jwk {
    /// An RS256 signing key's public half.
    pub fn rs256(kid: &str, n: &str, e: &str) -> Self {
        Self {
            kty: "RSA".into(),
            kid: kid.into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            n: n.into(),
            e: e.into(),
        }
    }

    /// Whether this key is for RS256 signatures (an absent `use` counts as `sig`):
    /// anything else in a key set is not for tessera's tokens.
    pub fn is_rs256_signing(&self) -> bool {
        self.kty == "RSA" && self.alg == "RS256" && (self.use_ == "sig" || self.use_.is_empty())
    }
}

/// A JWK Set document: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwk_serializes_with_the_rfc_7517_member_names() {
        let json = serde_json::to_value(Jwk::rs256("k1", "AQAB-n", "AQAB")).unwrap();
        assert_eq!(json["use"], "sig");
        assert_eq!(json["kty"], "RSA");
        assert_eq!(json["alg"], "RS256");
        assert!(json.get("use_").is_none());
    }

    #[test]
    fn only_rs256_signing_keys_are_for_tessera_tokens() {
        let mut key = Jwk::rs256("k1", "n", "e");
        assert!(key.is_rs256_signing());
        key.use_.clear();
        assert!(key.is_rs256_signing());
        key.use_ = "enc".into();
        assert!(!key.is_rs256_signing());
        let mut es = Jwk::rs256("k2", "n", "e");
        es.alg = "ES256".into();
        assert!(!es.is_rs256_signing());
    }
}
