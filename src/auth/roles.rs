//! Granting and revoking roles. Tokens carry a change from the user's next login or
//! refresh; access tokens issued before keep their roles until they expire.

use crate::domain::{Email, Role};
use crate::store::{StoreError, UserStore};

/// What a role change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// The user's roles changed.
    Changed,
    /// The user had (or lacked) the role already.
    Unchanged,
    /// No user has this email.
    NoSuchUser,
}

/// Grants (`grant = true`) or revokes `role` for the user with `email`, at `now`.
/// A conditional update per attempt: a concurrent change makes it miss, and the
/// roles are read again.
pub async fn change_role<S: UserStore>(
    store: &S,
    email: &Email,
    role: &Role,
    grant: bool,
    now: i64,
) -> Result<RoleChange, StoreError> {
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
            return Ok(RoleChange::Changed);
        }
    }
}
