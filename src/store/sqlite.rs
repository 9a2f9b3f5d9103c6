//! The SQLite store: the embedded default. WAL mode, foreign keys on, and a busy
//! timeout so concurrent writers queue instead of failing. Write transactions begin
//! `IMMEDIATE`: they take the write lock first and never upgrade a read lock, which
//! SQLite would refuse instead of waiting.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    NewSession, RefreshRow, RevokeReason, RevokedRow, Rotation, Store, StoreError, UserRow,
    join_roles, split_roles,
};
use crate::domain::{Email, SessionId, UserId};
use crate::password::PasswordHash;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite-backed [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

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
            .foreign_keys(true))
    }

    /// Opens the database and applies pending migrations.
    pub async fn open(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(StoreError::Database)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The one user that `query` (with one `?`, bound to `key`) selects.
    async fn fetch_user(
        &self,
        query: &'static str,
        key: String,
    ) -> Result<Option<UserRow>, StoreError> {
        sqlx::query(query)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so a
    /// concurrent writer waits on the busy timeout instead of failing on a stale snapshot.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from_sqlx)
    }
}

fn uuid_col<T>(
    raw: &str,
    parse: fn(&str) -> Option<T>,
    col: &'static str,
) -> Result<T, StoreError> {
    parse(raw).ok_or(StoreError::Corrupt(col))
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<UserRow, StoreError> {
    let id: String = row.try_get("id").map_err(StoreError::from_sqlx)?;
    let roles: String = row.try_get("roles").map_err(StoreError::from_sqlx)?;
    Ok(UserRow {
        id: uuid_col(&id, UserId::parse, "users.id")?,
        email: Email::from_store(row.try_get("email").map_err(StoreError::from_sqlx)?),
        password_hash: PasswordHash::from_store(
            row.try_get("password_hash")
                .map_err(StoreError::from_sqlx)?,
        ),
        roles: split_roles(&roles),
        created_at: row.try_get("created_at").map_err(StoreError::from_sqlx)?,
    })
}

impl Store for SqliteStore {
    async fn create_user(&self, user: &UserRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.password_hash.expose())
        .bind(join_roles(&user.roles))
        .bind(user.created_at)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRow>, StoreError> {
        self.fetch_user(
            "SELECT id, email, password_hash, roles, created_at FROM users WHERE email = ?",
            email.as_str().to_owned(),
        )
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        self.fetch_user(
            "SELECT id, email, password_hash, roles, created_at FROM users WHERE id = ?",
            id.to_string(),
        )
        .await
    }

    async fn create_session(&self, s: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, generation, created_at, expires_at, client_address, user_agent)
             VALUES (?, ?, 0, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.now)
        .bind(s.expires_at)
        .bind(s.client_address.as_deref())
        .bind(s.user_agent.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, expires_at)
             VALUES (?, ?, 0, ?, ?)",
        )
        .bind(&s.refresh_hash[..])
        .bind(s.id.to_string())
        .bind(s.now)
        .bind(s.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    async fn refresh_token(&self, hash: &[u8; 32]) -> Result<Option<RefreshRow>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT t.session_id, s.user_id, t.generation, s.generation AS session_generation,
                    t.expires_at, s.revoke_reason
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        else {
            return Ok(None);
        };
        let session_id: String = row.try_get("session_id").map_err(StoreError::from_sqlx)?;
        let user_id: String = row.try_get("user_id").map_err(StoreError::from_sqlx)?;
        let reason: Option<String> = row
            .try_get("revoke_reason")
            .map_err(StoreError::from_sqlx)?;
        Ok(Some(RefreshRow {
            session_id: uuid_col(&session_id, SessionId::parse, "sessions.id")?,
            user_id: uuid_col(&user_id, UserId::parse, "users.id")?,
            generation: row.try_get("generation").map_err(StoreError::from_sqlx)?,
            session_generation: row
                .try_get("session_generation")
                .map_err(StoreError::from_sqlx)?,
            expires_at: row.try_get("expires_at").map_err(StoreError::from_sqlx)?,
            revoked: reason.as_deref().map(RevokeReason::parse).transpose()?,
        }))
    }

    async fn rotate(
        &self,
        session: SessionId,
        generation: i64,
        new_hash: &[u8; 32],
        now: i64,
        expires_at: i64,
    ) -> Result<Rotation, StoreError> {
        let sid = session.to_string();
        let mut tx = self.begin_write().await?;
        // The decision: only the caller holding the current generation moves it on.
        let won = sqlx::query(
            "UPDATE sessions SET generation = generation + 1, expires_at = ?
             WHERE id = ? AND generation = ? AND revoked_at IS NULL",
        )
        .bind(expires_at)
        .bind(&sid)
        .bind(generation)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected()
            == 1;
        if won {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, expires_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&new_hash[..])
            .bind(&sid)
            .bind(generation + 1)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            return Ok(Rotation::Rotated);
        }
        // Lost: the generation was spent already. Revoke the session for reuse in the
        // same transaction, unless it was revoked before (then keep that reason).
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = 'reuse'
             WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&sid)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let reason: Option<String> =
            sqlx::query_scalar("SELECT revoke_reason FROM sessions WHERE id = ?")
                .bind(&sid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?
                .flatten();
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        let reason = reason
            .as_deref()
            .map(RevokeReason::parse)
            .transpose()?
            .unwrap_or(RevokeReason::Reuse);
        Ok(Rotation::Lost { reason })
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<bool, StoreError> {
        let affected = sqlx::query(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(session.to_string())
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected();
        Ok(affected == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ?
             WHERE user_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        ids.iter()
            .map(|id| uuid_col(id, SessionId::parse, "sessions.id"))
            .collect()
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<RevokedRow>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= ?",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.into_iter()
            .map(|(id, revoked_at)| {
                Ok(RevokedRow {
                    session_id: uuid_col(&id, SessionId::parse, "sessions.id")?,
                    revoked_at,
                })
            })
            .collect()
    }

    async fn purge_expired(&self, now: i64, revocation_horizon: i64) -> Result<u64, StoreError> {
        let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?
            .rows_affected();
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < ? AND (revoked_at IS NULL OR revoked_at < ?)",
        )
        .bind(now)
        .bind(revocation_horizon)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected();
        Ok(tokens + sessions)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
