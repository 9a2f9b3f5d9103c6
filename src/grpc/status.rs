//! The one mapping from errors to `tonic::Status`: the server's [`AuthError`]s and
//! the verifier's token refusals both become statuses here, and nowhere else.
//!
//! One exhaustive `match` per error type, no catch-all arm: a new variant fails to
//! compile here instead of quietly becoming INTERNAL. Every status carries an
//! ErrorInfo (domain [`DOMAIN`]), plus a BadRequest field violation for bad input and
//! a RetryInfo for RATE_LIMITED, OVERLOADED and UNAVAILABLE. Messages are fixed and
//! client-safe; internal failures are logged here, once, with their source chain.

use std::collections::HashMap;
#[cfg(feature = "server")]
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[cfg(feature = "server")]
use crate::auth::AuthError;
use crate::reason::Reason;
use crate::token::VerifyError;

/// The `ErrorInfo.domain` of every tessera error.
pub const DOMAIN: &str = "tessera.auth";

/// How long a client should wait when hashing is saturated or the database is away.
#[cfg(feature = "server")]
const RETRY_SHORTLY: Duration = Duration::from_secs(1);

/// How long a client should wait when the storage refuses writes.
#[cfg(feature = "server")]
const RETRY_LATER: Duration = Duration::from_secs(30);

fn info(reason: Reason) -> ErrorDetails {
    ErrorDetails::with_error_info(reason.as_str(), DOMAIN, HashMap::new())
}

/// A status with `code`, a fixed client-safe `message` and an ErrorInfo for `reason`.
pub fn status(code: Code, message: &str, reason: Reason) -> Status {
    Status::with_error_details(code, message, info(reason))
}

/// A token that was refused: the same code, message and reason whether tessera's
/// Verify, Refresh or a service's interceptor refused it.
impl From<VerifyError> for Status {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Expired => {
                status(Code::Unauthenticated, "token expired", Reason::TokenExpired)
            }
            VerifyError::Invalid | VerifyError::UnknownKey => {
                status(Code::Unauthenticated, "token invalid", Reason::TokenInvalid)
            }
            VerifyError::Revoked => {
                status(Code::Unauthenticated, "token revoked", Reason::TokenRevoked)
            }
            VerifyError::Unavailable => status(
                Code::Unavailable,
                "token verification unavailable; retry shortly",
                Reason::Unavailable,
            ),
        }
    }
}

/// The status for one the gRPC framework made itself, before any handler ran (a
/// request that does not decode, one too large, an unknown method), which would carry
/// no ErrorInfo and the decoder's own words: the same code class, a fixed message,
/// and an ErrorInfo. `framework_message` is logged, never sent.
pub fn from_framework(code: Code, framework_message: &str) -> Status {
    tracing::debug!(code = ?code, error = framework_message, "request refused by the gRPC layer");
    match code {
        Code::Internal | Code::InvalidArgument | Code::Unknown => status(
            Code::InvalidArgument,
            "malformed request",
            Reason::MalformedRequest,
        ),
        Code::OutOfRange | Code::ResourceExhausted => status(
            Code::ResourceExhausted,
            "request too large",
            Reason::RequestTooLarge,
        ),
        Code::Unimplemented => status(Code::Unimplemented, "unknown method", Reason::Unimplemented),
        // Health's answer for a service it does not know.
        Code::NotFound => status(Code::NotFound, "no such service", Reason::Unimplemented),
        Code::Ok
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::Unavailable
        | Code::DataLoss
        | Code::Unauthenticated => status(code, "request failed", Reason::Internal),
    }
}

/// No `authorization: Bearer <token>` on a guarded call.
pub fn missing_bearer() -> Status {
    status(
        Code::Unauthenticated,
        "missing or malformed authorization: expected \"Bearer <token>\"",
        Reason::TokenInvalid,
    )
}

/// A valid token without the role a call needs.
pub fn permission_denied() -> Status {
    status(
        Code::PermissionDenied,
        "this call needs a role the token does not carry",
        Reason::PermissionDenied,
    )
}

#[cfg(feature = "server")]
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

#[cfg(feature = "server")]
fn with_retry(code: Code, message: &str, reason: Reason, after: Duration) -> Status {
    let mut details = info(reason);
    details.set_retry_info(Some(after));
    Status::with_error_details(code, message, details)
}

#[cfg(feature = "server")]
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

#[cfg(feature = "server")]
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
            AuthError::WeakPassword {
                field,
                problem,
                rules,
            } => with_violation(
                Code::InvalidArgument,
                &format!("password does not meet the rules: {rules}"),
                Reason::WeakPassword,
                field,
                problem.to_string(),
            ),
            AuthError::EmailTaken => status(
                Code::AlreadyExists,
                "email already registered",
                Reason::EmailTaken,
            ),
            AuthError::PasswordUnchanged => with_violation(
                Code::InvalidArgument,
                "the new password is the current one",
                Reason::PasswordUnchanged,
                "new_password",
                "new_password must differ from current_password".to_owned(),
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
            AuthError::AccountDisabled => status(
                Code::PermissionDenied,
                "account disabled",
                Reason::AccountDisabled,
            ),
            AuthError::UserNotFound => status(Code::NotFound, "no such user", Reason::UserNotFound),
            AuthError::SessionNotFound => {
                status(Code::NotFound, "no such session", Reason::SessionNotFound)
            }
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
            AuthError::TokenInvalid => VerifyError::Invalid.into(),
            AuthError::TokenExpired => VerifyError::Expired.into(),
            AuthError::TokenRevoked => VerifyError::Revoked.into(),
            AuthError::RefreshTokenReused => status(
                Code::Unauthenticated,
                "refresh token reused; the session is revoked",
                Reason::RefreshTokenReused,
            ),
            AuthError::Unavailable(source) => {
                // An operator must act (or wait); the client may retry.
                tracing::warn!(error = %source, "database unavailable");
                with_retry(
                    Code::Unavailable,
                    "database unavailable; retry shortly",
                    Reason::Unavailable,
                    RETRY_SHORTLY,
                )
            }
            AuthError::StorageUnavailable(source) => {
                // An operator must act: the disk is full or failing.
                tracing::error!(error = %source, "the database refuses writes");
                with_retry(
                    Code::Unavailable,
                    "storage unavailable; retry later",
                    Reason::StorageUnavailable,
                    RETRY_LATER,
                )
            }
            AuthError::Store(_)
            | AuthError::Hashing(_)
            | AuthError::Signing(_)
            | AuthError::Worker
            | AuthError::Keys(_) => internal(&err),
        }
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn an_unavailable_database_is_unavailable_with_retry_info_not_internal() {
        let status = Status::from(AuthError::from_store(StoreError::Unavailable(
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
        let status = Status::from(AuthError::from_store(StoreError::Corrupt("users.id")));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert_eq!(status.get_details_error_info().unwrap().reason, "INTERNAL");
    }

    #[test]
    fn every_token_refusal_carries_the_reason_tessera_verify_gives() {
        for (error, code, reason) in [
            (VerifyError::Expired, Code::Unauthenticated, "TOKEN_EXPIRED"),
            (VerifyError::Invalid, Code::Unauthenticated, "TOKEN_INVALID"),
            (
                VerifyError::UnknownKey,
                Code::Unauthenticated,
                "TOKEN_INVALID",
            ),
            (VerifyError::Revoked, Code::Unauthenticated, "TOKEN_REVOKED"),
            (VerifyError::Unavailable, Code::Unavailable, "UNAVAILABLE"),
        ] {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            let info = status.get_details_error_info().unwrap();
            assert_eq!(
                (info.reason.as_str(), info.domain.as_str()),
                (reason, DOMAIN)
            );
        }
    }
}
