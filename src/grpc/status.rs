//! The one mapping from errors to `tonic::Status`.
//!
//! One exhaustive `match`, no catch-all arm: a new error variant fails to compile here
//! instead of quietly becoming INTERNAL. Every status carries an ErrorInfo (domain
//! `tessera.auth`), plus a BadRequest field violation for bad input and a RetryInfo
//! for RATE_LIMITED, OVERLOADED and UNAVAILABLE. Messages are fixed and client-safe; internal
//! failures are logged here, once, with their source chain.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::auth::AuthError;
use crate::reason::{Reason, error_info as info, status};
use crate::store::StoreError;

/// How long a client should wait when hashing is saturated or the database is away.
const RETRY_SHORTLY: Duration = Duration::from_secs(1);

fn with_violation(
    code: Code,
    message: &str,
    reason: Reason,
    field: &str,
    description: String,
) -> Status {
    let mut details = info(reason);
    details.add_bad_request_violation(field, description);
    Status::with_error_details(code, message, details)
}

fn with_retry(code: Code, message: &str, reason: Reason, after: Duration) -> Status {
    let mut details = info(reason);
    details.set_retry_info(Some(after));
    Status::with_error_details(code, message, details)
}

fn internal(err: &AuthError) -> Status {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&e.to_string());
        source = e.source();
    }
    tracing::error!(error = %chain, "internal error");
    status(Code::Internal, "internal error", Reason::Internal)
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        match &err {
            AuthError::InvalidEmail(e) => with_violation(
                Code::InvalidArgument,
                "invalid email",
                Reason::InvalidEmail,
                "email",
                e.to_string(),
            ),
            AuthError::WeakPassword(e) => with_violation(
                Code::InvalidArgument,
                "password does not meet the rules: 8 characters to 72 bytes",
                Reason::WeakPassword,
                "password",
                e.to_string(),
            ),
            AuthError::EmailTaken => status(
                Code::AlreadyExists,
                "email already registered",
                Reason::EmailTaken,
            ),
            AuthError::InvalidArgument { field, problem } => with_violation(
                Code::InvalidArgument,
                "invalid argument",
                Reason::InvalidArgument,
                field,
                format!("{field} {problem}"),
            ),
            AuthError::InvalidCredentials => status(
                Code::Unauthenticated,
                "invalid email or password",
                Reason::InvalidCredentials,
            ),
            AuthError::RateLimited { retry_after } => with_retry(
                Code::ResourceExhausted,
                "too many failed logins; retry later",
                Reason::RateLimited,
                *retry_after,
            ),
            AuthError::Overloaded => with_retry(
                Code::ResourceExhausted,
                "server busy; retry shortly",
                Reason::Overloaded,
                RETRY_SHORTLY,
            ),
            AuthError::TokenInvalid => {
                status(Code::Unauthenticated, "token invalid", Reason::TokenInvalid)
            }
            AuthError::TokenExpired => {
                status(Code::Unauthenticated, "token expired", Reason::TokenExpired)
            }
            AuthError::TokenRevoked => {
                status(Code::Unauthenticated, "token revoked", Reason::TokenRevoked)
            }
            AuthError::RefreshTokenReused => status(
                Code::Unauthenticated,
                "refresh token reused; the session is revoked",
                Reason::RefreshTokenReused,
            ),
            AuthError::Store(StoreError::Unavailable(source)) => {
                // An operator must act (or wait); the client may retry.
                tracing::warn!(error = %source, "database unavailable");
                with_retry(
                    Code::Unavailable,
                    "database unavailable; retry shortly",
                    Reason::Unavailable,
                    RETRY_SHORTLY,
                )
            }
            AuthError::Store(
                StoreError::Conflict
                | StoreError::Database(_)
                | StoreError::Migrate(_)
                | StoreError::Corrupt(_),
            )
            | AuthError::Hashing(_)
            | AuthError::Signing(_)
            | AuthError::Worker
            | AuthError::Keys(_) => internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_database_is_unavailable_with_retry_info_not_internal() {
        let status = Status::from(AuthError::Store(StoreError::Unavailable(
            sqlx::Error::PoolTimedOut,
        )));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "UNAVAILABLE"
        );
        assert!(status.get_details_retry_info().is_some());
        assert!(
            !status.message().contains("timed out"),
            "no driver detail leaks"
        );
    }

    #[test]
    fn an_internal_fault_says_nothing_of_its_cause() {
        let status = Status::from(AuthError::Store(StoreError::Corrupt("users.id")));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert_eq!(status.get_details_error_info().unwrap().reason, "INTERNAL");
    }
}
