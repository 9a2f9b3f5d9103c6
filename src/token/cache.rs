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
//! time. It is bounded, and when full it chooses what to keep by quick_cache's
//! S3-FIFO-style policy: a token seen once enters a small probationary queue and
//! leaves it first; a token seen again is kept in the main one. So a working set
//! larger than the cache degrades the hit rate gradually (the tokens in steady use
//! stay, a stream of one-off tokens passes through), and a miss costs one lookup
//! and one insert beside the signature check, never a sweep of the whole cache.

use quick_cache::sync::Cache;

use super::AccessClaims;

/// How many verified tokens a [`super::TokenVerifier`] remembers by default.
pub const DEFAULT_ENTRIES: usize = 10_000;

/// Verified tokens by the SHA-256 of their bytes.
pub struct VerifiedCache {
    capacity: usize,
    /// `None` when the capacity is 0.
    entries: Option<Cache<[u8; 32], Entry>>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[derive(Debug, Clone)]
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
            entries: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// Whether the cache stores anything at all.
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The most tokens it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The claims of the token hashed to `key`, if it verified before and `now` is
    /// not past its deadline; an entry past it is dropped.
    pub fn get(&self, key: &[u8; 32], now: i64) -> Option<AccessClaims> {
        let entries = self.entries.as_ref()?;
        let entry = entries.get(key)?;
        if entry.valid_until >= now {
            return Some(entry.claims);
        }
        entries.remove(key);
        None
    }

    /// Remembers that the token hashed to `key` verified with `claims`, until
    /// `valid_until` (its `exp` plus leeway), judged at `now`.
    pub fn insert(&self, key: [u8; 32], claims: AccessClaims, valid_until: i64, now: i64) {
        let Some(entries) = &self.entries else {
            return;
        };
        if valid_until < now {
            return;
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
        self.entries.as_ref().map_or(0, Cache::len)
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        for i in 0..100u8 {
            cache.insert([i; 32], claims("s"), 1_000, 0);
            assert!(cache.len() <= 3, "{}", cache.len());
        }
    }

    /// The cliff the old cache had: with a working set above capacity it emptied
    /// itself whenever it was full, so cycling through more tokens than it holds
    /// missed every time. Now the hit rate falls gradually.
    #[test]
    fn a_working_set_above_capacity_still_hits_most_of_the_time() {
        let capacity = 1_000;
        let cache = VerifiedCache::new(capacity);
        let tokens = 1_200u32;
        let key = |i: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k
        };
        let (mut hits, mut lookups) = (0, 0);
        for round in 0..20 {
            for i in 0..tokens {
                let found = cache.get(&key(i), 0).is_some();
                if !found {
                    cache.insert(key(i), claims("s"), 1_000, 0);
                }
                if round >= 5 {
                    lookups += 1;
                    hits += usize::from(found);
                }
            }
        }
        assert!(cache.len() <= capacity + capacity / 10, "{}", cache.len());
        // A cyclic scan is the worst case for recency; the admission policy keeps a
        // steady part of it resident instead of thrashing.
        assert!(hits * 2 > lookups, "{hits} hits of {lookups}");
    }

    #[test]
    fn tokens_in_steady_use_survive_a_stream_of_one_off_tokens() {
        let cache = VerifiedCache::new(100);
        let hot = |i: u8| [i; 32];
        for _ in 0..3 {
            for i in 0..50 {
                if cache.get(&hot(i), 0).is_none() {
                    cache.insert(hot(i), claims("hot"), 1_000, 0);
                }
            }
        }
        for n in 0..10_000u32 {
            let mut k = [0xff; 32];
            k[..4].copy_from_slice(&n.to_le_bytes());
            cache.insert(k, claims("once"), 1_000, 0);
        }
        let kept = (0..50).filter(|&i| cache.get(&hot(i), 0).is_some()).count();
        assert!(kept >= 40, "only {kept} of 50 tokens in use survived");
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let cache = VerifiedCache::new(0);
        cache.insert([1; 32], claims("s"), 1_000, 0);
        assert!(cache.is_empty());
        assert_eq!(cache.get(&[1; 32], 0), None);
    }
}
