//! Accepting and serving client connections, each under its limits.
//!
//! - **A cap on open connections** (`TESSERA_MAX_CONNECTIONS`): past it, new
//!   connections wait in the kernel's backlog until one closes; the wait is logged
//!   once each time the cap is reached. A failed accept (out of file descriptors) is
//!   logged and retried after a pause, never in a busy loop.
//! - **A handshake deadline** (`TESSERA_HANDSHAKE_TIMEOUT`): the 24-byte HTTP/2
//!   preface must arrive within it, so a silent or half-open connection cannot hold a
//!   slot.
//! - **An idle deadline** (`TESSERA_IDLE_TIMEOUT`): a connection with no RPC in
//!   flight for that long is sent GOAWAY and closed. An RPC counts from its request
//!   to the end of its response, so an open WatchRevocations stream keeps its
//!   connection.
//! - **HTTP/2's own limits**: concurrent streams (`TESSERA_MAX_STREAMS_PER_CONNECTION`),
//!   header-list size (`TESSERA_MAX_HEADER_BYTES`), and keepalive PINGs after
//!   `TESSERA_KEEPALIVE_INTERVAL` of silence, unanswered for 20 s closing it.
//! - **One message per request** (`one_message.rs`) on every method but reflection.
//! - **Shutdown**: accepting stops, every connection is sent GOAWAY, idle ones and
//!   those still handshaking close at once, the rest when their RPCs end. A closing
//!   connection (at shutdown or idle) whose peer does not finish the close is
//!   dropped after a second with no RPC in flight.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::body::Body as TonicBody;
use tonic::service::Routes;
use tonic::transport::server::TcpConnectInfo;

use crate::config::TrustedProxies;
use crate::grpc::{ClientAddress, Methods};
use tonic::{Code, Status};
use tracing::{Instrument, Span, debug, warn};

use super::handshake::Handshake;
use super::one_message::{OneMessage, streams_requests};
use super::tls::Tls;
use super::{observe, trace, trim};
use crate::config::Connections;
use crate::grpc::status::from_framework;
use crate::http::Metrics;

/// How long to wait before accepting again after accept failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a closing connection with no RPC in flight may take to finish its close
/// before it is dropped.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// How long an HTTP/2 PING may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `routes` on `listener` until `stop` resolves; then stops accepting, asks
/// every connection to close, and returns the set of connection tasks to drain.
pub(super) async fn serve(
    listener: TcpListener,
    front: Front,
    limits: Connections,
    stop: impl Future<Output = ()>,
) -> JoinSet<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, close) = watch::channel(false);
    let peak = Arc::new(trim::Peak::default());
    let trimmer = tokio::spawn(trim::run(
        peak.clone(),
        permits.clone(),
        limits.max_connections,
        close.clone(),
    ));
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        // Finished connections are reaped as they go, so the set stays small.
        while connections.try_join_next().is_some() {}
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached; new connections wait"
                );
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut stop => break,
                }
            }
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    peak.saw(limits.max_connections - permits.available_permits());
                    let front = front.clone();
                    let close = close.clone();
                    connections.spawn(connection(tcp, peer, permit, front, limits, close));
                }
                Err(e) => {
                    warn!(error = %e, "cannot accept a connection; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            () = &mut stop => break,
        }
    }
    drop(listener);
    closing.send_replace(true);
    trimmer.abort();
    connections
}

/// Serves one connection until it closes: over TLS when it is on, after a handshake
/// that must finish within the handshake deadline.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    front: Front,
    limits: Connections,
    mut close: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let info = TcpConnectInfo {
        local_addr: tcp.local_addr().ok(),
        remote_addr: Some(peer),
    };
    let Some(tls) = front.tls.clone() else {
        return serve_io(tcp, peer, info, front, limits, close).await;
    };
    let handshake = tokio::time::timeout(limits.handshake_timeout, tls.acceptor().accept(tcp));
    let accepted = tokio::select! {
        accepted = handshake => accepted,
        // Shutting down: a connection still in its TLS handshake has nothing to finish.
        _ = close.wait_for(|c| *c) => return,
    };
    match accepted {
        Ok(Ok(stream)) => serve_io(stream, peer, info, front, limits, close).await,
        Ok(Err(e)) => debug!(error = %e, peer = %peer, "TLS handshake failed"),
        Err(_) => debug!(peer = %peer, "TLS handshake did not finish in time"),
    }
}

/// Serves HTTP/2 on `io` until the connection closes.
async fn serve_io<IO>(
    io: IO,
    peer: SocketAddr,
    info: TcpConnectInfo,
    front: Front,
    limits: Connections,
    mut close: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState::new());
    let service = Counted {
        front,
        info,
        state: state.clone(),
    };
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(limits.max_header_bytes)
        .keep_alive_interval(Some(limits.keepalive_interval))
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    let io = Handshake::new(io, limits.handshake_timeout);
    let handshaken = io.done.clone();
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let mut conn = pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, peer = %peer, "connection ended");
                }
                return;
            }
            () = state.idle(limits.idle_timeout), if !closing => {
                debug!(peer = %peer, "connection idle; closing it");
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            // A graceful close waits for the peer (its answer to the closing PING,
            // the end of its streams); a peer that never answers is dropped once
            // the connection has been quiet for a little while.
            () = async {
                tokio::time::sleep(CLOSE_LINGER).await;
                state.idle(CLOSE_LINGER).await;
            }, if closing => {
                debug!(peer = %peer, "closing connection still open; dropping it");
                return;
            }
            _ = close.wait_for(|c| *c), if !closing => {
                // A connection that has not even sent its preface has nothing to
                // finish: it is dropped at once.
                if !handshaken.load(Ordering::Acquire) {
                    return;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection and the RPCs on it share: how many RPCs are in flight, and
/// since when none has been.
#[derive(Debug)]
struct ConnState {
    active: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl ConnState {
    fn new() -> Self {
        Self {
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    /// Resolves once no RPC has been in flight for `idle`.
    async fn idle(&self, idle: Duration) {
        loop {
            if self.active.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(idle).await;
                continue;
            }
            let due = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()) + idle;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

/// One RPC in flight; dropped when its response has ended.
struct RpcGuard(Arc<ConnState>);

impl RpcGuard {
    fn begin(state: &Arc<ConnState>) -> Self {
        state.active.fetch_add(1, Ordering::AcqRel);
        Self(state.clone())
    }
}

impl Drop for RpcGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }
}

/// What every connection serves, and with what.
#[derive(Clone)]
pub(super) struct Front {
    pub routes: Routes,
    /// Whose forwarding headers name the client.
    pub trusted: Arc<TrustedProxies>,
    /// Where each RPC is counted, when the metrics are served.
    pub metrics: Option<Arc<Metrics>>,
    /// TLS, when it is on.
    pub tls: Option<Arc<Tls>>,
    /// The methods served, when each RPC gets a trace span.
    pub traced: Option<Arc<Methods>>,
}

/// The routes of one connection: each request learns its peer and its client's
/// address (`config/proxies.rs`), and counts as in flight until its response body ends.
#[derive(Clone)]
struct Counted {
    front: Front,
    info: TcpConnectInfo,
    state: Arc<ConnState>,
}

impl<B> tower_service::Service<http::Request<B>> for Counted
where
    Routes: tower_service::Service<
            http::Request<OneMessage<B>>,
            Response = http::Response<TonicBody>,
            Error = Infallible,
        >,
    <Routes as tower_service::Service<http::Request<OneMessage<B>>>>::Future: Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<http::Request<OneMessage<B>>>::poll_ready(
            &mut self.front.routes,
            cx,
        )
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(peer) = self.info.remote_addr {
            let client = self.front.trusted.client(peer.ip(), request.headers());
            request.extensions_mut().insert(ClientAddress(client));
        }
        request.extensions_mut().insert(self.info.clone());
        let enforce = !streams_requests(request.uri().path());
        let request = request.map(|body| OneMessage::new(body, enforce));
        let guard = RpcGuard::begin(&self.state);
        let observed = self.front.metrics.clone().map(|m| {
            (
                m,
                request.uri().path().to_owned(),
                std::time::Instant::now(),
            )
        });
        let span = self
            .front
            .traced
            .as_ref()
            .map_or_else(Span::none, |methods| {
                trace::rpc_span(methods, request.uri().path(), request.headers())
            });
        let response = span.in_scope(|| self.front.routes.call(request));
        let finished = span.clone();
        let answer = async move {
            let mut response = response.await?;
            // A status the framework made (trailers-only, with no details) is given
            // tessera's ErrorInfo instead of the decoder's words.
            let headers = response.headers();
            if let Some(code) = headers.get("grpc-status")
                && code.as_bytes() != b"0"
                && !headers.contains_key("grpc-status-details-bin")
            {
                let framework = Status::from_header_map(headers);
                let message = framework.as_ref().map_or("", Status::message);
                response = from_framework(Code::from_bytes(code.as_bytes()), message).into_http();
            }
            if observed.is_some() || !finished.is_none() {
                let (code, reason) = observe::outcome(response.headers());
                if let Some((metrics, path, started)) = observed {
                    observe::record(&metrics, &path, started, code, &reason);
                }
                trace::record(&finished, code, &reason);
            }
            Ok(response.map(|body| {
                TonicBody::new(CountedBody {
                    inner: body,
                    _guard: guard,
                })
            }))
        };
        Box::pin(answer.instrument(span))
    }
}

/// A response body that holds its RPC's guard until it is done with.
struct CountedBody {
    inner: TonicBody,
    _guard: RpcGuard,
}

impl Body for CountedBody {
    type Data = <TonicBody as Body>::Data;
    type Error = <TonicBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
