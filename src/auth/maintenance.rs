//! What the server runs beside the RPCs: reading revocations into the set (at start,
//! from other instances' announcements, and periodically), and purging what expired.

use tokio::sync::broadcast;

use super::{Auth, AuthError, Loaded, Revocation, Watched};
use crate::domain::{Email, UserId};
use crate::store::{RevokedRow, Store, StoreError};

/// The email normalization of this version (see `migrations/*/0003_email_form.sql`):
/// 1 trimmed and lower-cased; 2 also NFKC, IDNA domains, no invisible characters;
/// 3 NFKC both before and after lower-casing, so that compatibility capitals (U+210C
/// is `H`) fold too. Stores below it are brought to it at start.
const EMAIL_FORM: i64 = 3;

/// What bringing the stored emails to the current normalization did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailReport {
    /// Rows rewritten to their new form.
    pub rewritten: usize,
    /// Users whose new form another user holds already (that user, if still found):
    /// left as they are.
    pub collisions: Vec<(UserId, Option<UserId>)>,
    /// Users whose stored email is no longer valid: left as they are.
    pub invalid: Vec<UserId>,
}

impl<S: Store> Auth<S> {
    /// Loads the sessions whose tokens may still be live into the revocation set;
    /// returns how many, and the revocation number to catch up from.
    pub async fn load_revocations(&self) -> Result<(usize, i64), AuthError> {
        self.revocations.load(&self.store, self.clock.now()).await
    }

    /// Remembers revoked sessions read before the use cases were wired (the start
    /// reads them while it checks the database); as [`Auth::load_revocations`].
    pub fn remember_loaded(&self, loaded: Loaded) -> (usize, i64) {
        self.revocations.remember_loaded(loaded)
    }

    /// Reads the revocations committed after number `cursor` into the set: the
    /// periodic catch-up that heals a missed announcement. Returns how many were
    /// news, and the number to catch up from next time.
    pub async fn catch_up_revocations(&self, cursor: i64) -> Result<(usize, i64), AuthError> {
        self.revocations.follow(&self.store, cursor).await
    }

    /// Records a revocation another instance announced.
    pub fn note_revoked(&self, row: RevokedRow) {
        self.revocations.remember(row.session_id, row.revoked_at);
    }

    /// A receiver of every revocation learned from now on (see `revocations.rs`).
    pub fn follow_revocations(&self) -> broadcast::Receiver<Watched> {
        self.revocations.follow_news()
    }

    /// Every session remembered as revoked now.
    pub fn revoked_sessions(&self) -> Vec<Revocation> {
        self.revocations.snapshot()
    }

    /// Brings stored emails to the current normalization ([`crate::domain::Email`]),
    /// once: each row whose email now normalizes differently is rewritten, unless
    /// another account already holds the new form. Such collisions, and emails that
    /// are no longer valid, are reported and left as they are, never merged; until
    /// none is left, the next start looks again.
    pub async fn renormalize_emails(&self) -> Result<EmailReport, AuthError> {
        let mut report = EmailReport::default();
        let store = &self.store;
        if store.email_form().await.map_err(AuthError::from_store)? >= EMAIL_FORM {
            return Ok(report);
        }
        for (id, stored) in store.user_emails().await.map_err(AuthError::from_store)? {
            let Ok(email) = Email::parse(&stored) else {
                report.invalid.push(id);
                continue;
            };
            if email.as_str() == stored {
                continue;
            }
            match store.rewrite_email(id, &stored, &email).await {
                Ok(_) => report.rewritten += 1,
                Err(StoreError::Conflict) => {
                    let holder = store
                        .user_by_email(&email)
                        .await
                        .map_err(AuthError::from_store)?
                        .map(|u| u.id);
                    report.collisions.push((id, holder));
                }
                Err(e) => return Err(AuthError::from_store(e)),
            }
        }
        if report.collisions.is_empty() && report.invalid.is_empty() {
            store
                .set_email_form(EMAIL_FORM)
                .await
                .map_err(AuthError::from_store)?;
        }
        Ok(report)
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
        // Tombstones go once their email is free again and no session refers to them.
        let tombstones = self
            .store
            .purge_tombstones(now.saturating_sub(self.email_reuse_delay_secs))
            .await
            .map_err(AuthError::from_store)?;
        let one_time = self
            .store
            .purge_one_time(now)
            .await
            .map_err(AuthError::from_store)?;
        let audit = self
            .store
            .purge_audit(now.saturating_sub(self.audit_retention_secs))
            .await
            .map_err(AuthError::from_store)?;
        Ok(sessions + windows + tombstones + one_time + audit + keys.len() as u64)
    }
}
