//! The purge task: every `TESSERA_PURGE_INTERVAL`, deletes expired refresh tokens,
//! sessions, login windows and keys.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::auth::Auth;
use crate::store::Store;

/// Purges every `every` until `stop` changes.
pub(super) async fn run<S: Store>(
    auth: Arc<Auth<S>>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match auth.purge().await {
                    Ok(0) => {}
                    Ok(rows) => info!(rows, "purged expired tokens and sessions"),
                    Err(e) => warn!(error = %e, "purge failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}
