//! Accounts over their life: the role trait [`AccountStore`] (disable, delete,
//! listing for the admin API) and the rows it speaks in.
//!
//! A deleted user leaves a tombstone: the row stays with no password and no roles,
//! so the revocations of their sessions (which reference it) outlive restarts, and
//! the email stays taken until the reuse delay has passed (migration 0008). Every
//! read of a user elsewhere skips tombstones.

use std::future::Future;

use super::{StoreError, UserRow};
use crate::domain::{Email, SessionId, UserId};

/// Which users [`AccountStore::list_users`] answers: ordered by email, those after
/// `after`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only emails that start with this (normalized, lower-case) text.
    pub email_prefix: Option<String>,
    /// Only users holding this role.
    pub role: Option<String>,
    /// The last email of the page before.
    pub after: Option<String>,
    pub limit: u32,
}

/// A live session as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Storage of what an account goes through after registration.
pub trait AccountStore: Send + Sync {
    /// Users matching `query`, ordered by email.
    fn list_users(
        &self,
        query: &UserQuery,
    ) -> impl Future<Output = Result<Vec<UserRow>, StoreError>> + Send;

    /// Disables `user` at `now` and revokes every live session of theirs, in one
    /// transaction, or (`disabled` false) enables them again. Answers the sessions
    /// revoked, or `None` if there is no such user.
    fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        now: i64,
    ) -> impl Future<Output = Result<Option<Vec<SessionId>>, StoreError>> + Send;

    /// Turns `user` into a tombstone at `now` (no password, no roles) and revokes
    /// every live session of theirs, in one transaction. Answers the sessions
    /// revoked, or `None` if there is no such user.
    fn delete_user(
        &self,
        user: UserId,
        now: i64,
    ) -> impl Future<Output = Result<Option<Vec<SessionId>>, StoreError>> + Send;

    /// Frees `email` for a new registration if it is held by a tombstone deleted at
    /// or before `deleted_by`; true if it was.
    fn reclaim_email(
        &self,
        email: &Email,
        deleted_by: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The live sessions of `user` at `now`, newest first, those after `after`
    /// (the last of the page before), at most `limit`.
    fn user_sessions(
        &self,
        user: UserId,
        now: i64,
        after: Option<(i64, SessionId)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SessionRow>, StoreError>> + Send;

    /// The user a session belongs to, if the session exists.
    fn session_owner(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<Option<UserId>, StoreError>> + Send;

    /// Deletes tombstones deleted before `deleted_before` that no session refers to
    /// any more. Returns how many.
    fn purge_tombstones(
        &self,
        deleted_before: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// `text` with LIKE's wildcards escaped (by `\`), for `LIKE ... ESCAPE '\'`.
pub(crate) fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::like_escaped;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_escaped("plain"), "plain");
    }
}
