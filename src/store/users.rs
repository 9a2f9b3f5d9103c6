//! Users: the role trait [`UserStore`] and its row.

use std::future::Future;

use super::StoreError;
use crate::domain::{Email, PasswordHash, User, UserId};

/// A user as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub roles: Vec<String>,
    pub created_at: i64,
    /// When the user was disabled, if they are.
    pub disabled_at: Option<i64>,
    /// Whether the user proved they receive mail at their email.
    pub email_verified: bool,
}

impl UserRow {
    /// The user without the password hash: what may leave the use cases.
    pub fn into_user(self) -> User {
        User {
            id: self.id,
            email: self.email,
            roles: self.roles,
            created_at: self.created_at,
            disabled_at: self.disabled_at,
            email_verified: self.email_verified,
        }
    }
}

/// Storage of users. The unique index on the normalized email decides who registers.
/// Tombstones of deleted users ([`super::AccountStore`]) are never read here.
pub trait UserStore: Send + Sync {
    /// Inserts a user; [`StoreError::Conflict`] if the email is taken.
    fn create_user(&self, user: &UserRow) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this normalized email.
    fn user_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<UserRow>, StoreError>> + Send;

    /// The user with this id.
    fn user_by_id(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<UserRow>, StoreError>> + Send;

    /// Sets a user's roles to `roles` if they are still `expected`: a conditional
    /// update, so of two concurrent changes one wins and the other sees `false`,
    /// reads again and retries. Tokens carry the new roles from the next login or
    /// refresh.
    fn replace_roles(
        &self,
        id: UserId,
        expected: &[String],
        roles: &[String],
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores `new` as the user's password hash if `expected` is still the stored
    /// one (a login's rehash): a password changed meanwhile is never overwritten.
    /// True if it was stored.
    fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The normalization the stored emails are in (see `migrations/*/0003_email_form.sql`).
pub trait EmailForms: Send + Sync {
    /// The form the stored emails are known to be in.
    fn email_form(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Records that every stored email is in `form`.
    fn set_email_form(&self, form: i64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every user's id and stored email.
    fn user_emails(&self)
    -> impl Future<Output = Result<Vec<(UserId, String)>, StoreError>> + Send;

    /// Rewrites a user's email from `from` to `to` if it is still `from`;
    /// [`StoreError::Conflict`] if another user has `to`.
    fn rewrite_email(
        &self,
        id: UserId,
        from: &str,
        to: &Email,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Roles are stored as one comma-separated column.
pub(crate) fn join_roles(roles: &[String]) -> String {
    roles.join(",")
}

pub(crate) fn split_roles(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}
