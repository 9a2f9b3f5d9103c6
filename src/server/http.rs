//! Serving the HTTP endpoints (`crate::http`) on `TESSERA_HTTP_LISTEN`: HTTP/1.1,
//! under limits of its own.
//!
//! - At most [`MAX_HTTP_CONNECTIONS`] open connections; past it, new ones wait in the
//!   kernel's backlog until one closes.
//! - A request's headers must arrive within `TESSERA_HANDSHAKE_TIMEOUT`, and may
//!   take at most `TESSERA_MAX_HEADER_BYTES` (8 KiB at least): a slow or oversized
//!   client cannot hold a connection.
//! - No endpoint reads a request body.
//! - At shutdown accepting stops, idle connections close at once, and requests in
//!   flight finish within the shutdown grace.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::config::Connections;

/// The most HTTP connections open at once.
pub const MAX_HTTP_CONNECTIONS: usize = 256;

/// The smallest header buffer hyper accepts.
const MIN_BUF_BYTES: usize = 8 * 1024;

/// How long to wait before accepting again after accept failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `stop` resolves; returns the connection
/// tasks to drain.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Connections,
    stop: impl Future<Output = ()>,
) -> JoinSet<()> {
    let permits = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    let (closing, close) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let service = TowerToHyperService::new(router.clone());
                    let mut close = close.clone();
                    connections.spawn(async move {
                        let _permit = permit;
                        let mut builder = hyper::server::conn::http1::Builder::new();
                        builder
                            .timer(TokioTimer::new())
                            .header_read_timeout(limits.handshake_timeout)
                            .max_buf_size((limits.max_header_bytes as usize).max(MIN_BUF_BYTES));
                        let conn = builder.serve_connection(TokioIo::new(tcp), service);
                        let mut conn = pin!(conn);
                        tokio::select! {
                            result = conn.as_mut() => {
                                if let Err(e) = result {
                                    debug!(error = %e, peer = %peer, "HTTP connection ended");
                                }
                                return;
                            }
                            _ = close.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
                        }
                        if let Err(e) = conn.await {
                            debug!(error = %e, peer = %peer, "HTTP connection ended");
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "cannot accept an HTTP connection; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            () = &mut stop => break,
        }
    }
    drop(listener);
    closing.send_replace(true);
    connections
}
