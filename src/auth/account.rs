//! DeleteAccount: the caller shows one of their tokens and their password, and the
//! account ends.
//!
//! Every session is revoked and the password hash, roles and refresh tokens are
//! removed at once, in one transaction; a tombstone keeps the email taken for
//! `TESSERA_EMAIL_REUSE_DELAY` (0 by default: free at once). The user's access
//! tokens stop verifying here and on live-mode verifiers at once, as after a
//! logout. The admin API's DeleteUser ends an account the same way.

use tracing::info;

use super::audit::Describe;
use super::credential::current_password;
use super::{Auth, AuthError, ClientInfo, Credential};
use crate::domain::UserId;
use crate::store::{AuditKind, Store};

impl<S: Store> Auth<S> {
    /// Deletes the credential's user once `current` is shown to be their password;
    /// answers how many sessions ended.
    pub async fn delete_account(
        &self,
        credential: Credential,
        current: String,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let current = current_password(current)?;
        let (user, session_id) = self
            .confirm(credential, &current, client, "account deletion")
            .await?;
        let sessions = self.delete(user.id).await?;
        info!(
            user_id = %user.id,
            session_id = %session_id,
            sessions_revoked = sessions,
            client_address = client.address.as_deref(),
            "account deleted"
        );
        let event = self.event(AuditKind::AccountDeleted, Some(client));
        self.audit(event.user(user.id).session(session_id)).await;
        Ok(sessions)
    }

    /// Turns the user into a tombstone and revokes every session of theirs, in the
    /// store and in the revocation set; answers how many sessions ended.
    pub(super) async fn delete(&self, user: UserId) -> Result<usize, AuthError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .delete_user(user, now)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::UserNotFound)?;
        let sessions = revoked.len();
        self.revocations.remember_ids(revoked, now);
        Ok(sessions)
    }
}
