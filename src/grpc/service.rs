//! `tessera.auth.v1.AuthService`: converts proto <-> domain and delegates to
//! [`Auth`]. No SQL here and no security decision.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::auth::{Auth, ClientInfo, IssuedTokens, unix_now};
use crate::proto::{self, auth_service_server::AuthService};
use crate::store::{Store, UserRow};
use crate::token::AccessClaims;

/// The gRPC service over the use cases.
pub struct AuthGrpc<S: Store> {
    auth: Arc<Auth<S>>,
}

impl<S: Store> AuthGrpc<S> {
    /// Serves `auth`.
    pub fn new(auth: Arc<Auth<S>>) -> Self {
        Self { auth }
    }
}

fn timestamp(secs: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    }
}

fn user(row: &UserRow) -> proto::User {
    proto::User {
        id: row.id.to_string(),
        email: row.email.as_str().to_owned(),
        roles: row.roles.clone(),
        created_at: Some(timestamp(row.created_at)),
    }
}

fn pair(tokens: IssuedTokens) -> proto::TokenPair {
    proto::TokenPair {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.expose().to_owned(),
        token_type: "Bearer".into(),
        expires_in: tokens.expires_in,
        refresh_expires_in: tokens.refresh_expires_in,
    }
}

fn claims(c: AccessClaims) -> proto::Claims {
    proto::Claims {
        subject: c.sub,
        email: c.email,
        roles: c.roles,
        session_id: c.sid,
        token_id: c.jti,
        issuer: c.iss,
        audience: c.aud,
        issued_at: Some(timestamp(c.iat)),
        expires_at: Some(timestamp(c.exp)),
    }
}

fn client<T>(request: &Request<T>) -> ClientInfo {
    ClientInfo {
        address: request.remote_addr().map(|a| a.ip().to_string()),
        user_agent: request
            .metadata()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    }
}

#[tonic::async_trait]
impl<S: Store> AuthService for AuthGrpc<S> {
    #[instrument(skip_all, fields(rpc = "Register"))]
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let client = client(&request);
        let req = request.into_inner();
        let row = self
            .auth
            .register(&req.email, req.password, &client, unix_now())
            .await?;
        Ok(Response::new(proto::RegisterResponse {
            user: Some(user(&row)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Login"))]
    async fn login(
        &self,
        request: Request<proto::LoginRequest>,
    ) -> Result<Response<proto::LoginResponse>, Status> {
        let client = client(&request);
        let req = request.into_inner();
        let (row, tokens) = self
            .auth
            .login(&req.email, req.password, &client, unix_now())
            .await?;
        Ok(Response::new(proto::LoginResponse {
            tokens: Some(pair(tokens)),
            user: Some(user(&row)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Refresh"))]
    async fn refresh(
        &self,
        request: Request<proto::RefreshRequest>,
    ) -> Result<Response<proto::RefreshResponse>, Status> {
        let client = client(&request);
        let req = request.into_inner();
        let tokens = self
            .auth
            .refresh(req.refresh_token, &client, unix_now())
            .await?;
        Ok(Response::new(proto::RefreshResponse {
            tokens: Some(pair(tokens)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Logout"))]
    async fn logout(
        &self,
        request: Request<proto::LogoutRequest>,
    ) -> Result<Response<proto::LogoutResponse>, Status> {
        let client = client(&request);
        let req = request.into_inner();
        self.auth
            .logout(req.refresh_token, req.all_sessions, &client, unix_now())
            .await?;
        Ok(Response::new(proto::LogoutResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "Verify"))]
    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let req = request.into_inner();
        let verified = self.auth.verify(&req.access_token, unix_now())?;
        Ok(Response::new(proto::VerifyResponse {
            claims: Some(claims(verified)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "GetJwks"))]
    async fn get_jwks(
        &self,
        _request: Request<proto::GetJwksRequest>,
    ) -> Result<Response<proto::GetJwksResponse>, Status> {
        Ok(Response::new(proto::GetJwksResponse {
            keys: self.auth.jwks(unix_now()),
        }))
    }
}
