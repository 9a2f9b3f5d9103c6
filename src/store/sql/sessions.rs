//! [`SessionStore`] in SQL.

use sqlx::Row;
use tokio_stream::StreamExt;

use super::spend::Holder;
use super::{Backend, Db, db, uuid_col};
use crate::domain::{PasswordHash, SessionId, UserId};
use crate::store::{
    NewSession, NextToken, RefreshRow, RevokeReason, RevokedRow, Rotation, SessionStore, Spent,
    StoreError,
};

const INSERT_TOKEN: &str =
    "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, expires_at)
     VALUES ($1, $2, $3, $4, $5)";

/// Takes the next revocation number, in the revoking transaction: the counter row
/// stays locked until it commits, so numbers become visible in order (migration 0007).
async fn next_revocation(tx: &mut sqlx::Transaction<'static, Db>) -> Result<i64, StoreError> {
    db(
        sqlx::query_scalar("UPDATE revocation_counter SET seq = seq + 1 RETURNING seq")
            .fetch_one(&mut **tx)
            .await,
    )
}

/// Revokes every live session of `user` but `except` (as `reason`, numbered from the
/// counter) in the transaction; answers their ids.
pub(super) async fn revoke_sessions_of(
    tx: &mut sqlx::Transaction<'static, Db>,
    user: UserId,
    except: Option<SessionId>,
    reason: RevokeReason,
    now: i64,
) -> Result<Vec<SessionId>, StoreError> {
    let seq = next_revocation(tx).await?;
    let ids: Vec<String> = db(sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2, revoked_seq = $3
         WHERE user_id = $4 AND ($5 IS NULL OR id <> $5) AND revoked_at IS NULL
         RETURNING id",
    )
    .bind(now)
    .bind(reason.as_str())
    .bind(seq)
    .bind(user.to_string())
    .bind(except.map(|s| s.to_string()))
    .fetch_all(&mut **tx)
    .await)?;
    ids.iter()
        .map(|id| uuid_col(id, SessionId::parse, "sessions.id"))
        .collect()
}

impl Backend {
    /// The sessions revoked at or after `since`, streamed row by row and decoded in
    /// place (PostgreSQL's start-up load; SQLite reads them in aggregated pages).
    #[allow(dead_code)]
    pub(in crate::store) async fn stream_revoked(
        &self,
        since: i64,
    ) -> Result<Vec<RevokedRow>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
        )
        .bind(since)
        .fetch(&self.pool);
        let mut revoked = Vec::new();
        while let Some(row) = rows.next().await {
            let row = db(row)?;
            revoked.push(RevokedRow {
                session_id: uuid_col(
                    db(row.try_get::<&str, _>(0))?,
                    SessionId::parse,
                    "sessions.id",
                )?,
                revoked_at: db(row.try_get(1))?,
            });
        }
        Ok(revoked)
    }
}

impl SessionStore for Backend {
    async fn create_session(&self, s: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let session = sqlx::query(
            "INSERT INTO sessions (id, user_id, generation, created_at, expires_at, client_address, user_agent)
             VALUES ($1, $2, 0, $3, $4, $5, $6)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.now)
        .bind(s.expires_at)
        .bind(s.client_address.as_deref())
        .bind(s.user_agent.as_deref());
        db(session.execute(&mut *tx).await)?;
        let token = sqlx::query(INSERT_TOKEN)
            .bind(&s.refresh_hash[..])
            .bind(s.id.to_string())
            .bind(0_i64)
            .bind(s.now)
            .bind(s.expires_at);
        db(token.execute(&mut *tx).await)?;
        db(tx.commit().await)
    }

    async fn refresh_token(&self, hash: &[u8; 32]) -> Result<Option<RefreshRow>, StoreError> {
        let select = sqlx::query(
            "SELECT t.session_id, s.user_id, u.email, u.roles, u.email_verified_at, t.generation,
                    s.generation AS session_generation, t.expires_at, s.revoke_reason
             FROM refresh_tokens t
             JOIN sessions s ON s.id = t.session_id
             JOIN users u ON u.id = s.user_id
             WHERE t.token_hash = $1",
        )
        .bind(&hash[..]);
        let Some(row) = db(select.fetch_optional(&self.pool).await)? else {
            return Ok(None);
        };
        let holder = Holder::read(&row)?;
        let reason: Option<String> = db(row.try_get("revoke_reason"))?;
        Ok(Some(RefreshRow {
            session_id: holder.session_id,
            user_id: holder.user_id,
            email: holder.email,
            roles: holder.roles,
            email_verified: holder.email_verified,
            generation: db(row.try_get("generation"))?,
            session_generation: db(row.try_get("session_generation"))?,
            expires_at: db(row.try_get("expires_at"))?,
            revoked: reason.as_deref().map(RevokeReason::parse).transpose()?,
        }))
    }

    async fn spend(
        &self,
        presented: &[u8; 32],
        next: &NextToken,
    ) -> Result<Option<Spent>, StoreError> {
        self.spend_live(presented, next).await
    }

    async fn rotate(
        &self,
        session: SessionId,
        generation: i64,
        next: &NextToken,
    ) -> Result<Rotation, StoreError> {
        let (now, expires_at) = (next.issued_at, next.expires_at);
        let sid = session.to_string();
        // The decision, in one statement: the next token is stored only while
        // `generation` is current and the session live, and the unique
        // (session_id, generation) refuses a racing second. The trigger of migration
        // 0006 moves the session's generation and expiry on with it.
        let spend = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, expires_at)
             SELECT $1, id, generation + 1, $2, $3 FROM sessions
             WHERE id = $4 AND generation = $5 AND revoked_at IS NULL",
        )
        .bind(&next.hash[..])
        .bind(now)
        .bind(expires_at)
        .bind(&sid)
        .bind(generation);
        match spend
            .execute(&self.writer)
            .await
            .map_err(StoreError::from_sqlx)
        {
            Ok(done) if done.rows_affected() == 1 => return Ok(Rotation::Rotated),
            Ok(_) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        // Lost: the generation was spent already. Revoke the session for reuse, unless
        // it was revoked before (then its time, reason and number stay), and read the
        // reason.
        let mut tx = self.begin_write().await?;
        let seq = next_revocation(&mut tx).await?;
        let reason: Option<String> = db(sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1),
                                 revoke_reason = COALESCE(revoke_reason, 'reuse'),
                                 revoked_seq = COALESCE(revoked_seq, $2)
             WHERE id = $3 RETURNING revoke_reason",
        )
        .bind(now)
        .bind(seq)
        .bind(&sid)
        .fetch_optional(&mut *tx)
        .await)?
        .flatten();
        db(tx.commit().await)?;
        self.announce_revoked(&[session], now).await;
        let reason = reason
            .as_deref()
            .map(RevokeReason::parse)
            .transpose()?
            .unwrap_or(RevokeReason::Reuse);
        Ok(Rotation::Lost { reason })
    }

    async fn regrant(
        &self,
        presented: &[u8; 32],
        session: SessionId,
        successor: &[u8; 32],
        issued_after: i64,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE refresh_tokens SET regranted = 1
             WHERE token_hash = $1 AND regranted = 0
               AND EXISTS (
                   SELECT 1 FROM refresh_tokens s JOIN sessions ss ON ss.id = s.session_id
                   WHERE s.token_hash = $2 AND s.session_id = $3
                     AND s.generation = ss.generation AND ss.revoked_at IS NULL
                     AND s.issued_at > $4)",
        )
        .bind(&presented[..])
        .bind(&successor[..])
        .bind(session.to_string())
        .bind(issued_after);
        Ok(db(update.execute(&self.writer).await)?.rows_affected() == 1)
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let seq = next_revocation(&mut tx).await?;
        let revoke = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = $2, revoked_seq = $3
             WHERE id = $4 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(seq)
        .bind(session.to_string());
        let revoked = db(revoke.execute(&mut *tx).await)?.rows_affected() == 1;
        db(tx.commit().await)?;
        if revoked {
            self.announce_revoked(&[session], now).await;
        }
        Ok(revoked)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids = revoke_sessions_of(&mut tx, user, None, reason, now).await?;
        db(tx.commit().await)?;
        self.announce_revoked(&ids, now).await;
        Ok(ids)
    }

    async fn change_password(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: SessionId,
        now: i64,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = db(sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(hash.expose())
        .bind(now)
        .bind(user.to_string())
        .execute(&mut *tx)
        .await)?;
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        let ids = revoke_sessions_of(&mut tx, user, Some(keep), RevokeReason::Logout, now).await?;
        db(tx.commit().await)?;
        self.announce_revoked(&ids, now).await;
        Ok(Some(ids))
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<RevokedRow>, StoreError> {
        self.load_revoked(since).await
    }

    async fn revocation_cursor(&self) -> Result<i64, StoreError> {
        db(sqlx::query_scalar("SELECT seq FROM revocation_counter")
            .fetch_one(&self.pool)
            .await)
    }

    async fn revoked_after(&self, cursor: i64) -> Result<(Vec<RevokedRow>, i64), StoreError> {
        let rows: Vec<(String, i64, i64)> = db(sqlx::query_as(
            "SELECT id, revoked_at, revoked_seq FROM sessions WHERE revoked_seq > $1",
        )
        .bind(cursor)
        .fetch_all(&self.pool)
        .await)?;
        let next = rows.iter().map(|r| r.2).max().unwrap_or(cursor);
        let rows = rows.into_iter().map(|(id, at, _)| (id, at)).collect();
        Ok((revoked_rows(rows)?, next))
    }

    async fn purge_sessions(&self, now: i64, revocation_horizon: i64) -> Result<u64, StoreError> {
        let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1").bind(now);
        let tokens = db(tokens.execute(&self.writer).await)?.rows_affected();
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 AND (revoked_at IS NULL OR revoked_at < $2)",
        )
        .bind(now)
        .bind(revocation_horizon);
        let sessions = db(sessions.execute(&self.writer).await)?.rows_affected();
        Ok(tokens + sessions)
    }
}

/// Revoked sessions as read: (id, revoked_at).
fn revoked_rows(rows: Vec<(String, i64)>) -> Result<Vec<RevokedRow>, StoreError> {
    rows.into_iter()
        .map(|(id, revoked_at)| {
            Ok(RevokedRow {
                session_id: uuid_col(&id, SessionId::parse, "sessions.id")?,
                revoked_at,
            })
        })
        .collect()
}
