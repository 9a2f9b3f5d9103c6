//! The health task: reports NOT_SERVING while the database cannot be reached,
//! SERVING once it can.

use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use super::HEALTH_PROBE_INTERVAL;
use super::serve::set_serving;
use crate::store::Store;

/// Pings the database every [`HEALTH_PROBE_INTERVAL`] until `stop` changes.
pub(super) async fn run<S: Store>(
    store: S,
    reporter: HealthReporter,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(HEALTH_PROBE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut up = true;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let reachable = tokio::select! {
            result = store.ping() => result.is_ok(),
            _ = stop.changed() => return,
        };
        if reachable != up {
            up = reachable;
            if up {
                info!("database reachable again; serving");
                set_serving(&reporter, ServingStatus::Serving).await;
            } else {
                warn!("database unreachable; health is NOT_SERVING");
                set_serving(&reporter, ServingStatus::NotServing).await;
            }
        }
    }
}
