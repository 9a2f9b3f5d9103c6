//! The SQLite store: the embedded default. WAL mode, foreign keys on. Reads use a
//! pool of connections; every write goes through one writer connection, so this
//! process's writers queue in order for it instead of polling SQLite's lock (its
//! busy handler sleeps up to 100 ms between tries, which showed as Refresh's tail
//! latency). The busy timeout remains for other processes on the same file
//! (`tessera keys`). Write transactions begin `IMMEDIATE`: they take the write lock
//! first and never upgrade a read lock, which SQLite would refuse instead of waiting.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::mpsc;

use super::group::GroupCommit;
use super::{Change, NextToken, RevokedRow, Spent, StoreError};
use crate::domain::SessionId;

/// The shared SQL ([`super::sql`](self)), compiled for this backend.
// Compiled once per backend on purpose: one text of SQL, two concrete stores.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

/// The store the shared SQL is compiled for.
type Backend = SqliteStore;
/// Its row type.
type DbRow = sqlx::sqlite::SqliteRow;
/// Its database.
type Db = sqlx::Sqlite;

/// See [`SqliteStore::options`].
const ROW_BUFFER: usize = 4_096;

/// Revoked sessions per page of the start-up load (about 3 MiB of text).
const LOAD_PAGE: i64 = 65_536;

/// How often the change feed looks for other processes' commits.
const CHANGE_POLL: Duration = Duration::from_millis(250);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite-backed [`super::Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection: SQLite has one writer at a time.
    writer: SqlitePool,
    /// Refresh tokens spent several to a statement under load (`store/group.rs`).
    spends: Arc<GroupCommit<Spend, Result<Option<Spent>, StoreError>>>,
}

/// A refresh token to spend: the presented token's hash and its successor.
type Spend = ([u8; 32], NextToken);

/// The most refresh tokens one statement spends.
const SPEND_BATCH: usize = 16;

/// The URL could not be parsed as a SQLite URL.
#[derive(Debug, thiserror::Error)]
#[error("not a SQLite URL")]
pub struct BadUrl;

impl SqliteStore {
    /// Parses a `sqlite://` URL into connect options (creating the file if missing).
    pub fn options(url: &str) -> Result<SqliteConnectOptions, BadUrl> {
        Ok(SqliteConnectOptions::from_str(url)
            .map_err(|_| BadUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Rows a connection's thread may read ahead of the task consuming them
            // (sqlx's default is 50): a start-up reading a million revoked sessions
            // would otherwise switch threads every few rows.
            .row_buffer_size(ROW_BUFFER))
    }

    /// Opens the database (migrations are applied by [`super::Lifecycle::migrate`]).
    pub async fn open(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        // No ping before each use (sqlx's default): the connections are in-process,
        // and a ping is one more round trip to the connection's thread per statement.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::Database)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(StoreError::Database)?;
        Ok(Self {
            pool,
            writer,
            spends: Arc::new(GroupCommit::new(SPEND_BATCH)),
        })
    }

    /// A write transaction on the writer connection. `BEGIN IMMEDIATE` takes the write
    /// lock up front, so another process's writer waits on the busy timeout instead of
    /// failing on a stale snapshot.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from_sqlx)
    }

    /// Spends a live refresh token ([`sql`]'s `spend_one`), in a batch with those
    /// that queued for the writer meanwhile. A batch whose statement fails is run
    /// again one token at a time, so each gets its own answer.
    async fn spend_live(
        &self,
        presented: &[u8; 32],
        next: &NextToken,
    ) -> Result<Option<Spent>, StoreError> {
        let request = (*presented, next.clone());
        let answer = self
            .spends
            .submit(request, |batch: Vec<Spend>| async move {
                if let [(presented, next)] = &batch[..] {
                    return vec![self.spend_one(presented, next).await];
                }
                match self.spend_many(&batch).await {
                    Ok(spent) => spent.into_iter().map(Ok).collect(),
                    Err(_) => {
                        let mut each = Vec::with_capacity(batch.len());
                        for (presented, next) in &batch {
                            each.push(self.spend_one(presented, next).await);
                        }
                        each
                    }
                }
            })
            .await;
        // Its batch was abandoned midway: the runtime is stopping.
        answer.unwrap_or(Err(StoreError::Unavailable(sqlx::Error::PoolClosed)))
    }

    /// `PRAGMA quick_check`: "ok", or the damage it found.
    async fn integrity(&self) -> Result<(), StoreError> {
        let found: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        if found.len() == 1 && found[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt("the SQLite file (PRAGMA quick_check)"))
        }
    }

    /// The start-up load of revoked sessions, in pages of [`LOAD_PAGE`] aggregated by
    /// SQLite into one text value of ids each: sqlx hands rows from the connection's
    /// thread one at a time, about 2 µs a row, so a million revoked sessions read row
    /// by row took seconds. Pages follow the rowid.
    ///
    /// Every session of a page is given the page's latest revocation time: turning
    /// each row's time into text cost more than reading the rows. A session may so be
    /// remembered longer than it must (by at most the time between the page's
    /// revocations, within one access-token lifetime), never shorter.
    async fn load_revoked(&self, since: i64) -> Result<Vec<RevokedRow>, StoreError> {
        self.load_revoked_paged(since, LOAD_PAGE).await
    }

    async fn load_revoked_paged(
        &self,
        since: i64,
        page_rows: i64,
    ) -> Result<Vec<RevokedRow>, StoreError> {
        let mut revoked = Vec::new();
        let mut after = i64::MIN;
        loop {
            let (count, last, revoked_at, ids): (i64, Option<i64>, Option<i64>, Option<String>) =
                sqlx::query_as(
                    "SELECT count(*), max(r), max(revoked_at), group_concat(id, ',')
                     FROM (SELECT rowid AS r, id, revoked_at FROM sessions
                           WHERE rowid > $1 AND revoked_at IS NOT NULL AND revoked_at >= $2
                           ORDER BY rowid LIMIT $3)",
                )
                .bind(after)
                .bind(since)
                .bind(page_rows)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
            if let (Some(revoked_at), Some(ids)) = (revoked_at, ids) {
                for id in ids.split(',') {
                    revoked.push(RevokedRow {
                        session_id: SessionId::parse(id)
                            .ok_or(StoreError::Corrupt("sessions.id"))?,
                        revoked_at,
                    });
                }
            }
            match last {
                Some(last) if count == page_rows => after = last,
                _ => return Ok(revoked),
            }
        }
    }

    /// One process owns a SQLite file: there is no other instance to tell.
    async fn announce_revoked(&self, _sessions: &[SessionId], _at: i64) {}

    async fn announce_keys(&self) {}

    /// Hears what other processes on the same file commit (`tessera keys`, `tessera
    /// users`): SQLite's `PRAGMA data_version` on one held connection moves whenever
    /// another connection commits, so it is read every [`CHANGE_POLL`] and a move
    /// asks for a [`Change::Resync`]. This process's own writes move it too; a
    /// resync then re-reads what is already known, at most once per poll.
    async fn listen_changes(&self, changes: mpsc::Sender<Change>) {
        let Ok(mut conn) = self.pool.acquire().await else {
            return std::future::pending().await;
        };
        let mut seen: Option<i64> = None;
        let mut ticker = tokio::time::interval(CHANGE_POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Ok(version) = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                .fetch_one(&mut *conn)
                .await
            else {
                continue;
            };
            if seen.is_some_and(|v| v != version) && changes.send(Change::Resync).await.is_err() {
                return;
            }
            seen = Some(version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::store::{Lifecycle, NewSession, RevokeReason, SessionStore, UserRow, UserStore};

    /// The paged start-up read returns every revoked session at or after `since`,
    /// whole pages, a last partial page, and an exactly full one alike.
    #[tokio::test]
    async fn the_paged_load_reads_every_revoked_session_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(SqliteStore::options(&url).unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let user = UserRow {
            id: UserId::random(),
            email: crate::domain::Email::from_store("a@example.com".into()),
            password_hash: crate::domain::PasswordHash::new("x".into()),
            roles: vec!["user".into()],
            created_at: 0,
            disabled_at: None,
            email_verified: false,
        };
        store.create_user(&user).await.unwrap();
        let mut expected = Vec::new();
        for i in 0..7u8 {
            let id = SessionId::random();
            store
                .create_session(&NewSession {
                    id,
                    user_id: user.id,
                    refresh_hash: [i; 32],
                    now: 0,
                    expires_at: 10_000,
                    client_address: None,
                    user_agent: None,
                })
                .await
                .unwrap();
            // Every other session revoked, one of them before `since`.
            if i % 2 == 0 {
                let at = 100 * i64::from(i);
                store
                    .revoke_session(id, RevokeReason::Logout, at)
                    .await
                    .unwrap();
                if at >= 100 {
                    expected.push((id, at));
                }
            }
        }
        expected.sort();
        let ids: Vec<SessionId> = expected.iter().map(|(id, _)| *id).collect();
        let latest = expected.iter().map(|(_, at)| *at).max().unwrap();
        for page in [1, 2, 3, 100] {
            let mut got: Vec<_> = store
                .load_revoked_paged(100, page)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.session_id, r.revoked_at))
                .collect();
            got.sort();
            assert_eq!(
                got.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                ids,
                "pages of {page}"
            );
            // Each is remembered from its page's latest revocation: never before its
            // own, and exactly its own in pages of one.
            for ((_, at), (_, own)) in got.iter().zip(&expected) {
                assert!(at >= own && *at <= latest, "pages of {page}");
                if page == 1 {
                    assert_eq!(at, own);
                }
            }
        }
        store.close().await;
    }
}
