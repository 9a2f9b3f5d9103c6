//! Counters of failed logins that every instance shares: the role trait
//! [`BudgetStore`]. The rules (window length, limits) are the caller's; the store
//! only makes each decision atomic.

use std::future::Future;

use super::StoreError;

/// The budget's answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted, and counted.
    Admitted,
    /// Refused, not counted: the budget of the window that started at
    /// `window_start` is spent.
    Refused { window_start: i64 },
}

/// A key's current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub attempts: u32,
}

/// Storage of attempt counters, keyed by a hash (so no email or address is stored).
pub trait BudgetStore: Send + Sync {
    /// Counts one attempt against `key` unless `limit` attempts already count in its
    /// window. A window that started at or before `window_passed` has passed and
    /// starts afresh at `now`. One conditional upsert decides, so concurrent
    /// instances cannot admit more than `limit`.
    fn admit_attempt(
        &self,
        key: &[u8; 32],
        now: i64,
        window_passed: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// `key`'s window, unless it has none or it started at or before `window_passed`.
    /// Reads only.
    fn window(
        &self,
        key: &[u8; 32],
        window_passed: i64,
    ) -> impl Future<Output = Result<Option<Window>, StoreError>> + Send;

    /// Uncounts one admitted attempt that turned out not to be a failure.
    fn release_attempt(
        &self,
        key: &[u8; 32],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets `key`'s window altogether.
    fn reset_attempts(&self, key: &[u8; 32])
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the windows that started at or before `window_passed`; returns how many.
    fn purge_windows(
        &self,
        window_passed: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
