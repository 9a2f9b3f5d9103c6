//! The reasons in the `google.rpc.ErrorInfo` of every error tessera returns.
//!
//! One enum, shared by the server and the client-side verifier, so a client can
//! branch on the same strings wherever a token was refused. The statuses that carry
//! them are built in [`crate::grpc::status`].

/// A machine-readable cause, sent as `ErrorInfo.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The email is missing, malformed or longer than 254 bytes.
    InvalidEmail,
    /// The password is missing, too short, or longer than the password hashing
    /// reads; the status message states the rules.
    WeakPassword,
    /// The email is registered already.
    EmailTaken,
    /// ChangePassword's new password is the current one.
    PasswordUnchanged,
    /// A field other than email or password is missing or out of bounds.
    InvalidArgument,
    /// Wrong password or unknown email: deliberately the same reason for both.
    InvalidCredentials,
    /// The password was right, but an admin disabled the account.
    AccountDisabled,
    /// The admin API was asked about a user that does not exist (or was deleted).
    UserNotFound,
    /// The admin API was asked to revoke a session that does not exist.
    SessionNotFound,
    /// Too many failed logins; a `RetryInfo` says when to try again.
    RateLimited,
    /// The password-hashing or token-signing queue is full; retry shortly.
    Overloaded,
    /// The token is malformed, forged, for another issuer or audience, or unknown.
    TokenInvalid,
    /// The token has expired.
    TokenExpired,
    /// The token's session was logged out or revoked.
    TokenRevoked,
    /// The token is valid but lacks the role the call needs (the verifier's
    /// `require_role`).
    PermissionDenied,
    /// A spent refresh token was presented again; its session is now revoked.
    RefreshTokenReused,
    /// The database cannot be reached right now; retry shortly.
    Unavailable,
    /// The storage refuses writes (disk full or failing); retry later.
    StorageUnavailable,
    /// The request could not be read: not a well-formed message of the RPC's type.
    MalformedRequest,
    /// The request is larger than the server accepts.
    RequestTooLarge,
    /// No such service or method.
    Unimplemented,
    /// Something failed inside tessera; details are in its log, not in the answer.
    Internal,
}

impl Reason {
    /// The wire form, as in `ErrorInfo.reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidEmail => "INVALID_EMAIL",
            Reason::WeakPassword => "WEAK_PASSWORD",
            Reason::EmailTaken => "EMAIL_TAKEN",
            Reason::PasswordUnchanged => "PASSWORD_UNCHANGED",
            Reason::InvalidArgument => "INVALID_ARGUMENT",
            Reason::InvalidCredentials => "INVALID_CREDENTIALS",
            Reason::AccountDisabled => "ACCOUNT_DISABLED",
            Reason::UserNotFound => "USER_NOT_FOUND",
            Reason::SessionNotFound => "SESSION_NOT_FOUND",
            Reason::RateLimited => "RATE_LIMITED",
            Reason::Overloaded => "OVERLOADED",
            Reason::TokenInvalid => "TOKEN_INVALID",
            Reason::TokenExpired => "TOKEN_EXPIRED",
            Reason::TokenRevoked => "TOKEN_REVOKED",
            Reason::PermissionDenied => "PERMISSION_DENIED",
            Reason::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Reason::Unavailable => "UNAVAILABLE",
            Reason::StorageUnavailable => "STORAGE_UNAVAILABLE",
            Reason::MalformedRequest => "MALFORMED_REQUEST",
            Reason::RequestTooLarge => "REQUEST_TOO_LARGE",
            Reason::Unimplemented => "UNIMPLEMENTED",
            Reason::Internal => "INTERNAL",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
