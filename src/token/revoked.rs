//! Revoked sessions, held in memory: what tessera's Verify and the live verifier
//! consult after a token's signature and claims passed.
//!
//! An access token lives at most the access TTL past its session's revocation, so a
//! session needs remembering only until `revoked_at + access TTL + leeway` (its
//! `forget_after`); after that no token of it can verify anyway. Revocation is
//! permanent, so merging what two sources say is always safe: the set only grows,
//! until pruning forgets what can no longer matter.
//!
//! # Shape
//!
//! A million revoked sessions (one `Logout(all_sessions)` of a large tenant) must
//! neither slow Verify nor hold much memory, so the set is two parts:
//! - **the base**: a sorted array of (16-byte session id, `forget_after`), 24 bytes a
//!   session, searched by bisection. It is never changed in place: a bulk insert,
//!   a merge or a prune builds the next array beside it and swaps it in, so readers
//!   hold its lock only to clone an `Arc`, never while it is rebuilt.
//! - **the recent**: a small hash map taking single revocations (a logout) at once.
//!   When it holds [`RECENT_LIMIT`] sessions, or an eighth of the base if that is
//!   more, they are merged into a new base: so a million single inserts (a verifier
//!   receiving a snapshot) rebuild the base a few dozen times, not hundreds.
//!
//! Session ids are UUIDs (what tessera issues); a `sid` that is not one cannot be
//! revoked, and is never reported as revoked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

/// How many single revocations wait in the recent map before a merge into the base.
const RECENT_LIMIT: usize = 4_096;

type Key = [u8; 16];

/// Revoked session ids, each with the time after which it can be forgotten.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    /// Sorted by id, ids unique.
    base: RwLock<Arc<Vec<(Key, i64)>>>,
    recent: RwLock<HashMap<Key, i64>>,
    /// Held by whoever builds the next base, so two rebuilds never race.
    rebuild: Mutex<()>,
}

/// `base` (sorted, ids unique) and `added` merged into one sorted list with unique
/// ids, each keeping its latest `forget_after`.
fn merged(base: &[(Key, i64)], added: impl Iterator<Item = (Key, i64)>) -> Vec<(Key, i64)> {
    let mut added: Vec<(Key, i64)> = added.collect();
    added.sort_unstable();
    let mut next: Vec<(Key, i64)> = Vec::with_capacity(base.len() + added.len());
    let mut old = base.iter().copied().peekable();
    let mut new = added.into_iter().peekable();
    loop {
        let from_old = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(o), Some(n)) => o.0 < n.0,
        };
        let Some(item) = (if from_old { old.next() } else { new.next() }) else {
            break;
        };
        match next.last_mut() {
            Some(last) if last.0 == item.0 => last.1 = last.1.max(item.1),
            _ => next.push(item),
        }
    }
    next
}

fn key(sid: &str) -> Option<Key> {
    Uuid::try_parse(sid).ok().map(|id| id.into_bytes())
}

impl RevokedSessions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn base(&self) -> Arc<Vec<(Key, i64)>> {
        self.base.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many sessions the recent map holds before it is merged into the base.
    fn merge_at(&self) -> usize {
        let base = self.base.read().unwrap_or_else(|e| e.into_inner()).len();
        RECENT_LIMIT.max(base / 8)
    }

    /// The `forget_after` remembered for `key`, if any (the later of the two parts).
    fn until(&self, key: &Key) -> Option<i64> {
        // Searched under the read guard: no reference count touched on Verify's path.
        let base = self.base.read().unwrap_or_else(|e| e.into_inner());
        self.until_in(&base, key)
    }

    /// [`Self::until`] against a base already in hand.
    fn until_in(&self, base: &[(Key, i64)], key: &Key) -> Option<i64> {
        let recent = self
            .recent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied();
        let old = base
            .binary_search_by_key(key, |(k, _)| *k)
            .ok()
            .map(|i| base[i].1);
        recent.max(old)
    }

    /// Records `sid` as revoked until `forget_after`; true if the set learned
    /// something (the session is new to it, or is now remembered longer).
    pub fn insert(&self, sid: &str, forget_after: i64) -> bool {
        let Some(key) = key(sid) else {
            return false;
        };
        if self.until(&key).is_some_and(|until| until >= forget_after) {
            return false;
        }
        let full = {
            let mut recent = self.recent.write().unwrap_or_else(|e| e.into_inner());
            let until = recent.entry(key).or_insert(forget_after);
            *until = (*until).max(forget_after);
            recent.len() >= self.merge_at()
        };
        if full {
            self.rebuild(&[], None);
        }
        true
    }

    /// Records many revocations at once, with one rebuild of the base; returns those
    /// that were news (as [`RevokedSessions::insert`] would have answered true).
    pub fn insert_many<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> Vec<(&'a str, i64)> {
        let mut news: Vec<(&'a str, i64)> = Vec::new();
        let mut batch: Vec<(Key, i64)> = Vec::new();
        for (sid, forget_after) in entries {
            let Some(key) = key(sid) else { continue };
            if self.until(&key).is_some_and(|until| until >= forget_after) {
                continue;
            }
            news.push((sid, forget_after));
            batch.push((key, forget_after));
        }
        if !batch.is_empty() {
            self.rebuild(&batch, None);
        }
        news
    }

    /// [`RevokedSessions::insert_many`] for ids given as their 16 bytes (no text on
    /// the way: what a bulk load of a million takes); returns the news.
    pub fn insert_ids(&self, entries: impl IntoIterator<Item = (Key, i64)>) -> Vec<(Key, i64)> {
        let base = self.base();
        let known = |key: &Key, forget_after: i64| {
            self.until_in(&base, key)
                .is_some_and(|until| until >= forget_after)
        };
        let news: Vec<(Key, i64)> = entries
            .into_iter()
            .filter(|(key, forget_after)| !known(key, *forget_after))
            .collect();
        if !news.is_empty() {
            self.rebuild(&news, None);
        }
        news
    }

    /// The text form of an id as [`RevokedSessions::insert_ids`] takes it.
    pub fn id_text(key: &Key) -> String {
        Uuid::from_bytes(*key).to_string()
    }

    /// Builds the next base from the current one, the recent map and `batch`,
    /// leaving out what expires before `prune_before`, and swaps it in.
    fn rebuild(&self, batch: &[(Key, i64)], prune_before: Option<i64>) {
        let _one = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let taken: Vec<(Key, i64)> = self
            .recent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        let base = self.base();
        let mut next = if taken.is_empty()
            && base.is_empty()
            && batch.windows(2).all(|pair| pair[0].0 < pair[1].0)
        {
            // The start-up load, sorted by its reader: nothing to merge.
            batch.to_vec()
        } else {
            merged(&base, taken.iter().copied().chain(batch.iter().copied()))
        };
        if let Some(now) = prune_before {
            next.retain(|(_, until)| *until >= now);
        }
        next.shrink_to_fit();
        *self.base.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        // What was merged leaves the recent map, unless it was raised meanwhile.
        let mut recent = self.recent.write().unwrap_or_else(|e| e.into_inner());
        for (k, v) in taken {
            if recent.get(&k) == Some(&v) {
                recent.remove(&k);
            }
        }
        if let Some(now) = prune_before {
            recent.retain(|_, until| *until >= now);
        }
    }

    /// Whether `sid` is revoked.
    pub fn contains(&self, sid: &str) -> bool {
        key(sid).is_some_and(|key| self.until(&key).is_some())
    }

    /// Forgets sessions whose tokens have all expired by `now`.
    pub fn prune(&self, now: i64) {
        let stale = self.base().iter().any(|(_, until)| *until < now)
            || self
                .recent
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .any(|until| *until < now);
        if stale {
            self.rebuild(&[], Some(now));
        }
    }

    /// Every remembered session with its `forget_after`.
    pub fn snapshot(&self) -> Vec<(String, i64)> {
        let base = self.base();
        let recent = self
            .recent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut all: Vec<(String, i64)> = Vec::with_capacity(base.len() + recent.len());
        for (k, until) in base.iter() {
            let until = recent.get(k).map_or(*until, |r| (*r).max(*until));
            all.push((Uuid::from_bytes(*k).to_string(), until));
        }
        for (k, until) in recent {
            if base.binary_search_by_key(&k, |(b, _)| *b).is_err() {
                all.push((Uuid::from_bytes(k).to_string(), until));
            }
        }
        all
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        let base = self.base();
        let recent = self.recent.read().unwrap_or_else(|e| e.into_inner());
        base.len()
            + recent
                .keys()
                .filter(|k| base.binary_search_by_key(*k, |(b, _)| *b).is_err())
                .count()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: u32) -> String {
        Uuid::from_u128(u128::from(n) * 0x9e37_79b9_7f4a_7c15).to_string()
    }

    #[test]
    fn revoked_sessions_are_held_until_their_tokens_cannot_live() {
        let set = RevokedSessions::new();
        assert!(set.insert(&sid(1), 100));
        assert!(set.contains(&sid(1)));
        assert!(!set.contains(&sid(2)));
        set.prune(100);
        assert!(set.contains(&sid(1)));
        set.prune(101);
        assert!(!set.contains(&sid(1)));
    }

    #[test]
    fn inserting_reports_only_what_is_news() {
        let set = RevokedSessions::new();
        assert!(set.insert(&sid(1), 100));
        assert!(!set.insert(&sid(1), 100));
        assert!(!set.insert(&sid(1), 50));
        assert!(set.insert(&sid(1), 150));
        assert_eq!(set.snapshot(), vec![(sid(1), 150)]);
    }

    #[test]
    fn a_sid_that_is_not_a_uuid_is_never_revoked() {
        let set = RevokedSessions::new();
        assert!(!set.insert("not-a-uuid", 100));
        assert!(!set.contains("not-a-uuid"));
        assert!(set.is_empty());
    }

    #[test]
    fn single_inserts_past_the_recent_limit_merge_into_the_base_and_stay_found() {
        let set = RevokedSessions::new();
        let n = (RECENT_LIMIT * 3 + 7) as u32;
        for i in 0..n {
            assert!(set.insert(&sid(i), 1_000 + i64::from(i)));
        }
        assert!(set.recent.read().unwrap().len() < RECENT_LIMIT);
        assert!(set.base().len() > 2 * RECENT_LIMIT, "merged at least twice");
        assert_eq!(set.len(), n as usize);
        assert!((0..n).all(|i| set.contains(&sid(i))));
        assert!(!set.contains(&sid(n)));
        // Raised in the recent map over an older base entry: the later time wins.
        assert!(set.insert(&sid(3), 50_000));
        assert!(!set.insert(&sid(3), 40_000));
        let snapshot: HashMap<String, i64> = set.snapshot().into_iter().collect();
        assert_eq!(snapshot.len(), n as usize);
        assert_eq!(snapshot[&sid(3)], 50_000);
        set.prune(1_000 + i64::from(n) - 10);
        assert_eq!(set.len(), 10 + 1);
        assert!(set.contains(&sid(3)));
    }

    #[test]
    fn a_sorted_first_load_and_later_merges_keep_every_session() {
        let set = RevokedSessions::new();
        let mut first: Vec<(Key, i64)> = (0..100u8).map(|i| ([i; 16], 10)).collect();
        first.sort_unstable();
        assert_eq!(set.insert_ids(first.clone()).len(), 100);
        // Unsorted, with a repeat, one raised and one new: merged.
        let later = vec![([200; 16], 5), ([3; 16], 10), ([7; 16], 20), ([200; 16], 6)];
        set.insert_ids(later);
        let remembered: std::collections::HashMap<String, i64> =
            set.snapshot().into_iter().collect();
        assert_eq!(remembered.len(), 101);
        assert_eq!(remembered[&RevokedSessions::id_text(&[7; 16])], 20);
        assert_eq!(remembered[&RevokedSessions::id_text(&[3; 16])], 10);
        assert_eq!(remembered[&RevokedSessions::id_text(&[200; 16])], 6);
    }

    /// A verifier receiving a large snapshot inserts one session at a time: the base
    /// must be rebuilt a number of times that grows with the log of the set's size.
    #[test]
    fn single_inserts_into_a_large_set_merge_rarely() {
        let set = RevokedSessions::new();
        let ids: Vec<String> = (0..100_000).map(sid).collect();
        set.insert_many(ids.iter().map(|s| (s.as_str(), 100)));
        let before = Arc::as_ptr(&set.base());
        for i in 100_000..100_000 + 12_000 {
            assert!(set.insert(&sid(i), 100));
        }
        assert_eq!(
            Arc::as_ptr(&set.base()),
            before,
            "12,000 inserts into 100,000 stay in the recent map"
        );
        assert_eq!(set.len(), 112_000);
        assert!(set.contains(&sid(100_000 + 11_999)));
    }

    #[test]
    fn a_bulk_insert_reports_the_news_and_merges_once() {
        let set = RevokedSessions::new();
        set.insert(&sid(1), 100);
        let ids: Vec<String> = (0..1_000).map(sid).collect();
        let news = set.insert_many(ids.iter().map(|s| (s.as_str(), 100)));
        assert_eq!(news.len(), 999, "sid(1) was known already");
        assert_eq!(set.len(), 1_000);
        assert!(ids.iter().all(|s| set.contains(s)));
        assert!(
            set.insert_many(ids.iter().map(|s| (s.as_str(), 100)))
                .is_empty()
        );
    }
}
