//! The audit trail: the role trait [`AuditStore`], the kinds of event, and the rows.
//! An event names who and what, never a secret (no password, hash or token).

use std::future::Future;

use super::StoreError;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Registered,
    LoginSucceeded,
    /// The detail says why: INVALID_CREDENTIALS, ACCOUNT_DISABLED or RATE_LIMITED.
    LoginFailed,
    /// A spent refresh token came back; its session was revoked.
    RefreshTokenReused,
    /// The detail says `all` when every session of the user ended.
    LoggedOut,
    PasswordChanged,
    PasswordReset,
    /// A password-reset or email-verification token was made (the detail says which).
    TokenIssued,
    EmailVerified,
    AccountDisabled,
    AccountEnabled,
    AccountDeleted,
    /// The detail holds the new roles.
    RolesChanged,
    /// One session, or (detail `all`) every session, revoked by an admin.
    SessionsRevoked,
    /// An admin read: the detail names the call.
    AdminQuery,
    /// A signing key was staged (the detail holds its kid).
    KeyRotated,
}

impl AuditKind {
    /// Every kind, for parsing a filter.
    pub const ALL: [AuditKind; 16] = [
        AuditKind::Registered,
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::RefreshTokenReused,
        AuditKind::LoggedOut,
        AuditKind::PasswordChanged,
        AuditKind::PasswordReset,
        AuditKind::TokenIssued,
        AuditKind::EmailVerified,
        AuditKind::AccountDisabled,
        AuditKind::AccountEnabled,
        AuditKind::AccountDeleted,
        AuditKind::RolesChanged,
        AuditKind::SessionsRevoked,
        AuditKind::AdminQuery,
        AuditKind::KeyRotated,
    ];

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Registered => "registered",
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::RefreshTokenReused => "refresh_token_reused",
            AuditKind::LoggedOut => "logged_out",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::PasswordReset => "password_reset",
            AuditKind::TokenIssued => "token_issued",
            AuditKind::EmailVerified => "email_verified",
            AuditKind::AccountDisabled => "account_disabled",
            AuditKind::AccountEnabled => "account_enabled",
            AuditKind::AccountDeleted => "account_deleted",
            AuditKind::RolesChanged => "roles_changed",
            AuditKind::SessionsRevoked => "sessions_revoked",
            AuditKind::AdminQuery => "admin_query",
            AuditKind::KeyRotated => "key_rotated",
        }
    }

    /// The kind with this stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// One event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: i64,
    pub kind: AuditKind,
    /// The user the event is about, when there is one.
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// Who acted: `self` (the user), an admin's user id, `operator` (a CLI command)
    /// or `anonymous` (a caller not yet known, such as a failed login).
    pub actor: String,
    pub client_address: Option<String>,
    /// A reason or a value, never a secret.
    pub detail: Option<String>,
}

/// A stored event and its number (newer events have larger numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub event: AuditEvent,
}

/// Which events [`AuditStore::audit_events`] answers, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub kind: Option<AuditKind>,
    /// From this time on (inclusive).
    pub since: Option<i64>,
    /// Before this time (exclusive).
    pub until: Option<i64>,
    /// Only events numbered below this (the last of the page before).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Storage of the audit trail.
pub trait AuditStore: Send + Sync {
    /// Appends one event.
    fn record(&self, event: &AuditEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The events matching `query`, newest first.
    fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;

    /// Deletes events from before `before`; returns how many.
    fn purge_audit(&self, before: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::AuditKind;

    #[test]
    fn every_kind_reads_back_from_its_stored_form() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditKind::parse("nothing"), None);
    }
}
