//! The revoked sessions Verify consults, held in memory.
//!
//! An access token lives at most the access TTL past its session's revocation, so a
//! session needs remembering only until `revoked_at + access TTL + leeway`; after that
//! no token of it can verify anyway. The set is loaded from the store at start and
//! updated by every revocation, so Verify costs a hash lookup and no database query.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::domain::SessionId;

/// Revoked session ids, each with the time after which it can be forgotten.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    until: RwLock<HashMap<SessionId, i64>>,
}

impl RevokedSessions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `sid` as revoked, to be remembered until `forget_after`.
    pub fn insert(&self, sid: SessionId, forget_after: i64) {
        let mut map = self.until.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(sid).or_insert(forget_after);
        *entry = (*entry).max(forget_after);
    }

    /// Whether `sid` is revoked.
    pub fn contains(&self, sid: &SessionId) -> bool {
        self.until
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(sid)
    }

    /// Forgets sessions whose tokens have all expired by `now`.
    pub fn prune(&self, now: i64) {
        self.until
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_sessions_are_held_until_their_tokens_cannot_live() {
        let set = RevokedSessions::new();
        let sid = SessionId::random();
        set.insert(sid, 100);
        assert!(set.contains(&sid));
        assert!(!set.contains(&SessionId::random()));
        set.prune(100);
        assert!(set.contains(&sid));
        set.prune(101);
        assert!(!set.contains(&sid));
    }
}
