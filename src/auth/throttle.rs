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

use tracing::warn;

use super::{AuthError, ClientInfo};
use crate::domain::Email;
use crate::store::{Admission, BudgetStore, StoreError};

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
        crate::crypto::sha256(format!("{}\0{value}", self.scope).as_bytes())
    }

    /// Admits and counts one attempt for `value`, or says how long until it may retry.
    pub async fn admit<S: BudgetStore>(
        &self,
        store: &S,
        value: &str,
        now: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        Ok(
            match store
                .admit_attempt(&self.key(value), now, now - WINDOW_SECS, self.limit)
                .await?
            {
                Admission::Admitted => Ok(()),
                Admission::Refused { window_start } => Err(retry_after(window_start, now)),
            },
        )
    }

    /// Uncounts one admitted attempt for `value` that was not a failure.
    pub async fn release<S: BudgetStore>(&self, store: &S, value: &str) -> Result<(), StoreError> {
        store.release_attempt(&self.key(value)).await
    }

    /// Clears `value`'s window: a successful login resets its email's count.
    pub async fn reset<S: BudgetStore>(&self, store: &S, value: &str) -> Result<(), StoreError> {
        store.reset_attempts(&self.key(value)).await
    }
}

/// The failed-login throttle: one budget per email, one per client address.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    by_email: Budget,
    by_address: Budget,
}

impl Throttle {
    /// `per_email` and `per_address` failed logins a minute.
    pub fn new(per_email: u32, per_address: u32) -> Self {
        Self {
            by_email: Budget::new("email", per_email),
            by_address: Budget::new("address", per_address),
        }
    }

    /// Admits and counts one login attempt against both budgets, or refuses it with
    /// the longer of the two waits; a refused attempt is counted against neither.
    pub async fn admit<S: BudgetStore>(
        &self,
        store: &S,
        email: &Email,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(), AuthError> {
        let by_email = self
            .by_email
            .admit(store, email.as_str(), now)
            .await
            .map_err(AuthError::from_store)?;
        let by_address = match &client.address {
            Some(address) => match self.by_address.admit(store, address, now).await {
                Ok(verdict) => verdict,
                Err(e) => {
                    if by_email.is_ok() {
                        let _ = self.by_email.release(store, email.as_str()).await;
                    }
                    return Err(AuthError::from_store(e));
                }
            },
            None => Ok(()),
        };
        match (by_email, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (email_wait, address_wait) => {
                if email_wait.is_ok() {
                    self.by_email
                        .release(store, email.as_str())
                        .await
                        .map_err(AuthError::from_store)?;
                }
                if address_wait.is_ok()
                    && let Some(address) = &client.address
                {
                    self.by_address
                        .release(store, address)
                        .await
                        .map_err(AuthError::from_store)?;
                }
                let retry_after = email_wait.err().max(address_wait.err()).unwrap_or_default();
                warn!(
                    client_address = client.address.as_deref(),
                    retry_after_secs = retry_after.as_secs(),
                    "login throttled"
                );
                Err(AuthError::RateLimited { retry_after })
            }
        }
    }

    /// Gives back an admitted attempt that was not a failed guess.
    pub async fn release<S: BudgetStore>(
        &self,
        store: &S,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        self.by_email.release(store, email.as_str()).await?;
        self.release_address(store, client).await
    }

    /// A successful login: the email's window is cleared, the address's attempt given
    /// back.
    pub async fn succeeded<S: BudgetStore>(
        &self,
        store: &S,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        self.by_email.reset(store, email.as_str()).await?;
        self.release_address(store, client).await
    }

    async fn release_address<S: BudgetStore>(
        &self,
        store: &S,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        match &client.address {
            Some(address) => self.by_address.release(store, address).await,
            None => Ok(()),
        }
    }

    /// Deletes the windows that have passed by `now`.
    pub async fn purge<S: BudgetStore>(&self, store: &S, now: i64) -> Result<u64, StoreError> {
        store.purge_windows(now - WINDOW_SECS).await
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
