//! Verify, and the keys it trusts: the published key set and its reloads.

use super::keyring::CacheCounts;
use super::{Auth, AuthError, KeysError};
use crate::store::Store;
use crate::token::ring::Schedule;
use crate::token::{AccessClaims, Jwk};

impl<S: Store> Auth<S> {
    /// Verifies an access token: signature, claims, and the revocation set. No I/O.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let now = self.clock.now();
        Ok(self.keys.verify(token, now, self.revocations.set())?)
    }

    /// The public keys to publish now: staged, signing and retiring.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.keys.jwks(self.clock.now())
    }

    /// When the keys change next: the signer's start, the next activation, the next
    /// key to leave the JWKS.
    pub fn key_schedule(&self) -> Schedule {
        self.keys.schedule(self.clock.now())
    }

    /// What the server is doing now, for its metrics.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            hashing: self.hasher.load(),
            signing: self.signer.load(),
            revoked_sessions: self.revocations.set().len(),
            cache: self.keys.cache_counts(),
        }
    }

    /// The kid of the key that signs now.
    pub fn signing_kid(&self) -> Option<String> {
        self.keys.signing_kid(self.clock.now())
    }

    /// Reads the signing keys again and swaps them in; returns whether the set of
    /// kids changed. A change is told to the WatchRevocations streams, so live
    /// verifiers fetch the keys at once (a withdrawn key stops being trusted).
    pub async fn reload_keys(&self) -> Result<bool, KeysError> {
        let changed = self.keys.reload(self.clock.now()).await?;
        if changed {
            self.revocations.keys_changed();
        }
        Ok(changed)
    }
}

/// What the server is doing at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Password hashes running or waiting for a thread.
    pub hashing: usize,
    /// Token signatures running or waiting for a thread.
    pub signing: usize,
    /// Sessions in the revoked-session set.
    pub revoked_sessions: usize,
    /// The verified-token cache.
    pub cache: CacheCounts,
}
