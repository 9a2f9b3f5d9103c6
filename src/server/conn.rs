//! What one client connection may hold, enforced below HTTP/2.
//!
//! - **A cap on open connections** (`TESSERA_MAX_CONNECTIONS`): past it, new
//!   connections wait in the kernel's backlog until one closes; the first wait is
//!   logged. A failed accept (out of file descriptors) is logged and retried after a
//!   pause, never in a busy loop.
//! - **A handshake deadline** (`TESSERA_HANDSHAKE_TIMEOUT`): the 24-byte HTTP/2
//!   preface must arrive within it, so a silent or half-open connection cannot hold a
//!   slot.
//! - **An idle deadline** (`TESSERA_IDLE_TIMEOUT`): a connection with no RPC in
//!   flight for that long is closed. RPCs count from their request to the end of
//!   their response, so an open WatchRevocations stream keeps its connection.
//!
//! The streams of one connection, the header size and the keepalive pings are
//! HTTP/2's own settings, set where the server is built (`serve.rs`).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_stream::Stream;
use tokio_util::sync::PollSemaphore;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};
use tracing::warn;

/// The length of the HTTP/2 client preface (RFC 9113 §3.4).
const PREFACE_BYTES: usize = 24;

/// How long to wait before accepting again after accept failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Per-connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Accepted connections, each holding one of the cap's permits.
pub(super) struct Incoming {
    inner: TcpIncoming,
    permits: PollSemaphore,
    /// A permit taken for the next connection, not yet used.
    permit: Option<OwnedSemaphorePermit>,
    limits: ConnLimits,
    backoff: Option<Pin<Box<Sleep>>>,
    /// Whether the cap's wait was logged since it last had room.
    told_full: bool,
}

impl Incoming {
    pub(super) fn new(inner: TcpIncoming, limits: ConnLimits) -> Self {
        Self {
            inner,
            permits: PollSemaphore::new(Arc::new(Semaphore::new(limits.max_connections))),
            permit: None,
            limits,
            backoff: None,
            told_full: false,
        }
    }
}

impl Stream for Incoming {
    type Item = Result<Conn, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(pause) = this.backoff.as_mut() {
            ready!(pause.as_mut().poll(cx));
            this.backoff = None;
        }
        if this.permit.is_none() {
            match this.permits.poll_acquire(cx) {
                Poll::Ready(Some(permit)) => {
                    this.permit = Some(permit);
                    this.told_full = false;
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    if !this.told_full {
                        this.told_full = true;
                        warn!(
                            max_connections = this.limits.max_connections,
                            "connection limit reached; new connections wait"
                        );
                    }
                    return Poll::Pending;
                }
            }
        }
        loop {
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(stream)) => {
                    let permit = this.permit.take();
                    return Poll::Ready(Some(Ok(Conn::new(stream, permit, this.limits))));
                }
                Some(Err(e)) => {
                    warn!(error = %e, "cannot accept a connection; retrying shortly");
                    let mut pause = Box::pin(tokio::time::sleep(ACCEPT_BACKOFF));
                    if pause.as_mut().poll(cx).is_pending() {
                        this.backoff = Some(pause);
                        return Poll::Pending;
                    }
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

/// What a connection and the RPCs on it share: how many RPCs are in flight, and
/// since when none has been.
#[derive(Debug)]
pub struct ConnState {
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

    /// Marks one RPC begun; the returned guard ends it when dropped.
    pub fn begin(self: &Arc<Self>) -> RpcGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        RpcGuard(self.clone())
    }

    /// When the connection may be closed as idle, or `None` while an RPC is in flight.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        Some(since + idle)
    }
}

/// One RPC in flight; dropped when its response has ended.
pub struct RpcGuard(Arc<ConnState>);

impl Drop for RpcGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }
}

/// What a request learns of its connection: the TCP details and the shared state.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub tcp: TcpConnectInfo,
    pub state: Arc<ConnState>,
}

/// An accepted connection under its deadlines.
pub(super) struct Conn {
    io: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
    state: Arc<ConnState>,
    limits: ConnLimits,
    /// Preface bytes still to come.
    preface_left: usize,
    accepted: Instant,
    deadline: Pin<Box<Sleep>>,
}

impl Conn {
    fn new(io: TcpStream, permit: Option<OwnedSemaphorePermit>, limits: ConnLimits) -> Self {
        let accepted = Instant::now();
        Self {
            io,
            _permit: permit,
            state: Arc::new(ConnState::new()),
            limits,
            preface_left: PREFACE_BYTES,
            accepted,
            deadline: Box::pin(tokio::time::sleep_until(
                accepted + limits.handshake_timeout,
            )),
        }
    }

    /// The moment this connection is due to close: the handshake deadline until the
    /// preface is in, then the idle one (re-checked later while RPCs are in flight).
    fn due(&self) -> Instant {
        if self.preface_left > 0 {
            return self.accepted + self.limits.handshake_timeout;
        }
        self.state
            .idle_deadline(self.limits.idle_timeout)
            .unwrap_or_else(|| Instant::now() + self.limits.idle_timeout)
    }

    /// An error if the connection is past its deadline; else arms the timer, so the
    /// reader is woken when it comes.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            let due = self.due();
            if Instant::now() >= due {
                let what = if self.preface_left > 0 {
                    "the HTTP/2 handshake did not arrive in time"
                } else {
                    "the connection was idle too long"
                };
                return Err(io::Error::new(io::ErrorKind::TimedOut, what));
            }
            if self.deadline.deadline() != due {
                self.deadline.as_mut().reset(due);
            }
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
        }
    }
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            tcp: self.io.connect_info(),
            state: self.state.clone(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.check_deadline(cx)?;
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let read = buf.filled().len() - before;
        this.preface_left = this.preface_left.saturating_sub(read);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
