//! Remote mode: ask tessera's Verify, and reuse its answer for `remote_cache_ttl`
//! (never past the token's expiry). Tokens are cached by their SHA-256, so the cache
//! holds no token. Failures to reach tessera are not cached.

use std::time::{Duration, Instant};

use tonic_types::StatusExt;

use super::Shared;
use crate::clock::unix_now;
use crate::grpc::convert::from_claims;
use crate::proto::VerifyRequest;
use crate::reason::Reason;
use crate::token::{AccessClaims, VerifyError};

/// The most answers remembered; past it, quick_cache's policy picks what goes (the
/// tokens seen again stay).
const MAX_ENTRIES: usize = 10_000;

type Answer = Result<AccessClaims, VerifyError>;

/// Tessera's recent answers, by token hash.
pub(super) struct Cache {
    answers: quick_cache::sync::Cache<[u8; 32], (Answer, Instant)>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            answers: quick_cache::sync::Cache::new(MAX_ENTRIES),
        }
    }
}

impl Cache {
    /// The cached answer for `token`, or `Unavailable` when there is none.
    pub(super) fn get(&self, token: &str, now: Instant) -> Answer {
        let key = crate::crypto::sha256(token.as_bytes());
        match self.answers.get(&key) {
            Some((answer, until)) if until > now => answer,
            Some(_) => {
                self.answers.remove(&key);
                Err(VerifyError::Unavailable)
            }
            None => Err(VerifyError::Unavailable),
        }
    }

    fn put(&self, token: &str, answer: Answer, until: Instant) {
        let key = crate::crypto::sha256(token.as_bytes());
        self.answers.insert(key, (answer, until));
    }
}

pub(super) async fn check(shared: &Shared, token: &str) -> Answer {
    let now = Instant::now();
    let cached = shared.remote.get(token, now);
    if cached != Err(VerifyError::Unavailable) {
        return cached;
    }
    let answer = match shared
        .client
        .clone()
        .verify(VerifyRequest {
            access_token: token.to_owned(),
        })
        .await
    {
        Ok(response) => response
            .into_inner()
            .claims
            .map(from_claims)
            .ok_or(VerifyError::Invalid)
            .and_then(|c| {
                // tessera checked its own issuer and audience; this service's may differ.
                let config = &shared.config;
                if c.iss == config.issuer && c.aud.contains(&config.audience) {
                    Ok(c)
                } else {
                    Err(VerifyError::Invalid)
                }
            }),
        Err(status) => {
            let reason = status.get_details_error_info().map(|info| info.reason);
            match reason.as_deref() {
                Some(r) if r == Reason::TokenExpired.as_str() => Err(VerifyError::Expired),
                Some(r) if r == Reason::TokenRevoked.as_str() => Err(VerifyError::Revoked),
                Some(r) if r == Reason::TokenInvalid.as_str() => Err(VerifyError::Invalid),
                // Unreachable, overloaded, or not tessera: not an answer about the
                // token, so nothing is cached.
                _ => return Err(VerifyError::Unavailable),
            }
        }
    };
    let mut ttl = shared.config.remote_cache_ttl;
    if let Ok(claims) = &answer {
        let left = claims.exp.saturating_sub(unix_now());
        ttl = ttl.min(Duration::from_secs(left.max(0).unsigned_abs()));
    }
    shared.remote.put(token, answer.clone(), now + ttl);
    answer
}
