//! WatchRevocations: one feed per server that encodes each event once, and the
//! streams that send the snapshot, then the feed's events and the heartbeats, until
//! the client goes away or the server stops.
//!
//! A revocation reaches a thousand streams as one encoding and a thousand clones of
//! its bytes ([`proto::EncodedEvent`]); only the snapshot, the heartbeats and the
//! catching-up are each stream's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tonic::Status;
use tracing::debug;

use super::convert::{duration, revoked_session, timestamp};
use crate::auth::{Auth, Revocation, Watched};
use crate::clock::Clock;
use crate::proto::{self, EncodedEvent};
use crate::store::Store;

/// At most this many sessions go in one event (of a snapshot, or of many sessions
/// revoked at once), keeping each message far below gRPC's default 4 MiB limit.
const SNAPSHOT_CHUNK: usize = 1000;

/// How many events a stream may fall behind the feed before it is sent the whole
/// set again.
const FEED_BACKLOG: usize = 1024;

/// Where one stream's events go.
type Sink = mpsc::Sender<Result<EncodedEvent, Status>>;

/// What the feed hands every stream.
#[derive(Debug, Clone)]
pub(super) enum Fed {
    /// An event, encoded once.
    Event(EncodedEvent),
    /// The feed fell behind the revocation hub and may have missed some: every
    /// stream sends the whole set again.
    Resync,
}

/// Builds the events every stream of this server sends alike.
#[derive(Clone)]
struct Events {
    clock: Clock,
    heartbeat: Duration,
}

impl Events {
    fn event(&self, sessions: &[Revocation], snapshot: bool) -> proto::RevocationEvent {
        proto::RevocationEvent {
            sessions: sessions.iter().map(revoked_session).collect(),
            snapshot,
            sent_at: Some(timestamp(self.clock.now())),
            heartbeat_interval: Some(duration(self.heartbeat)),
            keys_changed: false,
        }
    }

    fn keys_changed(&self) -> proto::RevocationEvent {
        proto::RevocationEvent {
            keys_changed: true,
            ..self.event(&[], false)
        }
    }
}

/// The server's one follower of the revocation hub.
pub(super) struct Feed {
    tx: broadcast::Sender<Fed>,
    events: Events,
}

impl Feed {
    /// Follows `hub` until `stopping` turns true or the hub closes, encoding each
    /// event once.
    pub(super) fn start(
        mut hub: broadcast::Receiver<Watched>,
        clock: Clock,
        heartbeat: Duration,
        mut stopping: watch::Receiver<bool>,
    ) -> Self {
        let tx = broadcast::channel(FEED_BACKLOG).0;
        let events = Events { clock, heartbeat };
        let (feed, building) = (tx.clone(), events.clone());
        tokio::spawn(async move {
            loop {
                let fed = tokio::select! {
                    received = hub.recv() => match received {
                        Ok(Watched::Revoked(revoked)) => {
                            // Many at once (a logout everywhere): events of at most
                            // a snapshot chunk each, all but the last sent here.
                            let mut chunks = revoked.chunks(SNAPSHOT_CHUNK).peekable();
                            let mut last = None;
                            while let Some(chunk) = chunks.next() {
                                let event = Fed::Event((&building.event(chunk, false)).into());
                                if chunks.peek().is_some() {
                                    let _ = feed.send(event);
                                } else {
                                    last = Some(event);
                                }
                            }
                            match last {
                                Some(event) => event,
                                None => continue,
                            }
                        }
                        Ok(Watched::KeysChanged) => Fed::Event((&building.keys_changed()).into()),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            // Follow from now on; the set holds what was missed.
                            debug!(missed, "revocation feed lagged; streams resend the set");
                            hub = hub.resubscribe();
                            Fed::Resync
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = stopping.changed() => return,
                };
                // No stream is fine: nobody is watching.
                let _ = feed.send(fed);
            }
        });
        Self { tx, events }
    }

    /// A receiver of the feed from now on.
    fn subscribe(&self) -> broadcast::Receiver<Fed> {
        self.tx.subscribe()
    }
}

/// One stream: what it sends and where.
pub(super) struct Stream<S: Store> {
    pub auth: Arc<Auth<S>>,
    pub feed: Arc<Feed>,
    pub stopping: watch::Receiver<bool>,
    pub tx: Sink,
    /// Counts the stream as open until it ends.
    pub _open: Open,
}

/// How many streams are open. Cheap to clone; clones share the count.
#[derive(Debug, Clone, Default)]
pub struct Watching(Arc<AtomicUsize>);

impl Watching {
    /// The streams open now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one more stream until the answer is dropped.
    pub(super) fn open(&self) -> Open {
        self.0.fetch_add(1, Ordering::Relaxed);
        Open(self.0.clone())
    }
}

/// One open stream, counted until dropped.
pub(super) struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S: Store> Stream<S> {
    /// A receiver of the feed and every session remembered now. The receiver is
    /// taken first, so no revocation falls between the two; one may be in both,
    /// which is harmless.
    fn follow(&self) -> (broadcast::Receiver<Fed>, Vec<Revocation>) {
        let receiver = self.feed.subscribe();
        (receiver, self.auth.revoked_sessions())
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
            let event = (&self.feed.events.event(chunk, true)).into();
            if self.tx.send(Ok(event)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Runs the stream to its end.
    pub(super) async fn run(mut self) {
        let (mut fed, snapshot) = self.follow();
        debug!(sessions = snapshot.len(), "revocation stream opened");
        if !self.send_snapshot(snapshot).await {
            return;
        }
        let heartbeat = self.feed.events.heartbeat;
        let start = tokio::time::Instant::now() + heartbeat;
        let mut ticker = tokio::time::interval_at(start, heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = tokio::select! {
                received = fed.recv() => match received {
                    Ok(Fed::Event(event)) => event,
                    Ok(Fed::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: send the whole set again rather than lose any.
                        debug!("revocation stream lagged; resending the set");
                        let (receiver, snapshot) = self.follow();
                        fed = receiver;
                        if !self.send_snapshot(snapshot).await {
                            return;
                        }
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick() => (&self.feed.events.event(&[], false)).into(),
                _ = self.stopping.changed() => return,
                () = self.tx.closed() => return,
            };
            if self.tx.send(Ok(next)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Revocation;

    fn revocation(n: u32) -> Revocation {
        Revocation {
            session_id: format!("0190c1d2-0000-7000-8000-{n:012}"),
            forget_after: 1_700_000_000,
        }
    }

    fn revoked(n: u8) -> Watched {
        Watched::Revoked(Arc::new([revocation(n.into())]))
    }

    /// A feed following `hub` from now on, and what stops it.
    fn following(hub: &broadcast::Sender<Watched>) -> (watch::Sender<bool>, Feed) {
        let (stop, stopping) = watch::channel(false);
        let feed = Feed::start(
            hub.subscribe(),
            Clock::stepped(1_700_000_000),
            Duration::from_secs(30),
            stopping,
        );
        (stop, feed)
    }

    async fn event(rx: &mut broadcast::Receiver<Fed>) -> EncodedEvent {
        match rx.recv().await.expect("an event") {
            Fed::Event(event) => event,
            Fed::Resync => panic!("a resync"),
        }
    }

    #[tokio::test]
    async fn every_stream_gets_the_same_encoding_of_an_event() {
        let (hub, _) = broadcast::channel(8);
        let (_stop, feed) = following(&hub);
        let (mut a, mut b) = (feed.subscribe(), feed.subscribe());
        hub.send(revoked(1)).unwrap();
        let (first, second) = (event(&mut a).await, event(&mut b).await);
        assert_eq!(first.bytes().as_ptr(), second.bytes().as_ptr());
        let decoded = first.to_event().unwrap();
        assert_eq!(decoded.sessions.len(), 1);
        assert!(!decoded.snapshot);
        hub.send(Watched::KeysChanged).unwrap();
        assert!(event(&mut a).await.to_event().unwrap().keys_changed);
    }

    #[tokio::test]
    async fn a_feed_that_fell_behind_the_hub_tells_streams_to_resync() {
        let (hub, _) = broadcast::channel(2);
        let (_stop, stopping) = watch::channel(false);
        // Subscribed before the burst, started after it: the feed finds itself behind.
        let behind = hub.subscribe();
        for n in 0..5 {
            hub.send(revoked(n)).unwrap();
        }
        let feed = Feed::start(
            behind,
            Clock::stepped(1_700_000_000),
            Duration::from_secs(30),
            stopping,
        );
        let mut rx = feed.subscribe();
        assert!(matches!(rx.recv().await.unwrap(), Fed::Resync));
        // It follows the hub again afterwards.
        hub.send(revoked(9)).unwrap();
        let event = event(&mut rx).await.to_event().unwrap();
        assert!(event.sessions[0].session_id.ends_with("09"));
    }

    #[tokio::test]
    async fn sessions_revoked_at_once_are_sent_in_chunks_not_one_event_each() {
        let (hub, _) = broadcast::channel(8);
        let (_stop, feed) = following(&hub);
        let mut rx = feed.subscribe();
        let many: Arc<[Revocation]> = (0..2_500).map(revocation).collect();
        hub.send(Watched::Revoked(many)).unwrap();
        let mut sizes = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let event = event(&mut rx).await.to_event().unwrap();
            assert!(!event.snapshot);
            sizes.push(event.sessions.len());
            ids.extend(event.sessions.into_iter().map(|s| s.session_id));
        }
        assert_eq!(sizes, [SNAPSHOT_CHUNK, SNAPSHOT_CHUNK, 500]);
        let expected: Vec<_> = (0..2_500).map(|n| revocation(n).session_id).collect();
        assert_eq!(ids, expected);
        hub.send(Watched::KeysChanged).unwrap();
        assert!(event(&mut rx).await.to_event().unwrap().keys_changed);
    }
}
