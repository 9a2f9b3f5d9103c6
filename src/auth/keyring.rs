//! The live key ring: the keys this instance signs and verifies with, read from the
//! store at start and again whenever the keys change (see [`crate::token::ring`] for
//! which key signs when).

use std::sync::{Arc, RwLock};

use tracing::info;

use super::keys::{KeysError, Keystore};
use crate::store::KeyStore;
use crate::token::keys::SigningKey;
use crate::token::ring::{KeyRing, Schedule};
use crate::token::{AccessClaims, Jwk, RevokedSessions, TokenVerifier, VerifyError};

/// What a verifier of this instance's tokens checks besides the keys.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: u64,
    /// How many verified tokens to remember (0: none).
    pub cache: usize,
}

/// The verified-token cache's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

/// A ring and the verifier over the keys it published when it was read.
struct Loaded {
    ring: KeyRing,
    verifier: TokenVerifier,
}

/// The keys in use, swapped whole when they are read again.
pub struct LiveKeys<S> {
    keystore: Keystore<S>,
    settings: VerifySettings,
    loaded: RwLock<Arc<Loaded>>,
}

impl<S: KeyStore> LiveKeys<S> {
    /// Reads the keys from `keystore` as of `now`.
    pub async fn load(
        keystore: Keystore<S>,
        settings: VerifySettings,
        now: i64,
    ) -> Result<Self, KeysError> {
        let ring = keystore.load(None).await?;
        let loaded = Loaded {
            verifier: verifier(&settings, &ring, now),
            ring,
        };
        Ok(Self {
            keystore,
            settings,
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the keys again (new keys are opened, known ones reused) and swaps them
    /// in; returns whether the set of kids changed. The cache of verified tokens
    /// carries over only if the published keys are the same.
    pub async fn reload(&self, now: i64) -> Result<bool, KeysError> {
        let current = self.current();
        let ring = self.keystore.load(Some(&current.ring)).await?;
        let verifier = verifier(&self.settings, &ring, now).keeping_cache_of(&current.verifier);
        let changed = current.ring.kids() != ring.kids();
        if changed {
            info!(
                keys = ring.kids().len(),
                signing = ring.signer(now).map(|k| k.kid()),
                "signing keys reloaded"
            );
        }
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Loaded { ring, verifier });
        Ok(changed)
    }

    /// The key that signs at `now`.
    pub fn signer(&self, now: i64) -> Option<SigningKey> {
        self.current().ring.signer(now).cloned()
    }

    /// The kid of the key that signs at `now`.
    pub fn signing_kid(&self, now: i64) -> Option<String> {
        self.signer(now).map(|k| k.kid().to_owned())
    }

    /// The verified-token cache: lookups that hit, that missed, and tokens held.
    pub fn cache_counts(&self) -> CacheCounts {
        let current = self.current();
        let stats = current.verifier.cache_stats();
        CacheCounts {
            hits: stats.hits(),
            misses: stats.misses(),
            entries: current.verifier.cached(),
        }
    }

    /// When the keys change next, as of `now`.
    pub fn schedule(&self, now: i64) -> Schedule {
        self.current().ring.schedule(now)
    }

    /// The public keys to publish at `now`: staged, signing and retiring.
    pub fn jwks(&self, now: i64) -> Vec<Jwk> {
        self.current()
            .ring
            .published(now)
            .into_iter()
            .map(SigningKey::jwk)
            .collect()
    }

    /// Verifies `token` at `now` against the published keys and `revoked`.
    pub fn verify(
        &self,
        token: &str,
        now: i64,
        revoked: &RevokedSessions,
    ) -> Result<AccessClaims, VerifyError> {
        self.current()
            .verifier
            .verify_unrevoked(token, now, revoked)
    }

    /// Deletes the keys that expired by `now` and, if any went, reads the ring again;
    /// returns their kids.
    pub async fn purge(&self, now: i64) -> Result<Vec<String>, KeysError> {
        let deleted = self.keystore.purge(now).await?;
        for kid in &deleted {
            info!(kid = %kid, "deleted an expired signing key");
        }
        if !deleted.is_empty() {
            self.reload(now).await?;
        }
        Ok(deleted)
    }
}

fn verifier(settings: &VerifySettings, ring: &KeyRing, now: i64) -> TokenVerifier {
    TokenVerifier::new(
        ring.published_set(now),
        &settings.issuer,
        &settings.audience,
        settings.leeway_secs,
    )
    .with_cache(settings.cache)
}
