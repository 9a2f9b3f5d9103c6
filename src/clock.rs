//! Time as an input. Every rule that depends on time (token expiry, rotation, the
//! login budget's windows, key activation) takes `now` in seconds since the Unix
//! epoch; the server reads it from one [`Clock`], which tests replace with a stepped
//! one instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, secs)
}

/// A duration in whole seconds as a signed time offset, saturating at `i64::MAX`.
pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Where the server reads the time. Cheap to clone; clones of a stepped clock share
/// one time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    stepped: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands at `start` until [`Clock::advance`] moves it: for tests
    /// of expiry and windows that must not wait for the wall clock.
    pub fn stepped(start: i64) -> Self {
        Self {
            stepped: Some(Arc::new(AtomicI64::new(start))),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        match &self.stepped {
            Some(at) => at.load(Ordering::Acquire),
            None => unix_now(),
        }
    }

    /// Moves a stepped clock forward by `by`; the system clock cannot be moved, so
    /// this does nothing to it.
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.stepped {
            at.fetch_add(secs(by), Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stepped_clock_moves_only_when_told_and_its_clones_follow() {
        let clock = Clock::stepped(1_000);
        let clone = clock.clone();
        assert_eq!(clock.now(), 1_000);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clone.now(), 1_090);
    }

    #[test]
    fn the_system_clock_reads_the_wall_clock() {
        let before = unix_now();
        let now = Clock::system().now();
        assert!(now >= before && now <= unix_now());
    }

    #[test]
    fn durations_beyond_i64_saturate() {
        assert_eq!(secs(Duration::from_secs(u64::MAX)), i64::MAX);
        assert_eq!(secs(Duration::from_millis(2_500)), 2);
    }
}
