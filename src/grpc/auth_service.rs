//! `tessera.auth.v1.AuthService`: one thin handler per RPC. Each converts the
//! request, delegates to [`Auth`] and converts the answer. No SQL here and no
//! security decision.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{Instrument, instrument};

use super::convert::{claims, jwk, pair, user};
use super::watch::{Feed, Stream};
use crate::auth::{Auth, AuthError, ClientInfo, Credential};
use crate::proto::{self, auth_service_server::AuthService};
use crate::store::Store;

/// The gRPC service over the use cases.
pub struct AuthGrpc<S: Store> {
    auth: Arc<Auth<S>>,
    heartbeat: Duration,
    stopping: watch::Receiver<bool>,
    /// The WatchRevocations feed, started with the first stream.
    feed: OnceLock<Arc<Feed>>,
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
        }
    }

    /// Runs a use case that writes state as a task of its own, so a client that
    /// cancels or times out cannot stop it half way: a login always settles the
    /// failed-login budget it drew on, a logout always reaches the revocation set.
    async fn to_completion<Req, T, F, Fut>(
        &self,
        request: Request<Req>,
        use_case: F,
    ) -> Result<T, Status>
    where
        F: FnOnce(Arc<Auth<S>>, Req, ClientInfo) -> Fut,
        Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
        T: Send + 'static,
    {
        let client = client(&request);
        let work = use_case(self.auth.clone(), request.into_inner(), client);
        match tokio::spawn(work.in_current_span()).await {
            Ok(result) => Ok(result?),
            // Only a bug (a panic in the use case) gets here.
            Err(_) => Err(AuthError::Worker.into()),
        }
    }
}

/// Exactly one of an access token and a refresh token.
fn credential(access_token: String, refresh_token: String) -> Result<Credential, AuthError> {
    match (access_token.is_empty(), refresh_token.is_empty()) {
        (false, true) => Ok(Credential::AccessToken(access_token)),
        (true, false) => Ok(Credential::RefreshToken(refresh_token)),
        _ => Err(AuthError::InvalidArgument {
            field: "access_token",
            problem: "or refresh_token is required, and only one of them",
        }),
    }
}

/// Where the request came from: the peer address and a bounded user agent.
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
    type WatchRevocationsStream = ReceiverStream<Result<proto::EncodedEvent, Status>>;

    #[instrument(skip_all, fields(rpc = "Register"))]
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let registered = self
            .to_completion(request, |auth, req, client| async move {
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
        let (account, tokens) = self
            .to_completion(request, |auth, req, client| async move {
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
        let tokens = self
            .to_completion(request, |auth, req, client| async move {
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
        self.to_completion(request, |auth, req, client| async move {
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
        let changed = self
            .to_completion(request, |auth, req, client| async move {
                let credential = credential(req.access_token, req.refresh_token)?;
                auth.change_password(credential, req.current_password, req.new_password, &client)
                    .await
            })
            .await?;
        Ok(Response::new(proto::ChangePasswordResponse {
            kept_session_id: changed.kept_session.to_string(),
            revoked_sessions: u32::try_from(changed.revoked_sessions).unwrap_or(u32::MAX),
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
        };
        tokio::spawn(stream.run());
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
