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
//! leaves it first; a token seen again is kept in the main one, and a token that
//! comes back soon after it left (its hash is still among the recently evicted, which
//! this cache remembers for four times its capacity) goes straight to the main one.
//! So a working set larger than the cache degrades the hit rate gradually, a stream
//! of one-off tokens passes through, and a working set that moved on takes the cache
//! over within a few rounds. Entries past their deadline are dropped when looked up
//! and swept out every [`SWEEP_EVERY_SECS`], so expired tokens nobody presents any
//! more never hold places. A miss costs one lookup and one insert beside the
//! signature check.

use std::sync::atomic::{AtomicI64, Ordering};

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, UnitWeighter};

/// How often (seconds, at the next insert) expired entries are swept out.
const SWEEP_EVERY_SECS: i64 = 30;

/// The ghost (recently evicted keys, 8 bytes each) remembers this many times the
/// capacity.
const GHOST_FACTOR: usize = 4;

use super::AccessClaims;

/// How many verified tokens a [`super::TokenVerifier`] remembers by default.
pub const DEFAULT_ENTRIES: usize = 10_000;

/// Verified tokens by the SHA-256 of their bytes.
pub struct VerifiedCache {
    capacity: usize,
    /// `None` when the capacity is 0.
    entries: Option<Cache<[u8; 32], Entry>>,
    /// When the next insert sweeps out the expired entries.
    next_sweep: AtomicI64,
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
            entries: (capacity > 0).then(|| {
                let options = OptionsBuilder::new()
                    .estimated_items_capacity(capacity.saturating_mul(GHOST_FACTOR))
                    .weight_capacity(capacity as u64)
                    .ghost_allocation(1.0)
                    .build();
                match options {
                    Ok(o) => Cache::with_options(
                        o,
                        UnitWeighter,
                        DefaultHashBuilder::default(),
                        DefaultLifecycle::default(),
                    ),
                    Err(_) => Cache::new(capacity),
                }
            }),
            next_sweep: AtomicI64::new(i64::MIN),
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
        // Expired entries are dropped when looked up, but a token nobody presents any
        // more is never looked up: sweep them out now and then, so tokens past their
        // expiry never hold places the live ones need.
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_sweep
                .compare_exchange(
                    due,
                    now.saturating_add(SWEEP_EVERY_SECS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            entries.retain(|_, entry| entry.valid_until >= now);
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
            email_verified: false,
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

    /// Tokens nobody presents any more are never looked up again; once expired they
    /// must leave, or a cache full of them keeps the live ones out.
    #[test]
    fn expired_tokens_nobody_asks_for_are_swept_out() {
        // Room to spare: the cache is sharded, and 50 keys in a cache of 100 could
        // crowd one shard into evicting before the sweep is what empties it.
        let cache = VerifiedCache::new(10_000);
        for i in 0..50u8 {
            cache.insert([i; 32], claims("old"), 100, 0);
        }
        assert_eq!(cache.len(), 50);
        cache.insert([200; 32], claims("new"), 1_000, 101);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&[200; 32], 101), Some(claims("new")));
    }

    /// A working set that moved on (the old tokens still valid but no longer used)
    /// must take the cache over within a few rounds, not stay locked out by the old
    /// one's standing.
    #[test]
    fn a_new_working_set_displaces_an_old_one() {
        let cache = VerifiedCache::new(1_000);
        let key = |set: u32, i: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&set.to_le_bytes());
            k[4..8].copy_from_slice(&i.to_le_bytes());
            k
        };
        let round = |set: u32, n: u32| {
            let mut hits = 0;
            for i in 0..n {
                if cache.get(&key(set, i), 0).is_some() {
                    hits += 1;
                } else {
                    cache.insert(key(set, i), claims("s"), 1_000, 0);
                }
            }
            hits
        };
        for _ in 0..20 {
            round(1, 1_000);
        }
        let hits: Vec<u32> = (0..6).map(|_| round(2, 1_200)).collect();
        assert!(hits[4] > 600 && hits[5] > 600, "{hits:?}");
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let cache = VerifiedCache::new(0);
        cache.insert([1; 32], claims("s"), 1_000, 0);
        assert!(cache.is_empty());
        assert_eq!(cache.get(&[1; 32], 0), None);
    }
}
