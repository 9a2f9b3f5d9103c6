//! The failed-login budgets, shared by every instance through the store.
//!
//! Three budgets, each counted per key in one-minute windows:
//! - **per email and client address** (`TESSERA_LOGIN_ATTEMPTS_PER_MINUTE`): what
//!   throttles one guesser at one account. Failures from one address cannot lock the
//!   account's owner out elsewhere.
//! - **per email** (`TESSERA_LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE`): a wider ceiling
//!   against guessing one account from many addresses.
//! - **per client address** (`TESSERA_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE`):
//!   against one address spraying many accounts.
//!
//! Registrations have a budget of their own, per client address
//! (`TESSERA_REGISTRATIONS_PER_ADDRESS_PER_MINUTE`): every registration counts, since
//! each costs a password hash and a row, whether it succeeds or not.
//!
//! Rules, per key:
//! - A window opens at the key's first counted attempt and lasts one minute; when it
//!   has passed the key starts afresh: this throttles, it never locks for good.
//! - An attempt is admitted while every budget has room. The budgets are read first:
//!   when any is spent the attempt is refused before anything is written, so a
//!   throttled client cannot fill the table. Admitting then counts the attempt in
//!   each budget straight away, each by one conditional upsert in the store, so
//!   concurrent guesses (on any instance) cannot all slip in under the limit. If a
//!   race spends a budget between the read and the count, what was counted is given
//!   back and the attempt is refused.
//! - A refused attempt's password is never checked: the caller answers RATE_LIMITED
//!   with the time until the longest-spent window closes.
//! - A success clears its (email, address) window and gives back its other counts.
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
struct Budget {
    scope: &'static str,
    limit: u32,
}

/// One budget's key for one attempt.
type Check = (Budget, [u8; 32]);

impl Budget {
    /// The key of `value` in this budget; the scope keeps the kinds apart in the
    /// one table.
    fn check(self, value: &str) -> Check {
        let key = crate::crypto::sha256(format!("{}\0{value}", self.scope).as_bytes());
        (self, key)
    }
}

/// The three failed-login budgets.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    per_pair: Budget,
    per_email: Budget,
    per_address: Budget,
    registrations: Budget,
}

/// The limits of the three budgets, failed attempts per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_email_and_address: u32,
    pub per_email: u32,
    pub per_address: u32,
    /// Registrations per client address.
    pub registrations_per_address: u32,
}

impl Throttle {
    /// Budgets with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            per_pair: Budget {
                scope: "pair",
                limit: limits.per_email_and_address,
            },
            per_email: Budget {
                scope: "email",
                limit: limits.per_email,
            },
            per_address: Budget {
                scope: "address",
                limit: limits.per_address,
            },
            registrations: Budget {
                scope: "register",
                limit: limits.registrations_per_address,
            },
        }
    }

    /// The keys one attempt is counted under, widest first.
    fn checks(&self, email: &Email, client: &ClientInfo) -> Vec<Check> {
        let email = email.as_str();
        match &client.address {
            Some(address) => vec![
                self.per_address.check(address),
                self.per_email.check(email),
                self.per_pair.check(&format!("{email}\0{address}")),
            ],
            None => vec![self.per_email.check(email), self.per_pair.check(email)],
        }
    }

    /// Admits and counts one login attempt in every budget, or refuses it with the
    /// longest wait; a refused attempt is counted in none.
    pub async fn admit<S: BudgetStore>(
        &self,
        store: &S,
        email: &Email,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(), AuthError> {
        admit_all(
            store,
            &self.checks(email, client),
            client,
            now,
            "login throttled",
        )
        .await
    }

    /// The registration budget's key for `client` (none without an address).
    fn registration(&self, client: &ClientInfo) -> Vec<Check> {
        client
            .address
            .iter()
            .map(|address| self.registrations.check(address))
            .collect()
    }

    /// Admits and counts one registration from `client`, or refuses it.
    pub async fn admit_registration<S: BudgetStore>(
        &self,
        store: &S,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(), AuthError> {
        let checks = self.registration(client);
        admit_all(store, &checks, client, now, "registration throttled").await
    }

    /// Gives back a registration that did not get to hash (the server was busy).
    pub async fn release_registration<S: BudgetStore>(
        &self,
        store: &S,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        give_back(store, &self.registration(client)).await
    }

    /// Gives back an admitted attempt that was not a failed guess.
    pub async fn release<S: BudgetStore>(
        &self,
        store: &S,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        give_back(store, &self.checks(email, client)).await
    }

    /// A successful login: its (email, address) window is cleared, its other counts
    /// given back.
    pub async fn succeeded<S: BudgetStore>(
        &self,
        store: &S,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        let mut checks = self.checks(email, client);
        if let Some((_, pair)) = checks.pop() {
            store.reset_attempts(&pair).await?;
        }
        give_back(store, &checks).await
    }

    /// Deletes the windows that have passed by `now`.
    pub async fn purge<S: BudgetStore>(&self, store: &S, now: i64) -> Result<u64, StoreError> {
        store.purge_windows(now - WINDOW_SECS).await
    }
}

/// Admits and counts one attempt under every one of `checks`, or refuses it (logging
/// `event`) with the longest wait; a refused attempt is counted under none.
async fn admit_all<S: BudgetStore>(
    store: &S,
    checks: &[Check],
    client: &ClientInfo,
    now: i64,
    event: &'static str,
) -> Result<(), AuthError> {
    let refuse = |retry_after: Duration| {
        warn!(
            client_address = client.address.as_deref(),
            retry_after_secs = retry_after.as_secs(),
            "{event}"
        );
        AuthError::RateLimited { retry_after }
    };
    // Read first: a spent budget refuses before anything is written.
    let mut wait: Option<Duration> = None;
    for (budget, key) in checks {
        if let Some(w) = spent(store, *budget, key, now).await? {
            wait = wait.max(Some(w));
        }
    }
    if let Some(wait) = wait {
        return Err(refuse(wait));
    }
    for (i, (budget, key)) in checks.iter().enumerate() {
        let admitted = store
            .admit_attempt(key, now, now - WINDOW_SECS, budget.limit)
            .await;
        let refused = match admitted {
            Ok(Admission::Admitted) => continue,
            Ok(Admission::Refused { window_start }) => Err(refuse(retry_after(window_start, now))),
            Err(e) => Err(AuthError::from_store(e)),
        };
        // Best effort: the store may be what failed.
        let _ = give_back(store, &checks[..i]).await;
        return refused;
    }
    Ok(())
}

/// How long until `key`'s window in `budget` closes, if its budget is spent.
async fn spent<S: BudgetStore>(
    store: &S,
    budget: Budget,
    key: &[u8; 32],
    now: i64,
) -> Result<Option<Duration>, AuthError> {
    let window = store
        .window(key, now - WINDOW_SECS)
        .await
        .map_err(AuthError::from_store)?;
    Ok(window
        .filter(|w| w.attempts >= budget.limit)
        .map(|w| retry_after(w.start, now)))
}

/// Uncounts one attempt under each of `checks`.
async fn give_back<S: BudgetStore>(store: &S, checks: &[Check]) -> Result<(), StoreError> {
    for (_, key) in checks {
        store.release_attempt(key).await?;
    }
    Ok(())
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
    fn each_budget_keys_the_same_attempt_apart() {
        let throttle = Throttle::new(Limits {
            per_email_and_address: 5,
            per_email: 20,
            per_address: 50,
            registrations_per_address: 10,
        });
        let email = Email::parse("a@example.com").unwrap();
        let here = ClientInfo {
            address: Some("10.0.0.1".into()),
            user_agent: None,
        };
        let there = ClientInfo {
            address: Some("10.0.0.2".into()),
            user_agent: None,
        };
        let (a, b) = (
            throttle.checks(&email, &here),
            throttle.checks(&email, &there),
        );
        let keys = |c: &[Check]| c.iter().map(|(_, k)| *k).collect::<Vec<_>>();
        let (a, b) = (keys(&a), keys(&b));
        assert_eq!(a.len(), 3);
        assert_ne!(a[0], b[0], "addresses apart");
        assert_eq!(a[1], b[1], "one email ceiling");
        assert_ne!(a[2], b[2], "pairs apart");
    }
}
