//! Refresh and Logout.
//!
//! # Refresh rotation and reuse
//!
//! A session is one login and the chain of refreshes after it. Each refresh token
//! belongs to one generation of its session, and the session records the one
//! generation that may still be spent.
//!
//! - Presenting the current generation's token spends it: in one statement the next
//!   token is stored and the session's generation moves on with it (a conditional
//!   insert, guarded by the unique (session, generation): only one caller can win),
//!   and the same statement answers the user the new access token speaks for. Room
//!   on the signing pool and the signing key are taken before it, so once the token
//!   is spent nothing refuses the new pair (only a failing signature, a bug, could).
//!   A token that this statement does not spend is read, and the rules below say
//!   why. The access tokens issued before stay valid until their own expiry:
//!   rotation never breaks the token in use.
//! - Presenting a token whose generation is spent, or losing the race for the current
//!   one, is reuse: someone holds a copy. The whole session is revoked at once, so
//!   neither the thief nor the user can go on with it, and its access tokens stop
//!   verifying (the in-memory revocation set learns it at once).
//! - A revoked session's tokens answer TOKEN_REVOKED; its spent tokens presented again
//!   after a reuse revocation answer REFRESH_TOKEN_REUSED.
//! - With `TESSERA_REFRESH_REUSE_GRACE` set (it is 0 s, off, by default), a client
//!   that lost the answer to a refresh may present the spent token once more within
//!   the grace and is handed the very same successor (derived from the token with a
//!   key from the master key, so no successor is stored in clear and none differs
//!   between tries), as long as that successor is still unspent. A second retry, or
//!   one after the grace, is reuse as above.
//!
//! # Logout
//!
//! Logout revokes the token's session, or every session of its user, only for the
//! live token of a live session. An unknown token, or one of a session that ended
//! (logged out, revoked, expired), is not an error and changes nothing: logout
//! reveals nothing. A spent token is reuse, as in Refresh: its session is revoked,
//! the answer is REFRESH_TOKEN_REUSED, and the user's other sessions are untouched
//! (a stolen old token cannot log anyone out everywhere).

use tracing::{debug, info, warn};

use super::audit::Describe;
use super::tokens::{Holder, offload_error};
use super::{Auth, AuthError, ClientInfo, IssuedTokens};
use crate::domain::SessionId;
use crate::store::{AuditKind, NextToken, RefreshRow, RevokeReason, Rotation, Store};
use crate::token::refresh::RefreshToken;

impl<S: Store> Auth<S> {
    /// Spends a refresh token for a new pair; see the module doc for the rules.
    pub async fn refresh(
        &self,
        token: String,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AuthError> {
        let now = self.clock.now();
        let token = RefreshToken::from_client(token).ok_or(AuthError::TokenInvalid)?;
        // The common case, a live token: spent in one statement, then signed. Room on
        // the signing pool and the key are taken first, so that once the token is
        // spent nothing can refuse the new pair; a full pool refuses before anything
        // is written.
        let seat = self.signer.reserve().map_err(offload_error)?;
        let key = self.signing_key(now)?;
        let next = self.successor(&token);
        let spent = self
            .store
            .spend(&token.hash(), &self.next_token(&next, now))
            .await
            .map_err(AuthError::from_store)?;
        if let Some(spent) = spent {
            let user = Holder {
                id: spent.user_id,
                email: &spent.email,
                roles: &spent.roles,
                email_verified: spent.email_verified,
            };
            let access_token = self
                .sign_seated((seat, key), user, spent.session_id, now)
                .await?;
            info!(
                user_id = %spent.user_id,
                session_id = %spent.session_id,
                generation = spent.generation,
                client_address = client.address.as_deref(),
                "refreshed"
            );
            return Ok(self.pair(access_token, next));
        }
        drop(seat);
        self.refresh_by_the_rules(token, next, client, now).await
    }

    /// A refresh whose token was not spent at once: it is unknown, spent, revoked or
    /// expired, or lost a race. The token is read and each rule of the module doc
    /// applied in turn.
    async fn refresh_by_the_rules(
        &self,
        token: RefreshToken,
        next: RefreshToken,
        client: &ClientInfo,
        now: i64,
    ) -> Result<IssuedTokens, AuthError> {
        let row = self.presented(&token).await?;
        if let Some(again) = self.retried(&token, &row, client, now).await? {
            return Ok(again);
        }
        self.live(&row, client, now).await?;
        // Sign before the rotation commits, so nothing can fail between spending the
        // old token and handing out the new pair.
        let access_token = self.sign_for(&row, now).await?;
        let outcome = self
            .store
            .rotate(row.session_id, row.generation, &self.next_token(&next, now))
            .await
            .map_err(AuthError::from_store)?;
        match outcome {
            Rotation::Rotated => {
                info!(
                    user_id = %row.user_id,
                    session_id = %row.session_id,
                    generation = row.generation + 1,
                    client_address = client.address.as_deref(),
                    "refreshed"
                );
                Ok(self.pair(access_token, next))
            }
            Rotation::Lost { reason } => {
                self.revocations.remember(row.session_id, now);
                match reason {
                    RevokeReason::Reuse => {
                        warn!(
                            user_id = %row.user_id,
                            session_id = %row.session_id,
                            client_address = client.address.as_deref(),
                            "refresh token reuse detected (concurrent); session revoked"
                        );
                        let event = self.event(AuditKind::RefreshTokenReused, Some(client));
                        self.audit(event.user(row.user_id).session(row.session_id))
                            .await;
                        Err(AuthError::RefreshTokenReused)
                    }
                    RevokeReason::Logout
                    | RevokeReason::Admin
                    | RevokeReason::Disabled
                    | RevokeReason::Deleted => Err(AuthError::TokenRevoked),
                }
            }
        }
    }

    /// Revokes the token's session, or all of its user's sessions. Unknown tokens are
    /// not an error: logout reveals nothing.
    pub async fn logout(
        &self,
        token: String,
        all_sessions: bool,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let token = RefreshToken::from_client(token).ok_or(AuthError::InvalidArgument {
            field: "refresh_token",
            problem: "is required",
        })?;
        let Some(row) = self
            .store
            .refresh_token(&token.hash())
            .await
            .map_err(AuthError::from_store)?
        else {
            debug!("logout with an unknown refresh token");
            return Ok(());
        };
        match self.live(&row, client, now).await {
            Ok(()) => {}
            // The session is over already: nothing to do, and nothing to reveal.
            Err(AuthError::TokenRevoked | AuthError::TokenExpired) => {
                debug!("logout with the token of an ended session");
                return Ok(());
            }
            Err(AuthError::RefreshTokenReused) if row.revoked.is_some() => {
                debug!("logout with a spent token of a revoked session");
                return Ok(());
            }
            // A spent token of a live session is reuse, here as in Refresh: it
            // revokes its session and never reaches the user's other sessions.
            Err(e) => return Err(e),
        }
        if all_sessions {
            let revoked = self
                .store
                .revoke_user_sessions(row.user_id, RevokeReason::Logout, now)
                .await
                .map_err(AuthError::from_store)?;
            let sessions = revoked.len();
            self.revocations.remember_ids(revoked, now);
            info!(
                user_id = %row.user_id,
                sessions,
                client_address = client.address.as_deref(),
                "logged out everywhere"
            );
            let event = self.event(AuditKind::LoggedOut, Some(client));
            self.audit(
                event
                    .user(row.user_id)
                    .session(row.session_id)
                    .detail("all"),
            )
            .await;
        } else if self
            .revoke(row.session_id, RevokeReason::Logout, now)
            .await?
        {
            info!(
                user_id = %row.user_id,
                session_id = %row.session_id,
                client_address = client.address.as_deref(),
                "logged out"
            );
            let event = self.event(AuditKind::LoggedOut, Some(client));
            self.audit(event.user(row.user_id).session(row.session_id))
                .await;
        }
        Ok(())
    }

    /// A retry within the reuse grace: the token was spent by the rotation just before
    /// (its successor is the session's current token, issued less than the grace
    /// ago) and was not retried before. Then the same successor is handed out again,
    /// with a new access token, and the token is marked retried, so a third
    /// presentation is reuse. `None` when this is not such a retry.
    async fn retried(
        &self,
        token: &RefreshToken,
        row: &RefreshRow,
        client: &ClientInfo,
        now: i64,
    ) -> Result<Option<IssuedTokens>, AuthError> {
        let Some((key, grace)) = &self.reuse_grace else {
            return Ok(None);
        };
        let just_spent = row.generation + 1 == row.session_generation;
        if !just_spent || row.revoked.is_some() || row.expires_at <= now {
            return Ok(None);
        }
        let successor = token.successor(key);
        let again = self
            .store
            .regrant(
                &token.hash(),
                row.session_id,
                &successor.hash(),
                now - grace,
            )
            .await
            .map_err(AuthError::from_store)?;
        if !again {
            return Ok(None);
        }
        let access_token = self.sign_for(row, now).await?;
        info!(
            user_id = %row.user_id,
            session_id = %row.session_id,
            client_address = client.address.as_deref(),
            "refresh retried within the reuse grace; the same successor handed out again"
        );
        Ok(Some(self.pair(access_token, successor)))
    }

    /// A new access token for the token's session, saying what the store says of its
    /// user now (email and roles were read with the token).
    async fn sign_for(&self, row: &RefreshRow, now: i64) -> Result<String, AuthError> {
        let user = Holder {
            id: row.user_id,
            email: &row.email,
            roles: &row.roles,
            email_verified: row.email_verified,
        };
        self.sign(user, row.session_id, now).await
    }

    /// The stored row of a presented refresh token; an unknown one is TOKEN_INVALID.
    pub(super) async fn presented(&self, token: &RefreshToken) -> Result<RefreshRow, AuthError> {
        self.store
            .refresh_token(&token.hash())
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::TokenInvalid)
    }

    /// Whether a presented refresh token is its session's live one at `now`: the
    /// rules of the module doc, shared by Refresh and Logout. A spent token of a live
    /// session is reuse, and revokes the session here.
    pub(super) async fn live(
        &self,
        row: &RefreshRow,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(), AuthError> {
        let spent = row.generation < row.session_generation;
        match row.revoked {
            Some(RevokeReason::Reuse) if spent => return Err(AuthError::RefreshTokenReused),
            Some(_) => return Err(AuthError::TokenRevoked),
            None => {}
        }
        // A token lives for its lifetime and not a second more: at `expires_at` it is
        // over.
        if row.expires_at <= now {
            return Err(AuthError::TokenExpired);
        }
        if spent {
            // A spent token came back: revoke the session. The store's conditional
            // update makes this idempotent under races.
            self.revoke(row.session_id, RevokeReason::Reuse, now)
                .await?;
            warn!(
                user_id = %row.user_id,
                session_id = %row.session_id,
                client_address = client.address.as_deref(),
                "refresh token reuse detected; session revoked"
            );
            let event = self.event(AuditKind::RefreshTokenReused, Some(client));
            self.audit(event.user(row.user_id).session(row.session_id))
                .await;
            return Err(AuthError::RefreshTokenReused);
        }
        Ok(())
    }

    /// The token that follows `token`. With a reuse grace it is derived from the
    /// token, so a retry can be handed the very same one; without, it is fresh
    /// randomness.
    fn successor(&self, token: &RefreshToken) -> RefreshToken {
        match &self.reuse_grace {
            Some((key, _)) => token.successor(key),
            None => RefreshToken::generate(),
        }
    }

    /// `next` as the store keeps it, issued at `now`.
    fn next_token(&self, next: &RefreshToken, now: i64) -> NextToken {
        NextToken {
            hash: next.hash(),
            issued_at: now,
            expires_at: now.saturating_add(self.refresh_ttl_secs),
        }
    }

    /// Revokes one session in the store and in the revocation set; true if it was live.
    pub(super) async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<bool, AuthError> {
        let was_live = self
            .store
            .revoke_session(sid, reason, now)
            .await
            .map_err(AuthError::from_store)?;
        // Remembered even if it was revoked already: the set is idempotent, and an
        // instance that missed the first revocation learns it here.
        self.revocations.remember(sid, now);
        Ok(was_live)
    }
}
