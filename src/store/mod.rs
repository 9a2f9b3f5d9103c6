//! Persistence: the [`Store`] trait, its rows and [`StoreError`].
//!
//! The store knows users, sessions and refresh-token *hashes*; it makes no security
//! decision beyond what the database enforces: unique emails, one token per session
//! generation, and rotation as a conditional update whose row count says who won.
//! It also holds what several instances must share: the sealed signing keys and the
//! failed-login budget, and (on PostgreSQL) tells each instance what the others
//! changed. Times are seconds since the Unix epoch.

use std::fmt;
use std::future::Future;

use tokio::sync::mpsc;

use crate::domain::{Email, SessionId, UserId};
use crate::password::PasswordHash;

pub mod postgres;
mod sql;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What went wrong in the store, in the store's terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("unique constraint violated")]
    Conflict,
    /// The database could not be reached in time; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row held a value this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Maps a driver error: unique violations become [`StoreError::Conflict`], an
    /// unreachable database [`StoreError::Unavailable`].
    fn from_sqlx(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err)
            }
            _ => StoreError::Database(err),
        }
    }
}

/// A user as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub roles: Vec<String>,
    pub created_at: i64,
}

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
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Reuse => "reuse",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "logout" => Ok(RevokeReason::Logout),
            "reuse" => Ok(RevokeReason::Reuse),
            _ => Err(StoreError::Corrupt("sessions.revoke_reason")),
        }
    }
}

/// A refresh token found by its hash, with its session's state.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub session_id: SessionId,
    pub user_id: UserId,
    /// The generation of the presented token.
    pub generation: i64,
    /// The generation that may still be spent.
    pub session_generation: i64,
    pub expires_at: i64,
    pub revoked: Option<RevokeReason>,
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

/// A signing key as stored: the public half in the clear, the private half sealed
/// with the master key. `Debug` shows the kid and times only.
#[derive(Clone)]
pub struct KeyRow {
    pub kid: String,
    pub public_n: String,
    pub public_e: String,
    pub sealed_private: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
}

impl fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// The failed-login budget's answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted, and counted.
    Admitted,
    /// Refused, not counted: the budget of the window that started at
    /// `window_start` is spent.
    Refused { window_start: i64 },
}

/// Something another instance changed, as the database tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A session was revoked.
    Revoked(RevokedRow),
    /// A signing key was added or removed.
    KeysChanged,
    /// The feed was interrupted: changes may have been missed, read them afresh.
    Resync,
}

/// Storage of users, sessions and refresh-token hashes. Cheap to clone.
pub trait Store: Clone + Send + Sync + 'static {
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

    /// Inserts a session and its first refresh token, in one transaction.
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The refresh token with this hash.
    fn refresh_token(
        &self,
        hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<RefreshRow>, StoreError>> + Send;

    /// Spends generation `generation` of `session` and stores `new_hash` as the next,
    /// or, if that generation is no longer current, revokes the session for reuse.
    /// One transaction; the conditional update's row count decides.
    fn rotate(
        &self,
        session: SessionId,
        generation: i64,
        new_hash: &[u8; 32],
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

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

    /// Sessions revoked at or after `since`.
    fn revoked_since(
        &self,
        since: i64,
    ) -> impl Future<Output = Result<Vec<RevokedRow>, StoreError>> + Send;

    /// Counts one failed-login attempt against `key` (a hash) unless `limit`
    /// attempts already count in its window (one minute from the window's first
    /// attempt; a passed window starts afresh). One conditional upsert decides, so
    /// concurrent instances cannot admit more than `limit`.
    fn admit_attempt(
        &self,
        key: &[u8; 32],
        now: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// Uncounts one admitted attempt that turned out not to be a failure.
    fn release_attempt(
        &self,
        key: &[u8; 32],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets `key`'s window altogether.
    fn reset_attempts(&self, key: &[u8; 32])
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every stored signing key, oldest activation first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<KeyRow>, StoreError>> + Send;

    /// Adds a signing key and tells the other instances; [`StoreError::Conflict`] if
    /// its kid is stored already.
    fn insert_signing_key(
        &self,
        key: &KeyRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a signing key and tells the other instances; true if it was there.
    fn delete_signing_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes refresh tokens past expiry, sessions past expiry whose revocation
    /// (if any) happened before `revocation_horizon`, and login-budget windows that
    /// have passed. Returns the rows deleted.
    fn purge_expired(
        &self,
        now: i64,
        revocation_horizon: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// One round trip to the database, for health.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sends what other instances change to `changes`, for as long as the store is
    /// open (PostgreSQL LISTEN/NOTIFY, reconnecting by itself; a [`Change::Resync`]
    /// after each reconnect). Where there are no other instances it never sends.
    fn listen(&self, changes: mpsc::Sender<Change>) -> impl Future<Output = ()> + Send;

    /// Applies pending migrations. Safe when several instances do it at once.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The versions of migrations this build knows but the database lacks.
    fn pending_migrations(&self) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Closes the pool, waiting for connections to be returned.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// Roles are stored as one comma-separated column.
fn join_roles(roles: &[String]) -> String {
    roles.join(",")
}

fn split_roles(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_unavailable_not_a_plain_failure() {
        assert!(matches!(
            StoreError::from_sqlx(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            StoreError::from_sqlx(sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from_sqlx(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }
}
