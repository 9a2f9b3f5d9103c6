//! Giving memory back after a burst of connections.
//!
//! Each HTTP/2 connection holds buffers of its own (hyper's, h2's, the socket's), and
//! glibc's allocator keeps what they freed in its arenas when they close: measured,
//! 500 connections took the server from 14 to 64 MiB and it stayed there. So the
//! acceptor records the most connections open at once, and a task looks every
//! [`CHECK_EVERY`]: when at least [`AFTER_CLOSED`] of them have closed since, it asks
//! the allocator to return its free pages (`malloc_trim`; the same burst then left
//! 22 MiB). Where the allocator is not glibc this does nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tracing::debug;

/// How often the task compares the connections open now with the peak.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How many connections must have closed since the peak before memory is trimmed.
const AFTER_CLOSED: usize = 64;

/// The most connections open at once since the last trim.
#[derive(Debug, Default)]
pub(super) struct Peak(AtomicUsize);

impl Peak {
    /// Notes that `open` connections are open now.
    pub(super) fn saw(&self, open: usize) {
        self.0.fetch_max(open, Ordering::Relaxed);
    }

    /// Whether enough connections closed since the peak for a trim to be worth it;
    /// if so, the peak restarts from `open`.
    fn due(&self, open: usize) -> bool {
        let peak = self.0.load(Ordering::Relaxed);
        if peak >= open.saturating_add(AFTER_CLOSED) {
            self.0.store(open, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

/// Trims after bursts until `stop` changes. `permits` is the acceptor's semaphore of
/// `max` connections: open = max - available.
pub(super) async fn run(
    peak: Arc<Peak>,
    permits: Arc<Semaphore>,
    max: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let open = max.saturating_sub(permits.available_permits());
        if peak.due(open) {
            debug!(
                open,
                "connections closed since the peak; returning free memory"
            );
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }
    }
}

/// Asks glibc to return the free memory of its arenas to the system.
fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no
    // pointer and is safe to call from any thread at any time.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_is_due_only_after_enough_connections_closed_since_the_peak() {
        let peak = Peak::default();
        peak.saw(10);
        assert!(!peak.due(0), "10 connections are not a burst");
        peak.saw(500);
        assert!(!peak.due(480), "most are still open");
        assert!(peak.due(2));
        assert!(!peak.due(2), "the peak restarted from what is open");
        peak.saw(100);
        assert!(peak.due(30));
    }
}
