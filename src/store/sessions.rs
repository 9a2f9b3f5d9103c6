//! Sessions and their refresh-token hashes: the role trait [`SessionStore`].
//!
//! The store makes no security decision beyond what the database enforces: one
//! token per session generation, and rotation as a conditional insert whose row
//! count (or that uniqueness) says who won.

use std::future::Future;

use super::StoreError;
use crate::domain::{Email, PasswordHash, SessionId, UserId};

/// A new session and its first refresh token (generation 0).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh_hash: [u8; 32],
    pub now: i64,
    pub expires_at: i64,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The user logged out.
    Logout,
    /// A spent refresh token was presented again.
    Reuse,
    /// An admin ended the session, or all of the user's sessions.
    Admin,
    /// An admin disabled the user.
    Disabled,
    /// The account was deleted.
    Deleted,
}

impl RevokeReason {
    /// The stored form.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Reuse => "reuse",
            RevokeReason::Admin => "admin",
            RevokeReason::Disabled => "disabled",
            RevokeReason::Deleted => "deleted",
        }
    }

    /// Reads the stored form back.
    pub(crate) fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "logout" => Ok(RevokeReason::Logout),
            "reuse" => Ok(RevokeReason::Reuse),
            "admin" => Ok(RevokeReason::Admin),
            "disabled" => Ok(RevokeReason::Disabled),
            "deleted" => Ok(RevokeReason::Deleted),
            _ => Err(StoreError::Corrupt("sessions.revoke_reason")),
        }
    }
}

/// A refresh token found by its hash, with its session's state and what a new
/// access token for it says of its user (as the user is now: one read has it all).
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub email: Email,
    pub roles: Vec<String>,
    pub email_verified: bool,
    /// The generation of the presented token.
    pub generation: i64,
    /// The generation that may still be spent.
    pub session_generation: i64,
    pub expires_at: i64,
    pub revoked: Option<RevokeReason>,
}

/// The refresh token a rotation stores as the session's next generation.
#[derive(Debug, Clone)]
pub struct NextToken {
    pub hash: [u8; 32],
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A refresh token spent by [`SessionStore::spend`]: its session, now at
/// `generation`, and what the new access token says of the user.
#[derive(Debug, Clone)]
pub struct Spent {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub email: Email,
    pub roles: Vec<String>,
    pub email_verified: bool,
    /// The session's generation after the spend: the new token's.
    pub generation: i64,
}

/// The outcome of a rotation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented generation was current: it is spent and the new token stored.
    Rotated,
    /// It was not (spent already, or the session revoked meanwhile): nothing was
    /// stored, and the session is now revoked for reuse if it was not revoked before.
    Lost {
        /// The session's revocation reason after the attempt.
        reason: RevokeReason,
    },
}

/// A revoked session, for loading the in-memory set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedRow {
    pub session_id: SessionId,
    pub revoked_at: i64,
}

/// Storage of sessions and refresh-token hashes (never the tokens themselves).
pub trait SessionStore: Send + Sync {
    /// Inserts a session and its first refresh token, in one transaction.
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The refresh token with this hash, its session and its user, in one statement.
    fn refresh_token(
        &self,
        hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<RefreshRow>, StoreError>> + Send;

    /// Spends the refresh token with hash `presented` and stores `next` as its
    /// session's next generation, in one statement, if it is the current token of a
    /// live session and unexpired at `next.issued_at`; answers the session and its
    /// user. `None` stored nothing: the token is unknown, spent, revoked or expired,
    /// or a racing spend won (the unique (session, generation) refused this one),
    /// and the caller reads the token to learn which. The trigger of migration 0006
    /// moves the session on in the same statement.
    fn spend(
        &self,
        presented: &[u8; 32],
        next: &NextToken,
    ) -> impl Future<Output = Result<Option<Spent>, StoreError>> + Send;

    /// Spends generation `generation` of `session` and stores `next` as the next
    /// (the session now expires with it), or, if that generation is no longer
    /// current, revokes the session for reuse at `next.issued_at`. One conditional
    /// `INSERT ... SELECT` decides, with the unique (session, generation) refusing a
    /// racing second; a trigger moves the session on in the same statement.
    fn rotate(
        &self,
        session: SessionId,
        generation: i64,
        next: &NextToken,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// Marks the spent token `presented` as retried, once: true only if it was not
    /// retried before and `successor` is its session's current, unspent token,
    /// issued after `issued_after`, in a live session. One conditional update decides,
    /// so of concurrent retries one wins.
    fn regrant(
        &self,
        presented: &[u8; 32],
        session: SessionId,
        successor: &[u8; 32],
        issued_after: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes one session; true if it was live until now.
    fn revoke_session(
        &self,
        session: SessionId,
        reason: RevokeReason,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every live session of a user; returns their ids.
    fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: i64,
    ) -> impl Future<Output = Result<Vec<SessionId>, StoreError>> + Send;

    /// Stores `hash` as `user`'s password and revokes every other live session of
    /// theirs (as a logout), in one transaction; answers the sessions revoked, or
    /// `None` (and changes nothing) if there is no such user.
    fn change_password(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: SessionId,
        now: i64,
    ) -> impl Future<Output = Result<Option<Vec<SessionId>>, StoreError>> + Send;

    /// Sessions revoked at or after `since`: the start-up load, by time.
    fn revoked_since(
        &self,
        since: i64,
    ) -> impl Future<Output = Result<Vec<RevokedRow>, StoreError>> + Send;

    /// The number of the newest revocation committed: read before the start-up load,
    /// it is where [`SessionStore::revoked_after`] carries on.
    fn revocation_cursor(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// The sessions revoked after revocation number `cursor`, and the number to ask
    /// after next time. Numbers become visible in order (migration 0007), so a read
    /// never misses one and never repeats one.
    fn revoked_after(
        &self,
        cursor: i64,
    ) -> impl Future<Output = Result<(Vec<RevokedRow>, i64), StoreError>> + Send;

    /// Deletes refresh tokens past expiry, and sessions past expiry whose revocation
    /// (if any) happened before `revocation_horizon`. Returns the rows deleted.
    fn purge_sessions(
        &self,
        now: i64,
        revocation_horizon: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
