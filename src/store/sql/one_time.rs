//! [`OneTimeStore`] in SQL.

use super::sessions::revoke_sessions_of;
use super::{Backend, Db, db, uuid_col};
use crate::domain::{Email, PasswordHash, SessionId, UserId};
use crate::store::one_time::Purpose;
use crate::store::{OneTimeStore, RevokeReason, StoreError};

/// Spends a live token of `purpose` in the transaction; its user, if it has one.
async fn spend(
    tx: &mut sqlx::Transaction<'static, Db>,
    hash: &[u8; 32],
    purpose: Purpose,
    now: i64,
) -> Result<Option<UserId>, StoreError> {
    let user: Option<String> = db(sqlx::query_scalar(
        "UPDATE one_time_tokens SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
           AND user_id IS NOT NULL
         RETURNING user_id",
    )
    .bind(now)
    .bind(&hash[..])
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await)?;
    user.map(|id| uuid_col(&id, UserId::parse, "one_time_tokens.user_id"))
        .transpose()
}

impl OneTimeStore for Backend {
    async fn issue_one_time(
        &self,
        hash: &[u8; 32],
        purpose: Purpose,
        email: &Email,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_at, expires_at)
             VALUES ($1, $2,
                     (SELECT id FROM users WHERE email = $3 AND deleted_at IS NULL), $4, $5)",
        )
        .bind(&hash[..])
        .bind(purpose.as_str())
        .bind(email.as_str())
        .bind(now)
        .bind(expires_at);
        db(insert.execute(&self.writer).await)?;
        Ok(())
    }

    async fn reset_password(
        &self,
        hash: &[u8; 32],
        new: &PasswordHash,
        now: i64,
    ) -> Result<Option<(UserId, Vec<SessionId>)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(user) = spend(&mut tx, hash, Purpose::PasswordReset, now).await? else {
            return Ok(None);
        };
        let updated = db(sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2
             WHERE id = $3 AND deleted_at IS NULL",
        )
        .bind(new.expose())
        .bind(now)
        .bind(user.to_string())
        .execute(&mut *tx)
        .await)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        db(sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1
             WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user.to_string())
        .bind(Purpose::PasswordReset.as_str())
        .execute(&mut *tx)
        .await)?;
        let ids = revoke_sessions_of(&mut tx, user, None, RevokeReason::Logout, now).await?;
        db(tx.commit().await)?;
        self.announce_revoked(&ids, now).await;
        Ok(Some((user, ids)))
    }

    async fn verify_email(&self, hash: &[u8; 32], now: i64) -> Result<Option<UserId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(user) = spend(&mut tx, hash, Purpose::EmailVerification, now).await? else {
            return Ok(None);
        };
        let updated = db(sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1)
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(user.to_string())
        .execute(&mut *tx)
        .await)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        db(tx.commit().await)?;
        Ok(Some(user))
    }

    async fn purge_one_time(&self, now: i64) -> Result<u64, StoreError> {
        let delete = sqlx::query("DELETE FROM one_time_tokens WHERE expires_at < $1").bind(now);
        Ok(db(delete.execute(&self.writer).await)?.rows_affected())
    }
}
