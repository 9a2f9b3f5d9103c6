//! A bounded cache of tokens whose signature and claims already verified.
//!
//! A service sees the same access token on every request of its lifetime, and the RSA
//! signature check is most of what verifying it costs. This cache remembers, for a
//! token that passed, its claims, keyed by the SHA-256 of the whole token, so the next
//! sight of the very same bytes skips the signature.
//!
//! What it never skips:
//! - **Expiry.** An entry answers only until the token's `exp` plus the leeway, and is
//!   dropped after; the verifier applies its `exp` and `nbf` rules to a hit's claims
//!   as it does after a signature check.
//! - **Revocation.** The caller checks the session against the revocation set on
//!   every call, hit or miss ([`super::TokenVerifier::verify_unrevoked`]).
//! - **Key changes.** The cache belongs to one key set: a verifier built over other
//!   keys starts with an empty one ([`super::TokenVerifier::keeping_cache_of`]).
//!
//! Only successes are stored: a forged or expired token costs the full check each
//! time. It is bounded: when full, expired entries are dropped, and if that frees
//! nothing, the whole cache is (it refills from the tokens in use).

use std::collections::HashMap;
use std::sync::RwLock;

use super::AccessClaims;

/// How many verified tokens a [`super::TokenVerifier`] remembers by default.
pub const DEFAULT_ENTRIES: usize = 10_000;

/// Verified tokens by the SHA-256 of their bytes.
#[derive(Debug)]
pub struct VerifiedCache {
    capacity: usize,
    entries: RwLock<HashMap<[u8; 32], Entry>>,
}

#[derive(Debug)]
struct Entry {
    /// The last second at which the token still verifies: `exp` plus leeway.
    valid_until: i64,
    claims: AccessClaims,
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens; 0 turns it off.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Whether the cache stores anything at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The most tokens it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The claims of the token hashed to `key`, if it verified before and `now` is
    /// not past its deadline; an entry past it is dropped.
    pub fn get(&self, key: &[u8; 32], now: i64) -> Option<AccessClaims> {
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            match entries.get(key) {
                None => return None,
                Some(entry) if entry.valid_until >= now => return Some(entry.claims.clone()),
                Some(_) => {}
            }
        }
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        None
    }

    /// Remembers that the token hashed to `key` verified with `claims`, until
    /// `valid_until` (its `exp` plus leeway), judged at `now`.
    pub fn insert(&self, key: [u8; 32], claims: AccessClaims, valid_until: i64, now: i64) {
        if self.capacity == 0 || valid_until < now {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if !entries.contains_key(&key) {
            make_room(&mut entries, self.capacity, |entry| {
                entry.valid_until >= now
            });
        }
        entries.insert(
            key,
            Entry {
                valid_until,
                claims,
            },
        );
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room for one more entry in a map bounded at `capacity`: when it is full,
/// drops the entries that are no longer `live`, and if that frees nothing, all of them
/// (a cache refills from what is in use).
pub(crate) fn make_room<K, V>(
    map: &mut HashMap<K, V>,
    capacity: usize,
    mut live: impl FnMut(&V) -> bool,
) {
    if map.len() >= capacity {
        map.retain(|_, value| live(value));
        if map.len() >= capacity {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sid: &str) -> AccessClaims {
        AccessClaims {
            iss: "tessera".into(),
            sub: "user".into(),
            aud: vec!["tessera".into()],
            exp: 100,
            iat: 0,
            nbf: None,
            jti: "jti".into(),
            sid: sid.into(),
            email: "a@example.com".into(),
            roles: vec!["user".into()],
        }
    }

    #[test]
    fn a_hit_answers_only_until_its_deadline_then_is_dropped() {
        let cache = VerifiedCache::new(4);
        cache.insert([1; 32], claims("s"), 130, 10);
        assert_eq!(cache.get(&[1; 32], 130), Some(claims("s")));
        assert_eq!(cache.get(&[2; 32], 130), None);
        assert_eq!(cache.get(&[1; 32], 131), None);
        // Dropped, not just hidden: an earlier clock does not bring it back.
        assert_eq!(cache.get(&[1; 32], 120), None);
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = VerifiedCache::new(3);
        for i in 0..10u8 {
            cache.insert([i; 32], claims("s"), 1_000, 0);
            assert!(cache.len() <= 3);
        }
        // The newest is always kept.
        assert_eq!(cache.get(&[9; 32], 0), Some(claims("s")));
    }

    #[test]
    fn when_full_expired_entries_go_first() {
        let cache = VerifiedCache::new(2);
        cache.insert([1; 32], claims("old"), 50, 0);
        cache.insert([2; 32], claims("live"), 500, 0);
        cache.insert([3; 32], claims("new"), 500, 60);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&[2; 32], 60), Some(claims("live")));
        assert_eq!(cache.get(&[3; 32], 60), Some(claims("new")));
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let cache = VerifiedCache::new(0);
        cache.insert([1; 32], claims("s"), 1_000, 0);
        assert!(cache.is_empty());
        assert_eq!(cache.get(&[1; 32], 0), None);
    }
}
