//! Revoked sessions, held in memory: what tessera's Verify and the live verifier
//! consult after a token's signature and claims passed.
//!
//! An access token lives at most the access TTL past its session's revocation, so a
//! session needs remembering only until `revoked_at + access TTL + leeway` (its
//! `forget_after`); after that no token of it can verify anyway. Revocation is
//! permanent, so merging what two sources say is always safe: the set only grows,
//! until pruning forgets what can no longer matter.

use std::collections::HashMap;
use std::sync::RwLock;

/// Revoked session ids, each with the time after which it can be forgotten.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    until: RwLock<HashMap<String, i64>>,
}

impl RevokedSessions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `sid` as revoked until `forget_after`; true if the set learned
    /// something (the session is new to it, or is now remembered longer).
    pub fn insert(&self, sid: &str, forget_after: i64) -> bool {
        let mut map = self.until.write().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(sid) {
            Some(until) if *until >= forget_after => false,
            Some(until) => {
                *until = forget_after;
                true
            }
            None => {
                map.insert(sid.to_owned(), forget_after);
                true
            }
        }
    }

    /// Whether `sid` is revoked.
    pub fn contains(&self, sid: &str) -> bool {
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

    /// Every remembered session with its `forget_after`.
    pub fn snapshot(&self) -> Vec<(String, i64)> {
        self.until
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(sid, until)| (sid.clone(), *until))
            .collect()
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.until.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_sessions_are_held_until_their_tokens_cannot_live() {
        let set = RevokedSessions::new();
        assert!(set.insert("a", 100));
        assert!(set.contains("a"));
        assert!(!set.contains("b"));
        set.prune(100);
        assert!(set.contains("a"));
        set.prune(101);
        assert!(!set.contains("a"));
    }

    #[test]
    fn inserting_reports_only_what_is_news() {
        let set = RevokedSessions::new();
        assert!(set.insert("a", 100));
        assert!(!set.insert("a", 100));
        assert!(!set.insert("a", 50));
        assert!(set.insert("a", 150));
        assert_eq!(set.snapshot(), vec![("a".to_owned(), 150)]);
    }
}
