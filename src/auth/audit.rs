//! Writing the audit trail, and reading it for the admin API.
//!
//! A use case records its event after the fact: a failed write is logged (the line
//! says the request it describes stands) and never fails the request. Events name
//! who and what, never a secret. Failed logins refused by the budget
//! (RATE_LIMITED) are not recorded one by one: they cost no password check, and a
//! row each would let a flood of them turn into a flood of writes; the log has them.

use tracing::warn;

use super::admin::{AdminAccounts, Page, decode_token, page_size, paged};
use super::{Auth, AuthError, ClientInfo};
use crate::domain::UserId;
use crate::store::{AuditEvent, AuditKind, AuditQuery, AuditRow, Store};

/// Who acted when the user acted on their own account.
pub const SELF: &str = "self";
/// Who acted when the caller is not known (a failed login, a reset token).
pub const ANONYMOUS: &str = "anonymous";

/// Which events to list, as the caller asked.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: String,
    pub kind: String,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub page_token: String,
    pub page_size: u32,
}

impl<S: Store> Auth<S> {
    /// A new event of `kind`, now, by the user themselves, from `client`.
    pub(super) fn event(&self, kind: AuditKind, client: Option<&ClientInfo>) -> AuditEvent {
        AuditEvent {
            at: self.clock.now(),
            kind,
            user_id: None,
            session_id: None,
            actor: SELF.to_owned(),
            client_address: client.and_then(|c| c.address.clone()),
            detail: None,
        }
    }

    /// Records `event`, best effort (see the module doc).
    pub(super) async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.store.record(&event).await {
            warn!(
                kind = event.kind.as_str(),
                user_id = event.user_id.as_deref(),
                error = %e,
                "audit event not stored; the request it describes stands"
            );
        }
    }
}

/// Builds events in a line.
pub(super) trait Describe {
    fn user(self, id: UserId) -> Self;
    fn session(self, id: impl ToString) -> Self;
    fn actor(self, actor: &str) -> Self;
    fn detail(self, detail: impl Into<String>) -> Self;
}

impl Describe for AuditEvent {
    fn user(mut self, id: UserId) -> Self {
        self.user_id = Some(id.to_string());
        self
    }

    fn session(mut self, id: impl ToString) -> Self {
        self.session_id = Some(id.to_string());
        self
    }

    fn actor(mut self, actor: &str) -> Self {
        actor.clone_into(&mut self.actor);
        self
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl<S: Store> AdminAccounts<'_, S> {
    /// The audit trail, newest first, filtered by user, kind and time.
    pub async fn list_audit_events(
        &self,
        filter: AuditFilter,
    ) -> Result<Page<AuditRow>, AuthError> {
        let size = page_size(filter.page_size)?;
        let user_id = match filter.user_id.trim() {
            "" => None,
            raw => Some(
                UserId::parse(raw)
                    .ok_or(invalid("user_id", "must be a user's id (a UUID)"))?
                    .to_string(),
            ),
        };
        let kind = match filter.kind.trim() {
            "" => None,
            raw => Some(AuditKind::parse(raw).ok_or(invalid("kind", "is not an event kind"))?),
        };
        let before_id = match decode_token(&filter.page_token)? {
            None => None,
            Some(raw) => Some(
                raw.parse()
                    .map_err(|_| invalid("page_token", "is not a token this list handed out"))?,
            ),
        };
        let query = AuditQuery {
            user_id,
            kind,
            since: filter.since,
            until: filter.until,
            before_id,
            limit: size + 1,
        };
        let rows = self
            .auth()
            .store
            .audit_events(&query)
            .await
            .map_err(AuthError::from_store)?;
        self.record(AuditKind::AdminQuery, None, "ListAuditEvents")
            .await;
        Ok(paged(rows, size, |row: &AuditRow| row.id.to_string()))
    }
}

fn invalid(field: &'static str, problem: &'static str) -> AuthError {
    AuthError::InvalidArgument { field, problem }
}
