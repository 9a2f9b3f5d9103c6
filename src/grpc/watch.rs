//! Feeding one WatchRevocations stream: the snapshot, then each revocation and the
//! heartbeats, until the client goes away or the server stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tonic::Status;
use tracing::debug;

use super::convert::{duration, revoked_session, timestamp};
use crate::auth::{Auth, Revocation, Watched};
use crate::proto;
use crate::store::Store;

/// At most this many sessions go in one snapshot event, keeping each message far
/// below gRPC's default 4 MiB limit.
const SNAPSHOT_CHUNK: usize = 1000;

/// Where one stream's events go.
type Sink = mpsc::Sender<Result<proto::RevocationEvent, Status>>;

/// One stream: what it sends and where.
pub(super) struct Stream<S: Store> {
    pub auth: Arc<Auth<S>>,
    pub heartbeat: Duration,
    pub stopping: watch::Receiver<bool>,
    pub tx: Sink,
}

impl<S: Store> Stream<S> {
    fn event(&self, sessions: &[Revocation], snapshot: bool) -> proto::RevocationEvent {
        proto::RevocationEvent {
            sessions: sessions.iter().map(revoked_session).collect(),
            snapshot,
            sent_at: Some(timestamp(self.auth.clock().now())),
            heartbeat_interval: Some(duration(self.heartbeat)),
            keys_changed: false,
        }
    }

    /// Sends the whole set; false if the client went away.
    async fn send_snapshot(&self, sessions: Vec<Revocation>) -> bool {
        // An empty snapshot still sends one event: the client learns it is
        // connected, and the heartbeat interval.
        let chunks: Vec<&[Revocation]> = if sessions.is_empty() {
            vec![&[]]
        } else {
            sessions.chunks(SNAPSHOT_CHUNK).collect()
        };
        for chunk in chunks {
            if self.tx.send(Ok(self.event(chunk, true))).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Runs the stream from `snapshot` and `revocations` (taken together) to its end.
    pub(super) async fn run(
        mut self,
        snapshot: Vec<Revocation>,
        mut revocations: broadcast::Receiver<Watched>,
    ) {
        if !self.send_snapshot(snapshot).await {
            return;
        }
        let start = tokio::time::Instant::now() + self.heartbeat;
        let mut ticker = tokio::time::interval_at(start, self.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = tokio::select! {
                received = revocations.recv() => match received {
                    Ok(Watched::Revoked(revocation)) => self.event(&[revocation], false),
                    Ok(Watched::KeysChanged) => proto::RevocationEvent {
                        keys_changed: true,
                        ..self.event(&[], false)
                    },
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // Fell behind: send the whole set again rather than lose any.
                        debug!(missed, "revocation stream lagged; resending the set");
                        let (snapshot, receiver) = self.auth.watch_revocations();
                        revocations = receiver;
                        if !self.send_snapshot(snapshot).await {
                            return;
                        }
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick() => self.event(&[], false),
                _ = self.stopping.changed() => return,
                () = self.tx.closed() => return,
            };
            if self.tx.send(Ok(next)).await.is_err() {
                return;
            }
        }
    }
}
