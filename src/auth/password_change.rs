//! ChangePassword: the caller shows one of their tokens and the current password,
//! and every other session of theirs ends.
//!
//! The current password is checked as a login checks it, under the same
//! failed-login budget (keyed by the user's email and the client's address), so a
//! stolen access token cannot be used to guess the password any faster than the
//! login form allows. The new password meets the rules of Register and differs from
//! the current one. The new hash and the revocation of the user's other sessions
//! are one transaction; the session of the token presented stays, so the client
//! that changed the password goes on with the tokens it holds.

use tracing::info;

use super::{Auth, AuthError, ClientInfo};
use crate::domain::{Password, SessionId, UserId};
use crate::store::{RevokedRow, Store};
use crate::token::refresh::RefreshToken;

/// How the caller shows who they are.
#[derive(Debug)]
pub enum Credential {
    /// An access token of theirs: its session is the one that stays.
    AccessToken(String),
    /// The live refresh token of their session.
    RefreshToken(String),
}

/// What a password change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordChanged {
    /// The session of the token presented, which stays.
    pub kept_session: SessionId,
    /// How many other sessions were revoked.
    pub revoked_sessions: usize,
}

impl<S: Store> Auth<S> {
    /// Changes the password of the credential's user; see the module doc.
    pub async fn change_password(
        &self,
        credential: Credential,
        current: String,
        new: String,
        client: &ClientInfo,
    ) -> Result<PasswordChanged, AuthError> {
        let now = self.clock.now();
        let current = Password::for_login(current).ok_or(AuthError::InvalidArgument {
            field: "current_password",
            problem: "must be 1 to 1024 bytes",
        })?;
        let rules = self.hasher.rules();
        let new = Password::new(new, rules).map_err(|problem| AuthError::WeakPassword {
            field: "new_password",
            problem,
            rules,
        })?;
        // Both are the caller's own input: refusing this first tells them nothing.
        if new.expose() == current.expose() {
            return Err(AuthError::PasswordUnchanged);
        }
        let (user_id, session_id) = self.caller(credential, client, now).await?;
        let user = self
            .store
            .user_by_id(user_id)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::TokenInvalid)?;
        self.throttle
            .admit(&self.store, &user.email, client, now)
            .await?;
        let matched = match self
            .hasher
            .verify(&current, Some(&user.password_hash))
            .await
        {
            Ok(matched) => matched,
            Err(e) => {
                // Not a failed guess: give the attempt back (best effort).
                let _ = self
                    .throttle
                    .release(&self.store, &user.email, client)
                    .await;
                return Err(AuthError::from_hashing(e));
            }
        };
        if !matched {
            info!(
                user_id = %user.id,
                session_id = %session_id,
                client_address = client.address.as_deref(),
                reason = "INVALID_CREDENTIALS",
                "password change refused"
            );
            return Err(AuthError::InvalidCredentials);
        }
        self.throttle
            .succeeded(&self.store, &user.email, client)
            .await
            .map_err(AuthError::from_store)?;
        let hash = self
            .hasher
            .hash(&new)
            .await
            .map_err(AuthError::from_hashing)?;
        let revoked = self
            .store
            .change_password(user.id, &hash, session_id, now)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::TokenInvalid)?;
        let revoked_sessions = revoked.len();
        self.revocations
            .remember_all(revoked.into_iter().map(|session_id| RevokedRow {
                session_id,
                revoked_at: now,
            }));
        info!(
            user_id = %user.id,
            session_id = %session_id,
            revoked_sessions,
            client_address = client.address.as_deref(),
            "password changed; the user's other sessions revoked"
        );
        Ok(PasswordChanged {
            kept_session: session_id,
            revoked_sessions,
        })
    }

    /// The user and session the credential speaks for. An access token is verified
    /// as Verify does (revocation included); a refresh token must be its live
    /// session's live one, and a spent one is reuse, as in Refresh.
    async fn caller(
        &self,
        credential: Credential,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(UserId, SessionId), AuthError> {
        match credential {
            Credential::AccessToken(token) => {
                let claims = self.verify(&token)?;
                let user = UserId::parse(&claims.sub).ok_or(AuthError::TokenInvalid)?;
                let session = SessionId::parse(&claims.sid).ok_or(AuthError::TokenInvalid)?;
                Ok((user, session))
            }
            Credential::RefreshToken(token) => {
                let token = RefreshToken::from_client(token).ok_or(AuthError::TokenInvalid)?;
                let row = self.presented(&token).await?;
                self.live(&row, client, now).await?;
                Ok((row.user_id, row.session_id))
            }
        }
    }
}
