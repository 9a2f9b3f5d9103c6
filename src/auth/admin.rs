//! The admin API's use cases: users, roles and sessions, on behalf of a caller the
//! transport has verified and found to hold the `admin` role ([`Auth::admin`]).
//!
//! - Disabling a user revokes every session of theirs in the same transaction, and
//!   their logins answer ACCOUNT_DISABLED after the password check; enabling them
//!   lets them log in again (the revoked sessions stay revoked).
//! - A role change takes effect at the user's next login or refresh: tokens issued
//!   before keep the roles they carry until they expire.
//! - Deleting a user leaves a tombstone (see [`crate::store::AccountStore`]) and
//!   revokes every session, so their tokens stop verifying here and on live-mode
//!   verifiers at once.
//!
//! Every call is logged and recorded in the audit trail with the admin's user id
//! as `actor` (reads as `admin_query`, naming the call).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tracing::info;

use super::audit::Describe;
use super::{Auth, AuthError};
use crate::domain::{Role, SessionId, User, UserId};
use crate::store::{AuditKind, RevokeReason, SessionRow, Store, UserQuery};

/// The largest page the list calls answer.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most roles one user may hold (they all travel in every access token).
pub const MAX_ROLES: usize = 32;
/// A role change that keeps losing to concurrent changes gives up after this many tries.
const ROLE_RETRIES: usize = 8;

/// One page of a list, and the token of the next (none after the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// Which users to list, as the caller asked.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub email_prefix: String,
    pub role: String,
    pub page_token: String,
    pub page_size: u32,
}

/// The admin use cases, acting for `actor` (the admin's user id, for the log).
pub struct AdminAccounts<'a, S: Store> {
    auth: &'a Auth<S>,
    actor: String,
}

impl<S: Store> Auth<S> {
    /// The admin use cases for the verified admin `actor`. The caller (the transport)
    /// has checked the role.
    pub fn admin(&self, actor: &str) -> AdminAccounts<'_, S> {
        AdminAccounts {
            auth: self,
            actor: actor.to_owned(),
        }
    }
}

fn invalid(field: &'static str, problem: &'static str) -> AuthError {
    AuthError::InvalidArgument { field, problem }
}

/// A user id from the request.
fn user_id(raw: &str) -> Result<UserId, AuthError> {
    UserId::parse(raw.trim()).ok_or(invalid("user_id", "must be a user's id (a UUID)"))
}

/// The page size asked for: 0 is the default, more than the maximum is refused.
pub(super) fn page_size(asked: u32) -> Result<u32, AuthError> {
    match asked {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(invalid("page_size", "must be at most 500")),
    }
}

fn encode_token(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn decode_token(token: &str) -> Result<Option<String>, AuthError> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(Some)
        .ok_or(invalid("page_token", "is not a token this list handed out"))
}

/// Takes one more item than asked for to learn whether a next page exists.
pub(super) fn paged<T>(mut items: Vec<T>, size: u32, token_of: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() > size as usize;
    items.truncate(size as usize);
    let next_page_token = more.then(|| items.last().map(&token_of)).flatten();
    Page {
        items,
        next_page_token: next_page_token.map(|t| encode_token(&t)),
    }
}

impl<S: Store> AdminAccounts<'_, S> {
    pub(super) fn auth(&self) -> &Auth<S> {
        self.auth
    }

    /// Records what the admin did, about `user` when there is one.
    pub(super) async fn record(&self, kind: AuditKind, user: Option<UserId>, detail: &str) {
        let mut event = self.auth.event(kind, None).actor(&self.actor);
        if let Some(user) = user {
            event = event.user(user);
        }
        if !detail.is_empty() {
            event = event.detail(detail);
        }
        self.auth.audit(event).await;
    }

    /// Users by email, filtered by an email prefix and a role.
    pub async fn list_users(&self, filter: UserFilter) -> Result<Page<User>, AuthError> {
        let size = page_size(filter.page_size)?;
        let prefix = filter.email_prefix.trim().to_lowercase();
        if prefix.len() > crate::domain::MAX_EMAIL_BYTES {
            return Err(invalid("email_prefix", "is longer than an email"));
        }
        let role = match filter.role.trim() {
            "" => None,
            raw => Some(Role::parse(raw).ok_or(invalid("role", "is not a role name"))?),
        };
        let query = UserQuery {
            email_prefix: (!prefix.is_empty()).then_some(prefix),
            role: role.map(|r| r.as_str().to_owned()),
            after: decode_token(&filter.page_token)?,
            limit: size + 1,
        };
        let rows = self
            .auth
            .store
            .list_users(&query)
            .await
            .map_err(AuthError::from_store)?;
        let users = rows.into_iter().map(|row| row.into_user()).collect();
        self.record(AuditKind::AdminQuery, None, "ListUsers").await;
        Ok(paged(users, size, |u: &User| u.email.as_str().to_owned()))
    }

    /// One user.
    pub async fn get_user(&self, id: &str) -> Result<User, AuthError> {
        let id = user_id(id)?;
        let user = self.existing(id).await?;
        self.record(AuditKind::AdminQuery, Some(id), "GetUser")
            .await;
        Ok(user)
    }

    /// Disables (or enables again) a user; disabling revokes every session of
    /// theirs. Answers the user as they are now and how many sessions ended.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<(User, usize), AuthError> {
        let id = user_id(id)?;
        let now = self.auth.clock.now();
        let revoked = self
            .auth
            .store
            .set_disabled(id, disabled, now)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::UserNotFound)?;
        let sessions = revoked.len();
        self.auth.revocations.remember_ids(revoked, now);
        let user = self.existing(id).await?;
        let kind = if disabled {
            AuditKind::AccountDisabled
        } else {
            AuditKind::AccountEnabled
        };
        self.record(kind, Some(id), "").await;
        info!(
            actor = %self.actor,
            user_id = %id,
            disabled,
            sessions_revoked = sessions,
            "admin: user {}",
            if disabled { "disabled" } else { "enabled" }
        );
        Ok((user, sessions))
    }

    /// Sets a user's roles to exactly `roles` (each a valid role name, duplicates
    /// dropped); answers the roles now stored. Tokens carry them from the user's next
    /// login or refresh.
    pub async fn set_roles(&self, id: &str, roles: Vec<String>) -> Result<Vec<String>, AuthError> {
        let id = user_id(id)?;
        let mut wanted: Vec<String> = Vec::with_capacity(roles.len());
        for raw in &roles {
            let role = Role::parse(raw).ok_or(invalid(
                "roles",
                "must be role names: 1 to 64 of a-z, 0-9, '-', '_', '.', ':'",
            ))?;
            if !wanted.iter().any(|r| r == role.as_str()) {
                wanted.push(role.as_str().to_owned());
            }
        }
        if wanted.len() > MAX_ROLES {
            return Err(invalid("roles", "must be at most 32"));
        }
        for _ in 0..ROLE_RETRIES {
            let user = self.existing(id).await?;
            if user.roles == wanted {
                return Ok(wanted);
            }
            let now = self.auth.clock.now();
            if self
                .auth
                .store
                .replace_roles(id, &user.roles, &wanted, now)
                .await
                .map_err(AuthError::from_store)?
            {
                info!(actor = %self.actor, user_id = %id, roles = ?wanted, "admin: roles set");
                self.record(AuditKind::RolesChanged, Some(id), &wanted.join(","))
                    .await;
                return Ok(wanted);
            }
        }
        // Only a storm of concurrent changes to one user gets here.
        Err(AuthError::Overloaded)
    }

    /// A user's live sessions, newest first.
    pub async fn list_sessions(
        &self,
        id: &str,
        page_token: &str,
        page_size_asked: u32,
    ) -> Result<Page<SessionRow>, AuthError> {
        let id = user_id(id)?;
        let size = page_size(page_size_asked)?;
        let after = match decode_token(page_token)? {
            None => None,
            Some(raw) => Some(
                raw.split_once(' ')
                    .and_then(|(at, sid)| Some((at.parse().ok()?, SessionId::parse(sid)?)))
                    .ok_or(invalid("page_token", "is not a token this list handed out"))?,
            ),
        };
        self.existing(id).await?;
        let now = self.auth.clock.now();
        let rows = self
            .auth
            .store
            .user_sessions(id, now, after, size + 1)
            .await
            .map_err(AuthError::from_store)?;
        self.record(AuditKind::AdminQuery, Some(id), "ListSessions")
            .await;
        Ok(paged(rows, size, |s: &SessionRow| {
            format!("{} {}", s.created_at, s.id)
        }))
    }

    /// Revokes one session; answers whether it was live until now.
    pub async fn revoke_session(&self, session: &str) -> Result<bool, AuthError> {
        let sid = SessionId::parse(session.trim())
            .ok_or(invalid("session_id", "must be a session's id (a UUID)"))?;
        let owner = self
            .auth
            .store
            .session_owner(sid)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::SessionNotFound)?;
        let was_live = self
            .auth
            .revoke(sid, RevokeReason::Admin, self.auth.clock.now())
            .await?;
        info!(actor = %self.actor, user_id = %owner, session_id = %sid, was_live, "admin: session revoked");
        let event = self.auth.event(AuditKind::SessionsRevoked, None);
        let event = event.actor(&self.actor).user(owner).session(sid);
        self.auth.audit(event).await;
        Ok(was_live)
    }

    /// Revokes every live session of a user; answers how many.
    pub async fn revoke_all_sessions(&self, id: &str) -> Result<usize, AuthError> {
        let id = user_id(id)?;
        self.existing(id).await?;
        let now = self.auth.clock.now();
        let revoked = self
            .auth
            .store
            .revoke_user_sessions(id, RevokeReason::Admin, now)
            .await
            .map_err(AuthError::from_store)?;
        let sessions = revoked.len();
        self.auth.revocations.remember_ids(revoked, now);
        info!(actor = %self.actor, user_id = %id, sessions_revoked = sessions, "admin: all sessions revoked");
        self.record(AuditKind::SessionsRevoked, Some(id), "all")
            .await;
        Ok(sessions)
    }

    /// Deletes a user (see the module doc); answers how many sessions ended.
    pub async fn delete_user(&self, id: &str) -> Result<usize, AuthError> {
        let id = user_id(id)?;
        let sessions = self.auth.delete(id).await?;
        info!(actor = %self.actor, user_id = %id, sessions_revoked = sessions, "admin: user deleted");
        self.record(AuditKind::AccountDeleted, Some(id), "").await;
        Ok(sessions)
    }

    async fn existing(&self, id: UserId) -> Result<User, AuthError> {
        self.auth
            .store
            .user_by_id(id)
            .await
            .map_err(AuthError::from_store)?
            .map(|row| row.into_user())
            .ok_or(AuthError::UserNotFound)
    }
}
