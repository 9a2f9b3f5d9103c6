//! `tessera.auth.v1.AdminService`: one thin handler per RPC, behind [`AdminGuard`].
//!
//! The guard runs before any handler: it verifies the bearer token exactly as Verify
//! does (revocation included), puts the claims in the request, and checks the
//! `admin` role with the verifier library's own [`require_role`], so the admin API
//! is guarded the way tessera tells every other service to guard theirs.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{count, session, timestamp, user};
use super::request::to_completion;
use crate::auth::{AuditFilter, Auth, OneTimeToken, UserFilter};
use crate::proto::{self, admin_service_server::AdminService};
use crate::store::{AuditRow, Store};
use crate::token::AccessClaims;
use crate::verifier::{bearer_token, require_role};

/// The role every admin call needs.
pub const ADMIN_ROLE: &str = "admin";

/// Verifies the caller's bearer token and requires [`ADMIN_ROLE`]; see the module doc.
pub struct AdminGuard<S: Store> {
    auth: Arc<Auth<S>>,
}

impl<S: Store> AdminGuard<S> {
    pub fn new(auth: Arc<Auth<S>>) -> Self {
        Self { auth }
    }
}

impl<S: Store> Clone for AdminGuard<S> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
        }
    }
}

impl<S: Store> tonic::service::Interceptor for AdminGuard<S> {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(super::status::missing_bearer)?;
        let claims = self.auth.verify(token)?;
        request.extensions_mut().insert(claims);
        require_role(&request, ADMIN_ROLE)?;
        Ok(request)
    }
}

/// The admin API over the use cases.
pub struct AdminGrpc<S: Store> {
    auth: Arc<Auth<S>>,
}

impl<S: Store> AdminGrpc<S> {
    pub fn new(auth: Arc<Auth<S>>) -> Self {
        Self { auth }
    }
}

/// The admin the guard let through (its user id), for the log.
fn actor<T>(request: &Request<T>) -> Result<String, Status> {
    require_role(request, ADMIN_ROLE).map(|claims: &AccessClaims| claims.sub.clone())
}

#[tonic::async_trait]
impl<S: Store> AdminService for AdminGrpc<S> {
    #[instrument(skip_all, fields(rpc = "ListUsers"))]
    async fn list_users(
        &self,
        request: Request<proto::ListUsersRequest>,
    ) -> Result<Response<proto::ListUsersResponse>, Status> {
        let actor = actor(&request)?;
        let req = request.into_inner();
        let filter = UserFilter {
            email_prefix: req.email_prefix,
            role: req.role,
            page_token: req.page_token,
            page_size: req.page_size,
        };
        let page = self.auth.admin(&actor).list_users(filter).await?;
        Ok(Response::new(proto::ListUsersResponse {
            users: page.items.into_iter().map(user).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "GetUser"))]
    async fn get_user(
        &self,
        request: Request<proto::GetUserRequest>,
    ) -> Result<Response<proto::GetUserResponse>, Status> {
        let actor = actor(&request)?;
        let found = self
            .auth
            .admin(&actor)
            .get_user(&request.into_inner().user_id)
            .await?;
        Ok(Response::new(proto::GetUserResponse {
            user: Some(user(found)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "DisableUser"))]
    async fn disable_user(
        &self,
        request: Request<proto::DisableUserRequest>,
    ) -> Result<Response<proto::DisableUserResponse>, Status> {
        let actor = actor(&request)?;
        let (found, revoked) = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.admin(&actor).set_disabled(&req.user_id, true).await
        })
        .await?;
        Ok(Response::new(proto::DisableUserResponse {
            user: Some(user(found)),
            revoked_sessions: count(revoked),
        }))
    }

    #[instrument(skip_all, fields(rpc = "EnableUser"))]
    async fn enable_user(
        &self,
        request: Request<proto::EnableUserRequest>,
    ) -> Result<Response<proto::EnableUserResponse>, Status> {
        let actor = actor(&request)?;
        let (found, _) = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.admin(&actor).set_disabled(&req.user_id, false).await
        })
        .await?;
        Ok(Response::new(proto::EnableUserResponse {
            user: Some(user(found)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "SetRoles"))]
    async fn set_roles(
        &self,
        request: Request<proto::SetRolesRequest>,
    ) -> Result<Response<proto::SetRolesResponse>, Status> {
        let actor = actor(&request)?;
        let roles = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.admin(&actor).set_roles(&req.user_id, req.roles).await
        })
        .await?;
        Ok(Response::new(proto::SetRolesResponse {
            roles,
            effective_at_next_refresh: true,
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListSessions"))]
    async fn list_sessions(
        &self,
        request: Request<proto::ListSessionsRequest>,
    ) -> Result<Response<proto::ListSessionsResponse>, Status> {
        let actor = actor(&request)?;
        let req = request.into_inner();
        let page = self
            .auth
            .admin(&actor)
            .list_sessions(&req.user_id, &req.page_token, req.page_size)
            .await?;
        Ok(Response::new(proto::ListSessionsResponse {
            sessions: page.items.into_iter().map(session).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "RevokeSession"))]
    async fn revoke_session(
        &self,
        request: Request<proto::RevokeSessionRequest>,
    ) -> Result<Response<proto::RevokeSessionResponse>, Status> {
        let actor = actor(&request)?;
        let was_live = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.admin(&actor).revoke_session(&req.session_id).await
        })
        .await?;
        Ok(Response::new(proto::RevokeSessionResponse { was_live }))
    }

    #[instrument(skip_all, fields(rpc = "RevokeAllSessions"))]
    async fn revoke_all_sessions(
        &self,
        request: Request<proto::RevokeAllSessionsRequest>,
    ) -> Result<Response<proto::RevokeAllSessionsResponse>, Status> {
        let actor = actor(&request)?;
        let revoked = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.admin(&actor).revoke_all_sessions(&req.user_id).await
        })
        .await?;
        Ok(Response::new(proto::RevokeAllSessionsResponse {
            revoked_sessions: count(revoked),
        }))
    }

    #[instrument(skip_all, fields(rpc = "DeleteUser"))]
    async fn delete_user(
        &self,
        request: Request<proto::DeleteUserRequest>,
    ) -> Result<Response<proto::DeleteUserResponse>, Status> {
        let actor = actor(&request)?;
        let revoked = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.admin(&actor).delete_user(&req.user_id).await
        })
        .await?;
        Ok(Response::new(proto::DeleteUserResponse {
            revoked_sessions: count(revoked),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListAuditEvents"))]
    async fn list_audit_events(
        &self,
        request: Request<proto::ListAuditEventsRequest>,
    ) -> Result<Response<proto::ListAuditEventsResponse>, Status> {
        let actor = actor(&request)?;
        let req = request.into_inner();
        let filter = AuditFilter {
            user_id: req.user_id,
            kind: req.kind,
            since: req.since.map(|t| t.seconds),
            until: req.until.map(|t| t.seconds),
            page_token: req.page_token,
            page_size: req.page_size,
        };
        let page = self.auth.admin(&actor).list_audit_events(filter).await?;
        Ok(Response::new(proto::ListAuditEventsResponse {
            events: page.items.into_iter().map(audit_event).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "CreatePasswordResetToken"))]
    async fn create_password_reset_token(
        &self,
        request: Request<proto::CreatePasswordResetTokenRequest>,
    ) -> Result<Response<proto::CreateTokenResponse>, Status> {
        let actor = actor(&request)?;
        let made = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.create_password_reset_token(&actor, &req.email).await
        })
        .await?;
        Ok(Response::new(one_time(made)))
    }

    #[instrument(skip_all, fields(rpc = "CreateEmailVerificationToken"))]
    async fn create_email_verification_token(
        &self,
        request: Request<proto::CreateEmailVerificationTokenRequest>,
    ) -> Result<Response<proto::CreateTokenResponse>, Status> {
        let actor = actor(&request)?;
        let made = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.create_email_verification_token(&actor, &req.email)
                .await
        })
        .await?;
        Ok(Response::new(one_time(made)))
    }
}

/// An audit event as ListAuditEvents answers it.
fn audit_event(row: AuditRow) -> proto::AuditEvent {
    let e = row.event;
    proto::AuditEvent {
        id: row.id,
        time: Some(timestamp(e.at)),
        kind: e.kind.as_str().to_owned(),
        user_id: e.user_id.unwrap_or_default(),
        session_id: e.session_id.unwrap_or_default(),
        actor: e.actor,
        client_address: e.client_address.unwrap_or_default(),
        detail: e.detail.unwrap_or_default(),
    }
}

/// A single-use token as the admin API hands it out: the one place it leaves.
fn one_time(made: OneTimeToken) -> proto::CreateTokenResponse {
    proto::CreateTokenResponse {
        token: made.token.expose().to_owned(),
        expires_at: Some(timestamp(made.expires_at)),
    }
}
