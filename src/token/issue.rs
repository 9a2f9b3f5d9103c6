//! Issuing access tokens.

use std::time::Duration;

use super::AccessClaims;
use super::keys::SigningKey;

/// Signing failed: the key was proven usable at start, so this is an internal fault.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("encoding the access token's claims failed: {0}")]
    Claims(#[from] serde_json::Error),
    #[error("the RSA signature failed")]
    Signature,
}

/// Signs access tokens for one issuer and audience.
#[derive(Clone, Debug)]
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

/// What an access token is issued for.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The user id.
    pub user_id: &'a str,
    /// The session id.
    pub session_id: &'a str,
    /// The user's email.
    pub email: &'a str,
    /// The user's roles.
    pub roles: &'a [String],
    /// Whether the user's email is verified.
    pub email_verified: bool,
}

impl TokenIssuer {
    /// An issuer for `iss` = `issuer`, `aud` = `audience`, lifetime `ttl`.
    pub fn new(issuer: String, audience: String, ttl: Duration) -> Self {
        Self {
            issuer,
            audience,
            ttl_secs: crate::clock::secs(ttl),
        }
    }

    /// The `iss` of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of every token.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The access-token lifetime in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs a token for `subject` with `key`, issued at `now`; returns it with its
    /// claims.
    pub fn issue(
        &self,
        key: &SigningKey,
        subject: &Subject<'_>,
        now: i64,
    ) -> Result<(String, AccessClaims), IssueError> {
        let mut jti = [0u8; 16];
        crate::crypto::random_bytes(&mut jti);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.user_id.to_owned(),
            aud: vec![self.audience.clone()],
            exp: now.saturating_add(self.ttl_secs),
            iat: now,
            nbf: None,
            jti: uuid::Builder::from_random_bytes(jti)
                .into_uuid()
                .to_string(),
            sid: subject.session_id.to_owned(),
            email: subject.email.to_owned(),
            roles: subject.roles.to_vec(),
            email_verified: subject.email_verified,
        };
        let json = serde_json::to_vec(&claims)?;
        let token = key.sign_jws(&json).map_err(|_| IssueError::Signature)?;
        Ok((token, claims))
    }
}
