//! The PostgreSQL store, for several tessera instances on one database. The SQL is
//! the one [`super::sql`] shares with SQLite. Under READ COMMITTED a conditional
//! `UPDATE … WHERE generation = $n` that races another waits for the other's row lock
//! and then re-checks its condition, so exactly one rotation wins. The migrator holds
//! an advisory lock, so instances starting together do not break each other's
//! migration.
//!
//! Instances hear of each other's revocations and key changes through
//! LISTEN/NOTIFY: a revocation notifies [`REVOKED_CHANNEL`] with `sid:revoked_at`, a
//! key change notifies [`KEYS_CHANNEL`]. A notification is sent after its change is
//! committed; if it is lost (the sender died in between, a listener was
//! reconnecting), the server's periodic sync reads the change instead.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Change, RevokedRow, StoreError};
use crate::domain::SessionId;

/// The shared SQL ([`super::sql`](self)), compiled for this backend.
// Compiled once per backend on purpose: one text of SQL, two concrete stores.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

/// The store the shared SQL is compiled for.
type Backend = PostgresStore;
/// Its row type.
type DbRow = sqlx::postgres::PgRow;
/// Its database.
type Db = sqlx::Postgres;

/// The channel revocations are announced on.
pub const REVOKED_CHANNEL: &str = "tessera_revoked";
/// The channel signing-key changes are announced on.
pub const KEYS_CHANNEL: &str = "tessera_keys";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A PostgreSQL-backed [`super::Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL orders concurrent writers with row locks.
    writer: PgPool,
}

/// The URL could not be parsed as a PostgreSQL URL.
#[derive(Debug, thiserror::Error)]
#[error("not a PostgreSQL URL")]
pub struct BadUrl;

/// A connection idle for longer than this is pinged before it is used again.
const IDLE_PING_AFTER: Duration = Duration::from_secs(10);

impl PostgresStore {
    /// Spends a live refresh token: one statement each, as rotations of different
    /// sessions do not wait for each other here.
    async fn spend_live(
        &self,
        presented: &[u8; 32],
        next: &super::NextToken,
    ) -> Result<Option<super::Spent>, StoreError> {
        self.spend_one(presented, next).await
    }

    /// Parses a `postgres://` URL into connect options.
    pub fn options(url: &str) -> Result<PgConnectOptions, BadUrl> {
        PgConnectOptions::from_str(url).map_err(|_| BadUrl)
    }

    /// Connects (at most `max_connections`, waiting at most `acquire_timeout` for one;
    /// migrations are applied by [`super::Lifecycle::migrate`]).
    pub async fn open(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            // sqlx pings every connection it hands out by default: one more round trip
            // per statement. Only a connection idle for a while is pinged; a broken
            // busy one fails its statement, and the pool drops it.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Database)?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }

    /// PostgreSQL checks its own pages (checksums, amcheck): nothing to do here.
    async fn integrity(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// A write transaction (READ COMMITTED; row locks order concurrent writers).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(StoreError::from_sqlx)
    }

    /// The start-up load of revoked sessions: PostgreSQL's protocol streams rows
    /// cheaply, so they are read one by one.
    async fn load_revoked(&self, since: i64) -> Result<Vec<RevokedRow>, StoreError> {
        self.stream_revoked(since).await
    }

    /// Tells the other instances that `sessions` were revoked at `at`. A failure is
    /// logged, not returned: the revocation is committed, and the periodic sync
    /// carries it to the others.
    async fn announce_revoked(&self, sessions: &[SessionId], at: i64) {
        if sessions.is_empty() {
            return;
        }
        let payloads: Vec<String> = sessions.iter().map(|sid| format!("{sid}:{at}")).collect();
        if let Err(e) = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(REVOKED_CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await
        {
            warn!(error = %e, "could not announce a revocation; the periodic sync will carry it");
        }
    }

    /// Tells the other instances that the signing keys changed.
    async fn announce_keys(&self) {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(KEYS_CHANNEL)
            .execute(&self.pool)
            .await
        {
            warn!(error = %e, "could not announce a key change; the periodic sync will carry it");
        }
    }

    /// Listens on both channels until the pool closes, reconnecting after a second
    /// whenever the connection is lost.
    async fn listen_changes(&self, changes: mpsc::Sender<Change>) {
        loop {
            if self.pool.is_closed() {
                return;
            }
            match self.listen_once(&changes).await {
                Ok(()) => return,
                Err(e) => debug!(error = %e, "change feed interrupted; reconnecting"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// One LISTEN connection: returns Ok when nobody wants the changes any more, an
    /// error when the connection failed.
    async fn listen_once(&self, changes: &mpsc::Sender<Change>) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all([REVOKED_CHANNEL, KEYS_CHANNEL]).await?;
        // Anything sent before this connection listened must be read afresh.
        if changes.send(Change::Resync).await.is_err() {
            return Ok(());
        }
        loop {
            let change = match listener.try_recv().await? {
                Some(note) if note.channel() == KEYS_CHANNEL => Change::KeysChanged,
                Some(note) => match parse_revoked(note.payload()) {
                    Some(row) => Change::Revoked(row),
                    None => {
                        warn!(
                            channel = note.channel(),
                            "ignoring a malformed notification"
                        );
                        continue;
                    }
                },
                // The connection was lost and re-established: notifications in between are gone.
                None => Change::Resync,
            };
            if changes.send(change).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Parses a `sid:revoked_at` payload.
fn parse_revoked(payload: &str) -> Option<RevokedRow> {
    let (sid, at) = payload.split_once(':')?;
    Some(RevokedRow {
        session_id: SessionId::parse(sid)?,
        revoked_at: at.parse().ok()?,
    })
}
