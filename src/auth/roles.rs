//! Granting and revoking roles. Tokens carry a change from the user's next login or
//! refresh. Revoking a role also ends the user's sessions unless the operator keeps
//! them, so tokens that carry the role stop verifying at once rather than at their
//! expiry; with the sessions kept, they keep the role until they expire.

use crate::domain::{Email, Role};
use crate::store::{RevokeReason, SessionStore, StoreError, UserStore};

/// What a role change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// The user's roles changed; a revocation ended this many of their sessions.
    Changed { sessions_ended: usize },
    /// The user had (or lacked) the role already.
    Unchanged,
    /// No user has this email.
    NoSuchUser,
}

/// What to do with a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleEdit {
    /// Give it.
    Grant,
    /// Take it, ending the user's sessions unless `keep_sessions`.
    Revoke { keep_sessions: bool },
}

impl RoleEdit {
    /// What the edit does, in a word.
    pub fn verb(self) -> &'static str {
        match self {
            RoleEdit::Grant => "granted",
            RoleEdit::Revoke { .. } => "revoked",
        }
    }
}

/// Applies `edit` to `role` for the user with `email`, at `now`. A conditional
/// update per attempt: a concurrent change makes it miss, and the roles are read
/// again.
pub async fn change_role<S: UserStore + SessionStore>(
    store: &S,
    email: &Email,
    role: &Role,
    edit: RoleEdit,
    now: i64,
) -> Result<RoleChange, StoreError> {
    let grant = edit == RoleEdit::Grant;
    loop {
        let Some(user) = store.user_by_email(email).await? else {
            return Ok(RoleChange::NoSuchUser);
        };
        let has = user.roles.iter().any(|r| r == role.as_str());
        if has == grant {
            return Ok(RoleChange::Unchanged);
        }
        let mut roles = user.roles.clone();
        if grant {
            roles.push(role.as_str().to_owned());
        } else {
            roles.retain(|r| r != role.as_str());
        }
        if store
            .replace_roles(user.id, &user.roles, &roles, now)
            .await?
        {
            let sessions_ended = match edit {
                RoleEdit::Revoke {
                    keep_sessions: false,
                } => store
                    .revoke_user_sessions(user.id, RevokeReason::Logout, now)
                    .await?
                    .len(),
                _ => 0,
            };
            return Ok(RoleChange::Changed { sessions_ended });
        }
    }
}
