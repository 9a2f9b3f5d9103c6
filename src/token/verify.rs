//! The one access-token verification path.
//!
//! The rules, in order: the header must name `alg: RS256` (pinned: `none`, HS256 and
//! every other algorithm are refused, which closes the key-confusion attack where an
//! HS256 token is "signed" with the public key) and a `kid` we publish; the signature
//! must verify under that key; `iss` and `aud` must match the configuration; `exp`
//! must not have passed, `nbf` (if present) must have, both with a leeway for clock
//! skew. Time is an argument, so tests step the clock instead of sleeping.
//!
//! Whether the token's session was revoked is not a property of the token; the caller
//! checks it against its own revocation set and answers [`VerifyError::Revoked`].

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};

use super::AccessClaims;
use super::revoked::RevokedSessions;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token's `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// Malformed, wrong algorithm, bad signature, wrong issuer or audience, not yet valid.
    #[error("token invalid")]
    Invalid,
    /// The `kid` names no key in the key set.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// The token's session was logged out or revoked.
    #[error("token revoked")]
    Revoked,
    /// The verifier cannot vouch for the token right now: it has no keys yet, or (in
    /// fail-closed live mode) it lost the revocation stream for too long, or (remote
    /// mode) tessera could not be asked.
    #[error("verification unavailable")]
    Unavailable,
}

/// The public keys that may have signed a live token, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl KeySet {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an RSA public key from its base64url `n` and `e`, under `kid`.
    pub fn insert_rsa_components(
        &mut self,
        kid: impl Into<String>,
        n: &str,
        e: &str,
    ) -> Result<(), VerifyError> {
        let key = DecodingKey::from_rsa_components(n, e).map_err(|_| VerifyError::Invalid)?;
        self.keys.insert(kid.into(), key);
        Ok(())
    }

    /// Adds a public key under `kid`.
    pub fn insert(&mut self, kid: impl Into<String>, key: DecodingKey) {
        self.keys.insert(kid.into(), key);
    }

    /// The key for `kid`, if published.
    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }
}

/// Verifies access tokens against a key set, an issuer and an audience.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<KeySet>,
    validation: Arc<Validation>,
    leeway_secs: i64,
}

impl TokenVerifier {
    /// A verifier that accepts tokens from `issuer` for `audience`, with `leeway_secs`
    /// of clock skew on `exp` and `nbf`.
    pub fn new(keys: KeySet, issuer: &str, audience: &str, leeway_secs: u64) -> Self {
        // Pinned to RS256: the header's `alg` is checked against this list, never trusted.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry and nbf are checked below against the caller's `now`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Self {
            keys: Arc::new(keys),
            validation: Arc::new(validation),
            leeway_secs: i64::try_from(leeway_secs).unwrap_or(i64::MAX),
        }
    }

    /// Verifies `token` at time `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Invalid);
        }
        let kid = header.kid.ok_or(VerifyError::Invalid)?;
        let key = self.keys.get(&kid).ok_or(VerifyError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                _ => VerifyError::Invalid,
            },
        )?;
        let claims = data.claims;
        if claims.exp.saturating_add(self.leeway_secs) < now {
            return Err(VerifyError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway_secs))
        {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }

    /// Verifies `token` at `now` and refuses it if its session is in `revoked`: the
    /// whole check, as tessera's Verify RPC and the live verifier both run it.
    pub fn verify_unrevoked(
        &self,
        token: &str,
        now: i64,
        revoked: &RevokedSessions,
    ) -> Result<AccessClaims, VerifyError> {
        let claims = self.verify(token, now)?;
        if revoked.contains(&claims.sid) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }
}
