//! The sync task: applies other instances' announcements as they arrive, and every
//! `TESSERA_SYNC_INTERVAL` reads the revocations committed since its last read (by
//! their number, migration 0007: each is read once, however many there are) and the
//! keys, so a missed announcement heals within one interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::auth::Auth;
use crate::store::{Change, Store};

/// Follows the change feed and syncs every `every` until `stop` changes.
pub(super) async fn run<S: Store>(
    auth: Arc<Auth<S>>,
    every: Duration,
    mut cursor: i64,
    mut stop: watch::Receiver<bool>,
) {
    let (tx, mut changes) = mpsc::channel(1024);
    let feed = tokio::spawn({
        let store = auth.store().clone();
        async move { store.listen(tx).await }
    });
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut feed_open = true;
    loop {
        let full = tokio::select! {
            _ = ticker.tick() => true,
            change = changes.recv(), if feed_open => match change {
                Some(Change::Revoked(row)) => {
                    debug!(session_id = %row.session_id, "revocation announced");
                    auth.note_revoked(row);
                    false
                }
                Some(Change::KeysChanged) => {
                    reload_keys(&auth).await;
                    false
                }
                Some(Change::Resync) => true,
                None => {
                    // The feed ended: the periodic sync carries on alone.
                    feed_open = false;
                    false
                }
            },
            _ = stop.changed() => break,
        };
        if full {
            match auth.catch_up_revocations(cursor).await {
                Ok((_, next)) => cursor = next,
                Err(e) => debug!(error = %e, "revocation sync failed; retrying next interval"),
            }
            reload_keys(&auth).await;
        }
    }
    feed.abort();
}

async fn reload_keys<S: Store>(auth: &Auth<S>) {
    if let Err(e) = auth.reload_keys().await {
        warn!(error = %e, "could not reload signing keys; keeping the ones loaded");
    }
}
