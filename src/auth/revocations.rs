//! The revocation hub: the in-memory set of revoked sessions that Verify consults,
//! and the broadcast that WatchRevocations streams follow.
//!
//! Every revocation this instance learns goes into the set: its own logouts and
//! reuse revocations, what other instances announce, and the periodic re-read.
//! Whatever is new to the set is also broadcast. A session is remembered until
//! `revoked_at + access TTL + leeway`, after which none of its tokens can verify.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::AuthError;
use crate::domain::SessionId;
use crate::store::{RevokedRow, SessionStore};
use crate::token::RevokedSessions;

/// How many revocations a slow WatchRevocations stream may fall behind before it
/// is sent the whole set again.
const REVOCATION_BACKLOG: usize = 1024;

/// A revoked session, as WatchRevocations streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: String,
    /// After this time no token of the session can verify any more.
    pub forget_after: i64,
}

/// What WatchRevocations streams follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// Sessions were revoked: one, or all that one statement or one sync read
    /// revoked (a logout everywhere, a disabled user), together.
    Revoked(Arc<[Revocation]>),
    /// The published signing keys changed.
    KeysChanged,
}

/// The revoked sessions a start-up read found, sorted by id (so that building the
/// set from them sorts nothing), and the revocation number to follow the store
/// from.
pub struct Loaded {
    rows: Vec<RevokedRow>,
    cursor: i64,
}

impl Loaded {
    /// Reads the sessions revoked at or after `since`. The revocation number is read
    /// first, so nothing committed meanwhile is missed. Needs no [`Revocations`]:
    /// the start can read while it checks the database.
    pub async fn read<S: SessionStore>(store: &S, since: i64) -> Result<Self, AuthError> {
        let cursor = store
            .revocation_cursor()
            .await
            .map_err(AuthError::from_store)?;
        let mut rows = store
            .revoked_since(since)
            .await
            .map_err(AuthError::from_store)?;
        rows.sort_unstable_by_key(|row| row.session_id.into_bytes());
        Ok(Self { rows, cursor })
    }
}

/// The revoked sessions this instance knows, and their broadcast.
pub struct Revocations {
    set: Arc<RevokedSessions>,
    /// Every revocation the set learns, for WatchRevocations streams.
    feed: broadcast::Sender<Watched>,
    /// How long a revoked session must be remembered: access TTL plus leeway.
    memory_secs: i64,
}

impl Revocations {
    /// An empty hub remembering each session `memory_secs` after its revocation.
    pub fn new(memory_secs: i64) -> Self {
        Self {
            set: Arc::new(RevokedSessions::new()),
            feed: broadcast::channel(REVOCATION_BACKLOG).0,
            memory_secs,
        }
    }

    /// The set, for verifying.
    pub fn set(&self) -> &RevokedSessions {
        &self.set
    }

    /// How far back a revocation can still matter at `now`.
    pub fn horizon(&self, now: i64) -> i64 {
        now - self.memory_secs
    }

    /// Remembers `sid` as revoked at `revoked_at`, and broadcasts it if it is news.
    pub fn remember(&self, sid: SessionId, revoked_at: i64) {
        let sid = sid.to_string();
        let forget_after = revoked_at.saturating_add(self.memory_secs);
        if self.set.insert(&sid, forget_after) {
            // No receiver is fine: nobody is watching.
            let _ = self.feed.send(Watched::Revoked(Arc::new([Revocation {
                session_id: sid,
                forget_after,
            }])));
        }
    }

    /// Remembers sessions one statement revoked at `now` (a logout everywhere, a
    /// password change, an admin's call); see [`Revocations::remember_all`].
    pub fn remember_ids(&self, ids: Vec<SessionId>, now: i64) -> usize {
        self.remember_all(ids.into_iter().map(|session_id| RevokedRow {
            session_id,
            revoked_at: now,
        }))
    }

    /// Remembers many revocations with one rebuild of the set, and broadcasts those
    /// that are news as one [`Watched::Revoked`] (only if anyone watches: at start
    /// nobody does), so a million sessions revoked at once are one message to the
    /// feed, not a million that overrun its backlog. Returns how many were news.
    pub fn remember_all(&self, rows: impl IntoIterator<Item = RevokedRow>) -> usize {
        let memory = self.memory_secs;
        let news = self.set.insert_ids(rows.into_iter().map(|row| {
            let forget_after = row.revoked_at.saturating_add(memory);
            (row.session_id.into_bytes(), forget_after)
        }));
        if self.feed.receiver_count() > 0 && !news.is_empty() {
            let revoked: Arc<[Revocation]> = news
                .iter()
                .map(|(id, forget_after)| Revocation {
                    session_id: RevokedSessions::id_text(id),
                    forget_after: *forget_after,
                })
                .collect();
            let _ = self.feed.send(Watched::Revoked(revoked));
        }
        news.len()
    }

    /// Loads the sessions whose tokens may still be live at `now`; returns how many,
    /// and the revocation number to follow the store from.
    pub async fn load<S: SessionStore>(
        &self,
        store: &S,
        now: i64,
    ) -> Result<(usize, i64), AuthError> {
        let read = Loaded::read(store, self.horizon(now)).await?;
        Ok(self.remember_loaded(read))
    }

    /// Remembers what [`Loaded::read`] read; returns how many were news, and the
    /// revocation number to follow the store from.
    pub fn remember_loaded(&self, loaded: Loaded) -> (usize, i64) {
        (self.remember_all(loaded.rows), loaded.cursor)
    }

    /// Reads the revocations committed after number `cursor`; returns how many were
    /// news, and the number to follow from next.
    pub async fn follow<S: SessionStore>(
        &self,
        store: &S,
        cursor: i64,
    ) -> Result<(usize, i64), AuthError> {
        let (rows, next) = store
            .revoked_after(cursor)
            .await
            .map_err(AuthError::from_store)?;
        Ok((self.remember_all(rows), next))
    }

    /// A receiver of every revocation learned from now on. A follower that also
    /// wants what came before subscribes first and takes the [`Self::snapshot`]
    /// after, so nothing falls between the two.
    pub fn follow_news(&self) -> broadcast::Receiver<Watched> {
        self.feed.subscribe()
    }

    /// Every session remembered now.
    pub fn snapshot(&self) -> Vec<Revocation> {
        self.set
            .snapshot()
            .into_iter()
            .map(|(session_id, forget_after)| Revocation {
                session_id,
                forget_after,
            })
            .collect()
    }

    /// Tells the watchers that the published keys changed.
    pub fn keys_changed(&self) {
        let _ = self.feed.send(Watched::KeysChanged);
    }

    /// Forgets the sessions whose tokens have all expired by `now`.
    pub fn prune(&self, now: i64) {
        self.set.prune(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_revoked_together_are_one_broadcast_and_only_the_news() {
        let revocations = Revocations::new(900);
        let mut news = revocations.follow_news();
        let ids: Vec<SessionId> = (0..3_000).map(|_| SessionId::random()).collect();
        revocations.remember(ids[0], 1_000);
        assert!(matches!(news.try_recv(), Ok(Watched::Revoked(one)) if one.len() == 1));
        // The first is known already: the other 2,999, in one message.
        assert_eq!(revocations.remember_ids(ids.clone(), 1_000), 2_999);
        let Ok(Watched::Revoked(all)) = news.try_recv() else {
            panic!("one broadcast for the batch");
        };
        assert_eq!(all.len(), 2_999);
        assert!(all.iter().all(|r| r.forget_after == 1_900));
        assert!(news.try_recv().is_err(), "nothing more");
        // Nothing new: nothing sent.
        assert_eq!(revocations.remember_ids(ids, 1_000), 0);
        assert!(news.try_recv().is_err());
    }
}
