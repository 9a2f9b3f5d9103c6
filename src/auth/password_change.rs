//! ChangePassword: the caller shows one of their tokens and the current password,
//! and every other session of theirs ends.
//!
//! The caller and the current password are checked as `credential.rs` says (under
//! the failed-login budget). The new password meets the rules of Register and
//! differs from the current one. The new hash and the revocation of the user's
//! other sessions are one transaction; the session of the token presented stays, so
//! the client that changed the password goes on with the tokens it holds.

use tracing::info;

use super::audit::Describe;
use super::credential::current_password;
use super::{Auth, AuthError, ClientInfo, Credential};
use crate::domain::SessionId;
use crate::store::{AuditKind, Store};

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
        let current = current_password(current)?;
        let new = self.new_password(new)?;
        // Both are the caller's own input: refusing this first tells them nothing.
        if new.expose() == current.expose() {
            return Err(AuthError::PasswordUnchanged);
        }
        let (user, session_id) = self
            .confirm(credential, &current, client, "password change")
            .await?;
        let hash = self
            .hasher
            .hash(&new)
            .await
            .map_err(AuthError::from_hashing)?;
        let now = self.clock.now();
        let revoked = self
            .store
            .change_password(user.id, &hash, session_id, now)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::TokenInvalid)?;
        let revoked_sessions = revoked.len();
        self.revocations.remember_ids(revoked, now);
        info!(
            user_id = %user.id,
            session_id = %session_id,
            revoked_sessions,
            client_address = client.address.as_deref(),
            "password changed; the user's other sessions revoked"
        );
        let event = self.event(AuditKind::PasswordChanged, Some(client));
        self.audit(event.user(user.id).session(session_id)).await;
        Ok(PasswordChanged {
            kept_session: session_id,
            revoked_sessions,
        })
    }
}
