//! [`AuthError`]: what a use case tells its caller, in domain terms. The transport
//! maps it to a status in one place ([`crate::grpc::status`]).

use std::time::Duration;

use super::keys::KeysError;
use crate::domain::{EmailError, PasswordError, PasswordRules};
use crate::password::HashError;
use crate::store::StoreError;
use crate::token::VerifyError;
use crate::token::issue::IssueError;

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email: {0}")]
    InvalidEmail(EmailError),
    #[error("weak password: {problem}")]
    WeakPassword {
        /// The request field that holds it.
        field: &'static str,
        problem: PasswordError,
        /// The rules the password had to meet, for the answer's message.
        rules: PasswordRules,
    },
    #[error("email already registered")]
    EmailTaken,
    #[error("the new password is the current one")]
    PasswordUnchanged,
    #[error("invalid argument {field}: {problem}")]
    InvalidArgument {
        field: &'static str,
        problem: &'static str,
    },
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password was right, but an admin disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    #[error("no such user")]
    UserNotFound,
    #[error("no such session")]
    SessionNotFound,
    #[error("too many failed logins")]
    RateLimited { retry_after: Duration },
    #[error("password hashing or token signing is saturated")]
    Overloaded,
    #[error("token invalid")]
    TokenInvalid,
    #[error("token expired")]
    TokenExpired,
    #[error("token revoked")]
    TokenRevoked,
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// The database cannot be reached right now; the caller may retry.
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),
    /// The storage refuses writes (full or failing); the caller may retry later.
    #[error("storage refuses writes")]
    StorageUnavailable(#[source] StoreError),
    #[error("store failed")]
    Store(#[source] StoreError),
    #[error("password hashing failed")]
    Hashing(#[source] HashError),
    #[error("token signing failed")]
    Signing(#[source] IssueError),
    /// A worker (a signing thread, or the task running the request) went away.
    #[error("a worker failed")]
    Worker,
    #[error("signing keys unavailable")]
    Keys(#[source] KeysError),
}

impl AuthError {
    /// A store failure: [`AuthError::Unavailable`] when the database could not be
    /// reached (worth a retry), else an internal fault.
    pub fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => AuthError::Unavailable(e),
            StoreError::WriteFailed(_) => AuthError::StorageUnavailable(e),
            e => AuthError::Store(e),
        }
    }

    /// A hashing failure: a full queue is OVERLOADED, anything else a fault.
    pub fn from_hashing(e: HashError) -> Self {
        match e {
            HashError::Busy => AuthError::Overloaded,
            other => AuthError::Hashing(other),
        }
    }
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Expired => AuthError::TokenExpired,
            VerifyError::Invalid | VerifyError::UnknownKey => AuthError::TokenInvalid,
            VerifyError::Revoked => AuthError::TokenRevoked,
            // The server's ring always holds a key and its revocation set is the
            // authority, so its own check never answers this; should it, the token
            // is not vouched for.
            VerifyError::Unavailable => AuthError::TokenInvalid,
        }
    }
}
