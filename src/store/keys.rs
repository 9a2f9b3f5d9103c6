//! Signing keys as stored: the role trait [`KeyStore`].

use std::fmt;
use std::future::Future;

use super::StoreError;

/// A signing key as stored: the public half in the clear, the private half sealed
/// with the master key. `Debug` shows the kid and times only.
#[derive(Clone)]
pub struct KeyRow {
    pub kid: String,
    pub public_n: String,
    pub public_e: String,
    pub sealed_private: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
}

impl fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// Storage of the signing keys every instance shares.
pub trait KeyStore: Send + Sync {
    /// Every stored signing key, oldest activation first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<KeyRow>, StoreError>> + Send;

    /// Adds a signing key and tells the other instances; [`StoreError::Conflict`] if
    /// its kid is stored already.
    fn insert_signing_key(
        &self,
        key: &KeyRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a signing key and tells the other instances; true if it was there.
    fn delete_signing_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
