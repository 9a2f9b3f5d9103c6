//! Who is asking, for the RPCs a user makes about their own account
//! (ChangePassword, DeleteAccount): one of their tokens, and their current password
//! checked as a login checks it.
//!
//! The password check runs under the same failed-login budget as Login (keyed by the
//! user's email and the client's address), so a stolen access token cannot be used
//! to guess the password any faster than the login form allows.

use tracing::info;

use super::audit::Describe;
use super::{Auth, AuthError, ClientInfo};
use crate::domain::{Password, SessionId, UserId};
use crate::store::{AuditKind, Store, UserRow};
use crate::token::refresh::RefreshToken;

/// How the caller shows who they are.
#[derive(Debug)]
pub enum Credential {
    /// An access token of theirs: its session is the caller's.
    AccessToken(String),
    /// The live refresh token of their session.
    RefreshToken(String),
}

/// The current password as the client sent it, checked for size only.
pub(super) fn current_password(raw: String) -> Result<Password, AuthError> {
    Password::for_login(raw).ok_or(AuthError::InvalidArgument {
        field: "current_password",
        problem: "must be 1 to 1024 bytes",
    })
}

impl<S: Store> Auth<S> {
    /// A new password from the request's `new_password`, under the rules of Register.
    pub(super) fn new_password(&self, raw: String) -> Result<Password, AuthError> {
        let rules = self.hasher.rules();
        Password::new(raw, rules).map_err(|problem| AuthError::WeakPassword {
            field: "new_password",
            problem,
            rules,
        })
    }

    /// The credential's user and session, once `current` is shown to be their
    /// password (under the failed-login budget). `action` names the RPC in the log.
    pub(super) async fn confirm(
        &self,
        credential: Credential,
        current: &Password,
        client: &ClientInfo,
        action: &'static str,
    ) -> Result<(UserRow, SessionId), AuthError> {
        let now = self.clock.now();
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
        let matched = match self.hasher.verify(current, Some(&user.password_hash)).await {
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
                action,
                "refused"
            );
            let event = self.event(AuditKind::LoginFailed, Some(client));
            let detail = format!("INVALID_CREDENTIALS ({action})");
            self.audit(event.user(user.id).session(session_id).detail(detail))
                .await;
            return Err(AuthError::InvalidCredentials);
        }
        self.throttle
            .succeeded(&self.store, &user.email, client)
            .await
            .map_err(AuthError::from_store)?;
        Ok((user, session_id))
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
