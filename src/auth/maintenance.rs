//! What the server runs beside the RPCs: reading revocations into the set (at start,
//! from other instances' announcements, and periodically), and purging what expired.

use tokio::sync::broadcast;

use super::{Auth, AuthError, Revocation, Watched};
use crate::store::{RevokedRow, Store};

impl<S: Store> Auth<S> {
    /// Loads the sessions whose tokens may still be live into the revocation set.
    pub async fn load_revocations(&self) -> Result<usize, AuthError> {
        let since = self.revocations.horizon(self.clock.now());
        self.revocations.read(&self.store, since).await
    }

    /// Reads the sessions revoked at or after `since` into the revocation set: the
    /// periodic catch-up that heals a missed announcement.
    pub async fn catch_up_revocations(&self, since: i64) -> Result<usize, AuthError> {
        self.revocations.read(&self.store, since).await
    }

    /// Records a revocation another instance announced.
    pub fn note_revoked(&self, row: RevokedRow) {
        self.revocations.remember(row.session_id, row.revoked_at);
    }

    /// Follows the revocation set: every session remembered now, and a receiver of
    /// every revocation learned from now on (see `revocations.rs`).
    pub fn watch_revocations(&self) -> (Vec<Revocation>, broadcast::Receiver<Watched>) {
        self.revocations.watch()
    }

    /// Purges expired rows and keys, and forgets what can no longer matter; returns
    /// how many rows and keys went.
    pub async fn purge(&self) -> Result<u64, AuthError> {
        let now = self.clock.now();
        self.revocations.prune(now);
        let keys = self.keys.purge(now).await.map_err(AuthError::Keys)?;
        if !keys.is_empty() {
            self.revocations.keys_changed();
        }
        let sessions = self
            .store
            .purge_sessions(now, self.revocations.horizon(now))
            .await
            .map_err(AuthError::from_store)?;
        let windows = self
            .throttle
            .purge(&self.store, now)
            .await
            .map_err(AuthError::from_store)?;
        Ok(sessions + windows + keys.len() as u64)
    }
}
