//! Single-use tokens (password reset, email verification): the role trait
//! [`OneTimeStore`]. Only their SHA-256 is stored; the conditional update that marks
//! one used decides who spends it (migration 0009).

use std::future::Future;

use super::StoreError;
use crate::domain::{Email, PasswordHash, SessionId, UserId};

/// What a single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerification,
}

impl Purpose {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailVerification => "email_verification",
        }
    }
}

/// Storage of single-use tokens.
pub trait OneTimeStore: Send + Sync {
    /// Stores a token for the user with `email`, or for nobody if no live user has
    /// it: one statement either way, so both take the same work.
    fn issue_one_time(
        &self,
        hash: &[u8; 32],
        purpose: Purpose,
        email: &Email,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends a live password-reset token and, in the same transaction, stores `new`
    /// as its user's password hash, spends the user's other reset tokens and revokes
    /// every live session of theirs. Answers the user and the sessions revoked, or
    /// `None` (nothing changed) if the token is unknown, spent, expired or nobody's.
    fn reset_password(
        &self,
        hash: &[u8; 32],
        new: &PasswordHash,
        now: i64,
    ) -> impl Future<Output = Result<Option<(UserId, Vec<SessionId>)>, StoreError>> + Send;

    /// Spends a live email-verification token and marks its user's email verified,
    /// in one transaction; the user, or `None` as for [`OneTimeStore::reset_password`].
    fn verify_email(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> impl Future<Output = Result<Option<UserId>, StoreError>> + Send;

    /// Deletes tokens expired before `now`; returns how many.
    fn purge_one_time(&self, now: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
