//! The store as a whole: schema, health, closing, and hearing what other instances
//! changed: the role trait [`Lifecycle`].

use std::future::Future;

use tokio::sync::mpsc;

use super::{RevokedRow, StoreError};

/// Something another instance changed, as the database tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A session was revoked.
    Revoked(RevokedRow),
    /// A signing key was added or removed.
    KeysChanged,
    /// The feed was interrupted: changes may have been missed, read them afresh.
    Resync,
}

/// Schema, health, shutdown and the change feed.
pub trait Lifecycle: Send + Sync {
    /// Checks the database file for damage (SQLite's `PRAGMA quick_check`); a
    /// server does not start on a database that fails it. PostgreSQL checks its own
    /// pages, so there this does nothing.
    fn check_integrity(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One round trip to the database, for health.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A write of a few pages, deleted again, for health: whether the storage still
    /// takes writes as large as a request's.
    fn probe_write(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sends what other instances change to `changes`, for as long as the store is
    /// open (PostgreSQL LISTEN/NOTIFY, reconnecting by itself; a [`Change::Resync`]
    /// after each reconnect). Where there are no other instances it never sends.
    fn listen(&self, changes: mpsc::Sender<Change>) -> impl Future<Output = ()> + Send;

    /// Applies pending migrations. Safe when several instances do it at once.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The versions of migrations this build knows but the database lacks.
    fn pending_migrations(&self) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Closes the pool, waiting for connections to be returned.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
