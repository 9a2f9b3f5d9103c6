//! The revocation task of live mode: follow WatchRevocations, merge every revoked
//! session into the set, and reconnect with backoff when the stream ends, fails or
//! goes quiet for three heartbeats. Each event marks the stream as heard from,
//! which is what [`Shared::stale`] measures.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Shared;
use crate::clock::unix_now;
use crate::grpc::convert::from_duration;
use crate::proto::{RevocationEvent, WatchRevocationsRequest};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long to wait for the first event, before the server's heartbeat is known.
const FIRST_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::select! {
            heard = follow(&shared) => {
                if heard {
                    backoff = FIRST_BACKOFF;
                }
            }
            _ = stop.changed() => return,
        }
        let wait = jitter(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Follows one stream until it ends; returns whether any event arrived.
async fn follow(shared: &Shared) -> bool {
    let mut stream = match shared
        .client
        .clone()
        .watch_revocations(WatchRevocationsRequest {})
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) => {
            debug!(code = %status.code(), "cannot open the revocation stream");
            return false;
        }
    };
    let mut heard = false;
    let mut idle = FIRST_EVENT_TIMEOUT;
    loop {
        match tokio::time::timeout(idle, stream.message()).await {
            Ok(Ok(Some(event))) => {
                if !heard {
                    info!("following tessera's revocations");
                }
                heard = true;
                if let Some(every) = event.heartbeat_interval.as_ref() {
                    let every = from_duration(every);
                    idle = (every * 3).max(Duration::from_secs(1));
                }
                apply(shared, &event);
            }
            Ok(Ok(None)) => {
                debug!("the revocation stream ended");
                return heard;
            }
            Ok(Err(status)) => {
                warn!(code = %status.code(), "the revocation stream failed; reconnecting");
                return heard;
            }
            Err(_) => {
                warn!(
                    idle_ms = idle.as_millis() as u64,
                    "the revocation stream went quiet; reconnecting"
                );
                return heard;
            }
        }
    }
}

fn apply(shared: &Shared, event: &RevocationEvent) {
    for session in &event.sessions {
        let forget_after = session
            .forget_after
            .as_ref()
            .map_or(i64::MAX, |t| t.seconds);
        shared.revoked.insert(&session.session_id, forget_after);
    }
    if event.keys_changed {
        // A key was staged or withdrawn: fetch the set now, past the cooldown.
        shared.fetch_keys_now();
    }
    if event.sessions.is_empty() {
        // Heartbeats are a good time to forget what can no longer matter.
        shared.revoked.prune(unix_now());
    }
    shared.heard();
}

/// `base` plus up to a quarter more, so that many verifiers reconnecting after a
/// restart of tessera do not arrive in step.
fn jitter(base: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(unix_now().unsigned_abs());
    let spread = u64::try_from(base.as_millis() / 4).unwrap_or(0).max(1);
    base + Duration::from_millis(hasher.finish() % spread)
}
