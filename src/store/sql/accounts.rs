//! [`AccountStore`] in SQL.

use sqlx::Row;

use super::sessions::revoke_sessions_of;
use super::users::user_from_row;
use super::{Backend, db, uuid_col};
use crate::domain::{Email, SessionId, UserId};
use crate::store::accounts::like_escaped;
use crate::store::{AccountStore, RevokeReason, SessionRow, StoreError, UserQuery, UserRow};

impl Backend {
    /// Runs `update` (a statement on one user, bound to the user's id last) and, if it
    /// touched the user, revokes every live session of theirs as `reason`, in one
    /// transaction; then tells the other instances.
    async fn update_and_revoke(
        &self,
        update: sqlx::query::Query<'_, super::Db, <super::Db as sqlx::Database>::Arguments>,
        user: UserId,
        reason: Option<RevokeReason>,
        now: i64,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let mut tx = self.begin_write().await?;
        if db(update.execute(&mut *tx).await)?.rows_affected() == 0 {
            return Ok(None);
        }
        let ids = match reason {
            Some(reason) => revoke_sessions_of(&mut tx, user, None, reason, now).await?,
            None => Vec::new(),
        };
        if reason == Some(RevokeReason::Deleted) {
            // The refresh tokens are credentials: they go with the account.
            db(sqlx::query(
                "DELETE FROM refresh_tokens
                 WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
            )
            .bind(user.to_string())
            .execute(&mut *tx)
            .await)?;
        }
        db(tx.commit().await)?;
        self.announce_revoked(&ids, now).await;
        Ok(Some(ids))
    }
}

impl AccountStore for Backend {
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<UserRow>, StoreError> {
        let select = sqlx::query(
            "SELECT id, email, password_hash, roles, created_at, disabled_at, email_verified_at
             FROM users
             WHERE deleted_at IS NULL
               AND ($1 IS NULL OR email LIKE $1 ESCAPE '\\')
               AND ($2 IS NULL OR (',' || roles || ',') LIKE $2 ESCAPE '\\')
               AND ($3 IS NULL OR email > $3)
             ORDER BY email LIMIT $4",
        )
        .bind(
            query
                .email_prefix
                .as_deref()
                .map(|p| format!("{}%", like_escaped(p))),
        )
        .bind(
            query
                .role
                .as_deref()
                .map(|r| format!("%,{},%", like_escaped(r))),
        )
        .bind(query.after.as_deref())
        .bind(i64::from(query.limit));
        db(select.fetch_all(&self.pool).await)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        now: i64,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        // Disabling twice keeps the first time.
        let update = sqlx::query(
            "UPDATE users
             SET disabled_at = CASE WHEN $1 THEN COALESCE(disabled_at, $2) ELSE NULL END,
                 updated_at = $2
             WHERE id = $3 AND deleted_at IS NULL",
        )
        .bind(disabled)
        .bind(now)
        .bind(user.to_string());
        let reason = disabled.then_some(RevokeReason::Disabled);
        self.update_and_revoke(update, user, reason, now).await
    }

    async fn delete_user(
        &self,
        user: UserId,
        now: i64,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let update = sqlx::query(
            "UPDATE users
             SET deleted_at = $1, updated_at = $1, password_hash = '', roles = '',
                 disabled_at = NULL
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(user.to_string());
        self.update_and_revoke(update, user, Some(RevokeReason::Deleted), now)
            .await
    }

    async fn reclaim_email(&self, email: &Email, deleted_by: i64) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE users SET email = 'deleted:' || id
             WHERE email = $1 AND deleted_at IS NOT NULL AND deleted_at <= $2",
        )
        .bind(email.as_str())
        .bind(deleted_by);
        Ok(db(update.execute(&self.writer).await)?.rows_affected() == 1)
    }

    async fn user_sessions(
        &self,
        user: UserId,
        now: i64,
        after: Option<(i64, SessionId)>,
        limit: u32,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let select = sqlx::query(
            "SELECT id, user_id, created_at, expires_at, client_address, user_agent
             FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
               AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4))
             ORDER BY created_at DESC, id DESC LIMIT $5",
        )
        .bind(user.to_string())
        .bind(now)
        .bind(after.map(|(at, _)| at))
        .bind(after.map(|(_, id)| id.to_string()))
        .bind(i64::from(limit));
        db(select.fetch_all(&self.pool).await)?
            .iter()
            .map(|row| {
                let id: String = db(row.try_get("id"))?;
                let user_id: String = db(row.try_get("user_id"))?;
                Ok(SessionRow {
                    id: uuid_col(&id, SessionId::parse, "sessions.id")?,
                    user_id: uuid_col(&user_id, UserId::parse, "sessions.user_id")?,
                    created_at: db(row.try_get("created_at"))?,
                    expires_at: db(row.try_get("expires_at"))?,
                    client_address: db(row.try_get("client_address"))?,
                    user_agent: db(row.try_get("user_agent"))?,
                })
            })
            .collect()
    }

    async fn session_owner(&self, session: SessionId) -> Result<Option<UserId>, StoreError> {
        let owner: Option<String> = db(sqlx::query_scalar(
            "SELECT user_id FROM sessions WHERE id = $1",
        )
        .bind(session.to_string())
        .fetch_optional(&self.pool)
        .await)?;
        owner
            .map(|id| uuid_col(&id, UserId::parse, "sessions.user_id"))
            .transpose()
    }

    async fn purge_tombstones(&self, deleted_before: i64) -> Result<u64, StoreError> {
        let delete = sqlx::query(
            "DELETE FROM users
             WHERE deleted_at IS NOT NULL AND deleted_at < $1
               AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id)",
        )
        .bind(deleted_before);
        Ok(db(delete.execute(&self.writer).await)?.rows_affected())
    }
}
