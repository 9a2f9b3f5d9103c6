//! The PostgreSQL store, for several tessera instances on one database. The SQL is
//! the one [`super::sql`] shares with SQLite. Under READ COMMITTED a conditional
//! `UPDATE … WHERE generation = $n` that races another waits for the other's row lock
//! and then re-checks its condition, so exactly one rotation wins. The migrator holds
//! an advisory lock, so instances starting together do not break each other's
//! migration.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use super::sql::{sql_store, uuid_col};
use super::{
    NewSession, RefreshRow, RevokeReason, RevokedRow, Rotation, Store, StoreError, UserRow,
    join_roles, split_roles,
};
use crate::domain::{Email, SessionId, UserId};
use crate::password::PasswordHash;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A PostgreSQL-backed [`Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

/// The URL could not be parsed as a PostgreSQL URL.
#[derive(Debug, thiserror::Error)]
#[error("not a PostgreSQL URL")]
pub struct BadUrl;

impl PostgresStore {
    /// Parses a `postgres://` URL into connect options.
    pub fn options(url: &str) -> Result<PgConnectOptions, BadUrl> {
        PgConnectOptions::from_str(url).map_err(|_| BadUrl)
    }

    /// Connects (at most `max_connections`, waiting at most `acquire_timeout` for one)
    /// and applies pending migrations.
    pub async fn open(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(StoreError::Database)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction (READ COMMITTED; row locks order concurrent writers).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(StoreError::from_sqlx)
    }
}

sql_store!(PostgresStore, sqlx::postgres::PgRow);
