//! The failed-login budget, shared by every instance through the store.
//!
//! Rules, per key (a normalized email, or a client address):
//! - A window opens at the key's first counted attempt and lasts one minute.
//! - An attempt is admitted while fewer than `limit` attempts count in the window;
//!   admitting it counts it straight away, so concurrent guesses cannot all slip in
//!   under the limit before the first of them fails. The store decides this with one
//!   conditional upsert, so N instances share one budget instead of having N.
//! - A refused attempt is not counted and its password is never checked: the caller
//!   answers RATE_LIMITED with the time until the window closes.
//! - When the attempt succeeds it is uncounted again; for the email key a success
//!   clears the window altogether.
//! - When the window has passed the key starts afresh: this throttles, it never
//!   locks an account for good.
//!
//! Keys are stored as SHA-256 hashes, so the table holds no email or address.
//! Time is an argument (seconds since the Unix epoch), so tests step the clock.

use std::time::Duration;

use crate::store::{Admission, Store, StoreError};

/// The length of a window.
pub const WINDOW_SECS: i64 = 60;

/// One budget: a limit per key per window, for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    scope: &'static str,
    limit: u32,
}

impl Budget {
    /// A budget of `limit` failed attempts per minute for keys of `scope` (`email`,
    /// `address`); the scope keeps the kinds apart in the one table.
    pub fn new(scope: &'static str, limit: u32) -> Self {
        Self { scope, limit }
    }

    fn key(&self, value: &str) -> [u8; 32] {
        crate::token::sha256(format!("{}\0{value}", self.scope).as_bytes())
    }

    /// Admits and counts one attempt for `value`, or says how long until it may retry.
    pub async fn admit<S: Store>(
        &self,
        store: &S,
        value: &str,
        now: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        Ok(
            match store
                .admit_attempt(&self.key(value), now, self.limit)
                .await?
            {
                Admission::Admitted => Ok(()),
                Admission::Refused { window_start } => Err(retry_after(window_start, now)),
            },
        )
    }

    /// Uncounts one admitted attempt for `value` that was not a failure.
    pub async fn release<S: Store>(&self, store: &S, value: &str) -> Result<(), StoreError> {
        store.release_attempt(&self.key(value)).await
    }

    /// Clears `value`'s window: a successful login resets its email's count.
    pub async fn reset<S: Store>(&self, store: &S, value: &str) -> Result<(), StoreError> {
        store.reset_attempts(&self.key(value)).await
    }
}

/// The wait until the window that started at `window_start` closes: at least 1 s.
pub fn retry_after(window_start: i64, now: i64) -> Duration {
    let wait = (window_start + WINDOW_SECS - now).max(1);
    Duration::from_secs(u64::try_from(wait).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_to_the_end_of_the_window_and_is_never_zero() {
        assert_eq!(retry_after(1000, 1010), Duration::from_secs(50));
        assert_eq!(retry_after(1000, 1059), Duration::from_secs(1));
        assert_eq!(retry_after(1000, 1060), Duration::from_secs(1));
    }

    #[test]
    fn scopes_keep_the_same_value_apart() {
        let email = Budget::new("email", 1);
        let address = Budget::new("address", 1);
        assert_ne!(email.key("x"), address.key("x"));
        assert_eq!(email.key("x"), Budget::new("email", 9).key("x"));
    }
}
