//! Signing keys in the store: the first key, rotation, listing, loading the ring,
//! and deleting keys that expired.
//!
//! Private keys are sealed with the master key before they reach the store and
//! opened only in memory (see [`crate::token::seal`]). Which key signs follows from
//! the stored times ([`crate::token::ring`]), so a rotation is one insert: every
//! instance picks it up at its next sync (at once on PostgreSQL, which announces it)
//! and derives the same states.

use std::time::Duration;

use crate::clock::secs;
use crate::store::{KeyRow, KeyStore, StoreError};
use crate::token::keys::SigningKey;
use crate::token::ring::{self, KeyRing, KeyState, RingKey};
use crate::token::seal::MasterKey;

/// Why the keys could not be had or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Opening failed: the master key is not the one the key was sealed with.
    #[error("the stored key {kid} does not open with this master key")]
    Sealed { kid: String },
    /// It opened, but is not a usable RSA key.
    #[error("the stored key {kid} is not a usable RSA key")]
    NotAKey { kid: String },
    #[error("RSA key generation failed")]
    Generate,
    /// The store holds no key (start-up stores one, so this is a fault).
    #[error("no signing key is stored")]
    Empty,
    /// No stored key has this kid.
    #[error("no stored key has the kid {kid}")]
    NoSuchKey { kid: String },
    /// The key signs now: withdrawing it would hand signing back to an older key.
    #[error("{kid} signs now: run `tessera keys rotate --now` first, then withdraw it")]
    StillSigning { kid: String },
}

/// A stored key and its state at the time it was listed.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub state: KeyState,
}

/// The signing keys of one store, sealed with one master key.
#[derive(Debug, Clone)]
pub struct Keystore<S> {
    store: S,
    master: MasterKey,
    /// How long a retired key stays published: access TTL plus verify leeway.
    publish_for: i64,
}

impl<S: KeyStore> Keystore<S> {
    /// Keys in `store`, sealed with `master`; retired keys stay published for
    /// `publish_for` seconds.
    pub fn new(store: S, master: MasterKey, publish_for: i64) -> Self {
        Self {
            store,
            master,
            publish_for,
        }
    }

    /// Makes sure a key exists: when the store holds none, stores `first` (an
    /// imported key) or else a freshly generated one, signing from `now`. Returns the
    /// kid stored, or `None` when there were keys already. Instances racing on an
    /// empty store may each add one; all are published and every instance agrees on
    /// the one that signs.
    pub async fn bootstrap(
        &self,
        first: Option<SigningKey>,
        now: i64,
    ) -> Result<Option<String>, KeysError> {
        if !self.store.signing_keys().await?.is_empty() {
            return Ok(None);
        }
        let key = match first {
            Some(key) => key,
            None => SigningKey::generate().map_err(|_| KeysError::Generate)?.0,
        };
        self.add(&key, now, now).await?;
        Ok(Some(key.kid().to_owned()))
    }

    /// Stores `key`, sealed, to sign from `activates_at`.
    async fn add(&self, key: &SigningKey, activates_at: i64, now: i64) -> Result<(), KeysError> {
        let (n, e) = key.public_components();
        self.store
            .insert_signing_key(&KeyRow {
                kid: key.kid().to_owned(),
                public_n: n.to_owned(),
                public_e: e.to_owned(),
                sealed_private: self.master.seal(key.kid(), key.pem()),
                created_at: now,
                activates_at,
            })
            .await?;
        Ok(())
    }

    /// Generates a key that is published at once and signs from `now + delay` (one
    /// second later if another key activates in that very second). Returns its kid
    /// and activation time.
    pub async fn rotate(&self, now: i64, delay: Duration) -> Result<(String, i64), KeysError> {
        let (key, _) = SigningKey::generate().map_err(|_| KeysError::Generate)?;
        let delay = secs(delay);
        let mut activates_at = now.saturating_add(delay);
        // Times are whole seconds: a key activating in the same second as another
        // would be ordered by its kid, and could lose to the older key. One second
        // later it is certain to take over.
        let taken: Vec<i64> = self
            .store
            .signing_keys()
            .await?
            .iter()
            .map(|r| r.activates_at)
            .collect();
        while taken.contains(&activates_at) {
            activates_at = activates_at.saturating_add(1);
        }
        self.add(&key, activates_at, now).await?;
        Ok((key.kid().to_owned(), activates_at))
    }

    /// Every stored key with its state at `now`, oldest activation first.
    pub async fn list(&self, now: i64) -> Result<Vec<KeyInfo>, KeysError> {
        let rows = self.store.signing_keys().await?;
        let activations: Vec<i64> = rows.iter().map(|r| r.activates_at).collect();
        Ok(rows
            .into_iter()
            .zip(ring::states(&activations, now, self.publish_for))
            .map(|(row, state)| KeyInfo {
                kid: row.kid,
                created_at: row.created_at,
                activates_at: row.activates_at,
                state,
            })
            .collect())
    }

    /// Reads the stored keys into a ring. Keys `known` holds already are reused, so
    /// only new keys are opened.
    pub async fn load(&self, known: Option<&KeyRing>) -> Result<KeyRing, KeysError> {
        let rows = self.store.signing_keys().await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let key = match known.and_then(|ring| ring.get(&row.kid)) {
                Some(key) => key.clone(),
                None => self.open(&row)?,
            };
            keys.push(RingKey {
                key,
                activates_at: row.activates_at,
                created_at: row.created_at,
            });
        }
        Ok(KeyRing::new(keys, self.publish_for))
    }

    fn open(&self, row: &KeyRow) -> Result<SigningKey, KeysError> {
        let pem = self
            .master
            .open(&row.kid, &row.sealed_private)
            .map_err(|_| KeysError::Sealed {
                kid: row.kid.clone(),
            })?;
        let key = SigningKey::from_pem(&pem).ok_or_else(|| KeysError::NotAKey {
            kid: row.kid.clone(),
        })?;
        // The kid is the public key's thumbprint: a row whose kid does not match
        // what it seals was not written by tessera.
        if key.kid() != row.kid {
            return Err(KeysError::NotAKey {
                kid: row.kid.clone(),
            });
        }
        Ok(key)
    }

    /// Withdraws the key `kid` at `now`: it is deleted, so no instance publishes or
    /// trusts it from its next read of the keys. The key that signs cannot be
    /// withdrawn (a new one must sign first).
    pub async fn withdraw(&self, kid: &str, now: i64) -> Result<(), KeysError> {
        let keys = self.list(now).await?;
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeysError::NoSuchKey {
                kid: kid.to_owned(),
            })?;
        if key.state == KeyState::Signing {
            return Err(KeysError::StillSigning {
                kid: kid.to_owned(),
            });
        }
        self.store.delete_signing_key(kid).await?;
        Ok(())
    }

    /// Deletes the keys that expired by `now`; returns their kids.
    pub async fn purge(&self, now: i64) -> Result<Vec<String>, KeysError> {
        let mut deleted = Vec::new();
        for info in self.list(now).await? {
            if info.state == KeyState::Expired && self.store.delete_signing_key(&info.kid).await? {
                deleted.push(info.kid);
            }
        }
        Ok(deleted)
    }
}
