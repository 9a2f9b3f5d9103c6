//! `tessera.auth.v1.AuthService`: one thin handler per RPC. Each converts the
//! request, delegates to [`Auth`] and converts the answer. No SQL here and no
//! security decision.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{claims, count, jwk, pair, user};
use super::request::to_completion;
use super::watch::{Feed, Stream, Watching};
use crate::auth::{Auth, AuthError, Credential};
use crate::proto::{self, auth_service_server::AuthService};
use crate::store::Store;

/// The gRPC service over the use cases.
pub struct AuthGrpc<S: Store> {
    auth: Arc<Auth<S>>,
    heartbeat: Duration,
    stopping: watch::Receiver<bool>,
    /// The WatchRevocations feed, started with the first stream.
    feed: OnceLock<Arc<Feed>>,
    /// How many WatchRevocations streams are open.
    watching: Watching,
}

impl<S: Store> AuthGrpc<S> {
    /// Serves `auth`. WatchRevocations streams send a heartbeat every `heartbeat`,
    /// and end when `stopping` turns true, so they never hold up a shutdown.
    pub fn new(auth: Arc<Auth<S>>, heartbeat: Duration, stopping: watch::Receiver<bool>) -> Self {
        Self {
            auth,
            heartbeat,
            stopping,
            feed: OnceLock::new(),
            watching: Watching::default(),
        }
    }

    /// The count of open WatchRevocations streams, for the metrics.
    pub fn watching(&self) -> Watching {
        self.watching.clone()
    }
}

/// Exactly one of an access token and a refresh token.
pub(super) fn credential(
    access_token: String,
    refresh_token: String,
) -> Result<Credential, AuthError> {
    match (access_token.is_empty(), refresh_token.is_empty()) {
        (false, true) => Ok(Credential::AccessToken(access_token)),
        (true, false) => Ok(Credential::RefreshToken(refresh_token)),
        _ => Err(AuthError::InvalidArgument {
            field: "access_token",
            problem: "or refresh_token is required, and only one of them",
        }),
    }
}

#[tonic::async_trait]
impl<S: Store> AuthService for AuthGrpc<S> {
    type WatchRevocationsStream = ReceiverStream<Result<proto::EncodedEvent, Status>>;

    #[instrument(skip_all, fields(rpc = "Register"))]
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let registered = to_completion(&self.auth, request, |auth, req, client| async move {
            auth.register(&req.email, req.password, &client).await
        })
        .await?;
        Ok(Response::new(proto::RegisterResponse {
            user: Some(user(registered)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Login"))]
    async fn login(
        &self,
        request: Request<proto::LoginRequest>,
    ) -> Result<Response<proto::LoginResponse>, Status> {
        let (account, tokens) =
            to_completion(&self.auth, request, |auth, req, client| async move {
                auth.login(&req.email, req.password, &client).await
            })
            .await?;
        Ok(Response::new(proto::LoginResponse {
            tokens: Some(pair(tokens)),
            user: Some(user(account)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Refresh"))]
    async fn refresh(
        &self,
        request: Request<proto::RefreshRequest>,
    ) -> Result<Response<proto::RefreshResponse>, Status> {
        let tokens = to_completion(&self.auth, request, |auth, req, client| async move {
            auth.refresh(req.refresh_token, &client).await
        })
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
        to_completion(&self.auth, request, |auth, req, client| async move {
            auth.logout(req.refresh_token, req.all_sessions, &client)
                .await
        })
        .await?;
        Ok(Response::new(proto::LogoutResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "Verify"))]
    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let verified = self.auth.verify(&request.into_inner().access_token)?;
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
            keys: self.auth.jwks().into_iter().map(jwk).collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ChangePassword"))]
    async fn change_password(
        &self,
        request: Request<proto::ChangePasswordRequest>,
    ) -> Result<Response<proto::ChangePasswordResponse>, Status> {
        let changed = to_completion(&self.auth, request, |auth, req, client| async move {
            let credential = credential(req.access_token, req.refresh_token)?;
            auth.change_password(credential, req.current_password, req.new_password, &client)
                .await
        })
        .await?;
        Ok(Response::new(proto::ChangePasswordResponse {
            kept_session_id: changed.kept_session.to_string(),
            revoked_sessions: count(changed.revoked_sessions),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ResetPassword"))]
    async fn reset_password(
        &self,
        request: Request<proto::ResetPasswordRequest>,
    ) -> Result<Response<proto::ResetPasswordResponse>, Status> {
        let revoked = to_completion(&self.auth, request, |auth, req, _| async move {
            auth.reset_password(req.token, req.new_password).await
        })
        .await?;
        Ok(Response::new(proto::ResetPasswordResponse {
            revoked_sessions: count(revoked),
        }))
    }

    #[instrument(skip_all, fields(rpc = "VerifyEmail"))]
    async fn verify_email(
        &self,
        request: Request<proto::VerifyEmailRequest>,
    ) -> Result<Response<proto::VerifyEmailResponse>, Status> {
        to_completion(&self.auth, request, |auth, req, _| async move {
            auth.verify_email(req.token).await
        })
        .await?;
        Ok(Response::new(proto::VerifyEmailResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "DeleteAccount"))]
    async fn delete_account(
        &self,
        request: Request<proto::DeleteAccountRequest>,
    ) -> Result<Response<proto::DeleteAccountResponse>, Status> {
        let revoked = to_completion(&self.auth, request, |auth, req, client| async move {
            let credential = credential(req.access_token, req.refresh_token)?;
            auth.delete_account(credential, req.current_password, &client)
                .await
        })
        .await?;
        Ok(Response::new(proto::DeleteAccountResponse {
            revoked_sessions: count(revoked),
        }))
    }

    #[instrument(skip_all, fields(rpc = "WatchRevocations"))]
    async fn watch_revocations(
        &self,
        _request: Request<proto::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let feed = self.feed.get_or_init(|| {
            Arc::new(Feed::start(
                self.auth.follow_revocations(),
                self.auth.clock().clone(),
                self.heartbeat,
                self.stopping.clone(),
            ))
        });
        let (tx, rx) = mpsc::channel(16);
        let stream = Stream {
            auth: self.auth.clone(),
            feed: feed.clone(),
            stopping: self.stopping.clone(),
            tx,
            _open: self.watching.open(),
        };
        tokio::spawn(stream.run());
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
