//! The failed-login budget.
//!
//! Rules, per key (a normalized email, or a client address):
//! - A window opens at the key's first failed attempt and lasts one minute.
//! - An attempt is admitted while fewer than `limit` attempts count in the window;
//!   admitting it counts it straight away, so concurrent guesses cannot all slip in
//!   under the limit before the first of them fails.
//! - A refused attempt is not counted and its password is never checked: the caller
//!   answers RATE_LIMITED with the time until the window closes.
//! - When the attempt succeeds it is uncounted again; for the email key a success
//!   clears the window altogether.
//! - When the window has passed the key starts afresh: this throttles, it never
//!   locks an account for good.
//!
//! Time is an argument (seconds since the Unix epoch), so tests step the clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The length of a window.
pub const WINDOW_SECS: i64 = 60;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    count: u32,
}

/// Counts attempts per key within a one-minute window.
#[derive(Debug)]
pub struct Throttle {
    limit: u32,
    windows: Mutex<HashMap<String, Window>>,
}

impl Throttle {
    /// A throttle admitting `limit` failed attempts per key per minute.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // The map holds counters only; a panic elsewhere cannot leave it inconsistent.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits and counts one attempt for `key`, or says how long until it may retry.
    pub fn admit(&self, key: &str, now: i64) -> Result<(), Duration> {
        let mut windows = self.windows();
        let window = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now >= window.started + WINDOW_SECS {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= self.limit {
            let wait = (window.started + WINDOW_SECS - now).max(1);
            return Err(Duration::from_secs(u64::try_from(wait).unwrap_or(1)));
        }
        window.count += 1;
        Ok(())
    }

    /// Uncounts one admitted attempt that turned out not to be a failure.
    pub fn release(&self, key: &str) {
        if let Some(window) = self.windows().get_mut(key) {
            window.count = window.count.saturating_sub(1);
        }
    }

    /// Forgets `key`'s window: a successful login resets its email's count.
    pub fn reset(&self, key: &str) {
        self.windows().remove(key);
    }

    /// Drops windows that have passed, so the map holds only the last minute's keys.
    pub fn prune(&self, now: i64) {
        self.windows()
            .retain(|_, w| now < w.started + WINDOW_SECS && w.count > 0);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_limit_attempts_then_refuses_until_the_window_passes() {
        let t = Throttle::new(3);
        for _ in 0..3 {
            assert!(t.admit("a", 1000).is_ok());
        }
        assert_eq!(t.admit("a", 1010), Err(Duration::from_secs(50)));
        assert_eq!(t.admit("a", 1059), Err(Duration::from_secs(1)));
        assert!(t.admit("a", 1060).is_ok());
    }

    #[test]
    fn keys_are_independent() {
        let t = Throttle::new(1);
        assert!(t.admit("a", 0).is_ok());
        assert!(t.admit("a", 0).is_err());
        assert!(t.admit("b", 0).is_ok());
    }

    #[test]
    fn reset_clears_and_release_uncounts() {
        let t = Throttle::new(2);
        t.admit("a", 0).unwrap();
        t.admit("a", 0).unwrap();
        t.release("a");
        assert!(t.admit("a", 0).is_ok());
        assert!(t.admit("a", 0).is_err());
        t.reset("a");
        assert!(t.admit("a", 0).is_ok());
    }

    #[test]
    fn prune_forgets_passed_windows() {
        let t = Throttle::new(2);
        t.admit("old", 0).unwrap();
        t.admit("new", 50).unwrap();
        t.prune(61);
        assert_eq!(t.tracked(), 1);
    }
}
