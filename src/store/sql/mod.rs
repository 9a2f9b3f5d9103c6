//! The SQL both backends share, written once with `$N` placeholders (which SQLite
//! accepts too).
//!
//! This folder is compiled into each backend: `sqlite.rs` and `postgres.rs` each
//! declare it as their own module `sql` (with `#[path]`), after naming their store
//! type `Backend`, their row type `DbRow` and their database `Db`. So everything here is plain Rust over
//! concrete types, which rustfmt and the compiler read as any other code, and the
//! two backends cannot drift apart. Each file implements one role trait.
//!
//! A backend provides the `pool` (reads) and `writer` (writes: the same pool on
//! PostgreSQL, SQLite's one writer connection) fields, a `MIGRATOR`, and the methods
//! `begin_write`, `load_revoked` (the start-up read of revoked sessions, which each
//! backend does its fastest way), `announce_revoked`, `announce_keys` and
//! `listen_changes`.

mod accounts;
mod audit;
mod budget;
mod keys;
mod lifecycle;
mod one_time;
mod sessions;
mod spend;
mod users;

use super::{Backend, Db, DbRow, MIGRATOR};
use crate::store::StoreError;

/// Parses a UUID column, naming it if the row is corrupt.
fn uuid_col<T>(
    raw: &str,
    parse: fn(&str) -> Option<T>,
    col: &'static str,
) -> Result<T, StoreError> {
    parse(raw).ok_or(StoreError::Corrupt(col))
}

/// A driver result in the store's terms.
fn db<T>(result: Result<T, sqlx::Error>) -> Result<T, StoreError> {
    result.map_err(StoreError::from_sqlx)
}
