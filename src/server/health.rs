//! The health task: reports NOT_SERVING while the database cannot be reached or
//! refuses writes (disk full or failing), SERVING again once it can and does: no
//! restart needed.

use tokio::sync::watch;
use tonic_health::ServingStatus;
use tracing::{error, info, warn};

use super::HEALTH_PROBE_INTERVAL;
use super::serve::Serving;
use crate::store::{Store, StoreError};

/// A write is probed every this many ticks while writes work, and every tick while
/// they do not: cheap when healthy, quick to recover.
const WRITE_PROBE_EVERY: u32 = 5;

/// What the last probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Healthy,
    Unreachable,
    WritesRefused,
}

/// Probes the database every [`HEALTH_PROBE_INTERVAL`] until `stop` changes.
pub(super) async fn run<S: Store>(store: S, serving: Serving, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(HEALTH_PROBE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Found::Healthy;
    let mut tick: u32 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        tick = tick.wrapping_add(1);
        let probe_write = last != Found::Healthy || tick.is_multiple_of(WRITE_PROBE_EVERY);
        let found = tokio::select! {
            found = probe(&store, probe_write) => found,
            _ = stop.changed() => return,
        };
        if found == last {
            continue;
        }
        last = found;
        match found {
            Found::Healthy => {
                info!("database reachable and writable again; serving");
                serving.set(ServingStatus::Serving).await;
            }
            Found::Unreachable => {
                warn!("database unreachable; health is NOT_SERVING");
                serving.set(ServingStatus::NotServing).await;
            }
            Found::WritesRefused => {
                error!("the database refuses writes (disk full or failing); health is NOT_SERVING");
                serving.set(ServingStatus::NotServing).await;
            }
        }
    }
}

async fn probe<S: Store>(store: &S, write: bool) -> Found {
    if store.ping().await.is_err() {
        return Found::Unreachable;
    }
    if !write {
        return Found::Healthy;
    }
    match store.probe_write().await {
        Ok(()) => Found::Healthy,
        Err(StoreError::WriteFailed(_)) => Found::WritesRefused,
        Err(_) => Found::Unreachable,
    }
}
