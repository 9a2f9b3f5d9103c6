//! Persistence: small role traits composed into [`Store`], the rows they speak in,
//! and [`StoreError`].
//!
//! | role | holds |
//! |---|---|
//! | [`UserStore`] | users, password hashes, roles |
//! | [`AccountStore`] | disabling, deleting (tombstones), listing users and sessions |
//! | [`SessionStore`] | sessions, refresh-token hashes, rotation, revocation |
//! | [`KeyStore`] | the sealed signing keys every instance shares |
//! | [`OneTimeStore`] | single-use tokens: password reset, email verification |
//! | [`AuditStore`] | the audit trail of security events |
//! | [`BudgetStore`] | the failed-login counters every instance shares |
//! | [`Lifecycle`] | migrations, health, closing, the change feed |
//!
//! The store knows users, sessions and refresh-token *hashes*; it makes no security
//! decision beyond what the database enforces: unique emails, one token per session
//! generation, and rotation as a conditional insert that this uniqueness guards.
//! Times are seconds since the Unix epoch. The SQL is written once ([`sql`](self) is
//! compiled into each backend) and run on SQLite ([`SqliteStore`]) or PostgreSQL
//! ([`PostgresStore`]); the backends differ only in how they connect, begin a write
//! and tell other instances what changed.

pub mod accounts;
pub mod audit;
mod budget;
mod error;
mod group;
mod keys;
mod lifecycle;
pub mod one_time;
pub mod postgres;
mod sessions;
pub mod sqlite;
mod users;

pub use accounts::{AccountStore, SessionRow, UserQuery};
pub use audit::{AuditEvent, AuditKind, AuditQuery, AuditRow, AuditStore};
pub use budget::{Admission, BudgetStore, Window};
pub use error::StoreError;
pub use keys::{KeyRow, KeyStore};
pub use lifecycle::{Change, Lifecycle};
pub use one_time::{OneTimeStore, Purpose};
pub use postgres::PostgresStore;
pub use sessions::{
    NewSession, NextToken, RefreshRow, RevokeReason, RevokedRow, Rotation, SessionStore, Spent,
};
pub use sqlite::SqliteStore;
pub use users::{EmailForms, UserRow, UserStore};

/// Everything tessera stores: every role, on one backend. Cheap to clone.
pub trait Store:
    UserStore
    + EmailForms
    + AccountStore
    + SessionStore
    + OneTimeStore
    + AuditStore
    + KeyStore
    + BudgetStore
    + Lifecycle
    + Clone
    + 'static
{
}

impl<T> Store for T where
    T: UserStore
        + EmailForms
        + AccountStore
        + SessionStore
        + OneTimeStore
        + AuditStore
        + KeyStore
        + BudgetStore
        + Lifecycle
        + Clone
        + 'static
{
}
