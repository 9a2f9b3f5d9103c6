//! `tessera.auth.v1.AuthService`: converts proto <-> domain and delegates to
//! [`Auth`]. No SQL here and no security decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{Instrument, debug, instrument};

use crate::auth::{Auth, AuthError, ClientInfo, IssuedTokens, Revocation, unix_now};
use crate::proto::{self, auth_service_server::AuthService};
use crate::store::{Store, UserRow};
use crate::token::AccessClaims;

/// Runs a use case that writes state as a task of its own, so a client that cancels
/// or times out cannot stop it half way: a login always settles the failed-login
/// budget it drew on, a logout always reaches the revocation set.
async fn to_completion<T, F>(work: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, AuthError>> + Send + 'static,
{
    match tokio::spawn(work.in_current_span()).await {
        Ok(result) => Ok(result?),
        // Only a bug (a panic in the use case) gets here.
        Err(e) => Err(Status::internal(format!("the request failed: {e}"))),
    }
}

/// At most this many sessions go in one snapshot event, keeping each message far
/// below gRPC's default 4 MiB limit.
const SNAPSHOT_CHUNK: usize = 1000;

/// Counts of what this instance served, for monitoring.
#[derive(Debug, Default)]
pub struct Counters {
    get_jwks: AtomicU64,
}

impl Counters {
    /// How many GetJwks calls were answered: what verifiers cost this instance.
    pub fn get_jwks(&self) -> u64 {
        self.get_jwks.load(Ordering::Relaxed)
    }
}

/// The gRPC service over the use cases.
pub struct AuthGrpc<S: Store> {
    auth: Arc<Auth<S>>,
    heartbeat: Duration,
    stopping: watch::Receiver<bool>,
    counters: Arc<Counters>,
}

impl<S: Store> AuthGrpc<S> {
    /// Serves `auth`. WatchRevocations streams send a heartbeat every `heartbeat`,
    /// and end when `stopping` turns true, so they never hold up a shutdown.
    pub fn new(
        auth: Arc<Auth<S>>,
        heartbeat: Duration,
        stopping: watch::Receiver<bool>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            auth,
            heartbeat,
            stopping,
            counters,
        }
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// Feeds one WatchRevocations stream: the snapshot, then each revocation and the
/// heartbeats, until the client goes away or the server stops.
async fn stream_revocations<S: Store>(
    auth: Arc<Auth<S>>,
    snapshot: Vec<Revocation>,
    mut revocations: broadcast::Receiver<Revocation>,
    heartbeat: Duration,
    mut stopping: watch::Receiver<bool>,
    tx: mpsc::Sender<Result<proto::RevocationEvent, Status>>,
) {
    let event = |sessions: &[Revocation], snapshot: bool| proto::RevocationEvent {
        sessions: sessions
            .iter()
            .map(|r| proto::RevokedSession {
                session_id: r.session_id.clone(),
                forget_after: Some(timestamp(r.forget_after)),
            })
            .collect(),
        snapshot,
        sent_at: Some(timestamp(unix_now())),
        heartbeat_interval: Some(duration(heartbeat)),
    };
    let send_snapshot = |sessions: Vec<Revocation>| {
        let tx = tx.clone();
        async move {
            // An empty snapshot still sends one event: the client learns it is
            // connected, and the heartbeat interval.
            let chunks: Vec<&[Revocation]> = if sessions.is_empty() {
                vec![&[]]
            } else {
                sessions.chunks(SNAPSHOT_CHUNK).collect()
            };
            for chunk in chunks {
                if tx.send(Ok(event(chunk, true))).await.is_err() {
                    return false;
                }
            }
            true
        }
    };
    if !send_snapshot(snapshot).await {
        return;
    }
    let start = tokio::time::Instant::now() + heartbeat;
    let mut ticker = tokio::time::interval_at(start, heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = tokio::select! {
            received = revocations.recv() => match received {
                Ok(revocation) => event(&[revocation], false),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Fell behind: send the whole set again rather than lose any.
                    debug!(missed, "revocation stream lagged; resending the set");
                    let (snapshot, receiver) = auth.watch_revocations();
                    revocations = receiver;
                    if !send_snapshot(snapshot).await {
                        return;
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick() => event(&[], false),
            _ = stopping.changed() => return,
            () = tx.closed() => return,
        };
        if tx.send(Ok(next)).await.is_err() {
            return;
        }
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
    type WatchRevocationsStream = ReceiverStream<Result<proto::RevocationEvent, Status>>;

    #[instrument(skip_all, fields(rpc = "Register"))]
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let client = client(&request);
        let req = request.into_inner();
        let auth = self.auth.clone();
        let row = to_completion(async move {
            auth.register(&req.email, req.password, &client, unix_now())
                .await
        })
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
        let auth = self.auth.clone();
        let (row, tokens) = to_completion(async move {
            auth.login(&req.email, req.password, &client, unix_now())
                .await
        })
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
        let auth = self.auth.clone();
        let tokens =
            to_completion(
                async move { auth.refresh(req.refresh_token, &client, unix_now()).await },
            )
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
        let auth = self.auth.clone();
        to_completion(async move {
            auth.logout(req.refresh_token, req.all_sessions, &client, unix_now())
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
        self.counters.get_jwks.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(proto::GetJwksResponse {
            keys: self.auth.jwks(unix_now()),
        }))
    }

    #[instrument(skip_all, fields(rpc = "WatchRevocations"))]
    async fn watch_revocations(
        &self,
        _request: Request<proto::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let (snapshot, revocations) = self.auth.watch_revocations();
        debug!(sessions = snapshot.len(), "revocation stream opened");
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(stream_revocations(
            self.auth.clone(),
            snapshot,
            revocations,
            self.heartbeat,
            self.stopping.clone(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
