//! [`BudgetStore`] in SQL.

use super::{Backend, db};
use crate::store::{Admission, BudgetStore, StoreError, Window};

impl BudgetStore for Backend {
    async fn admit_attempt(
        &self,
        key: &[u8; 32],
        now: i64,
        window_passed: i64,
        limit: u32,
    ) -> Result<Admission, StoreError> {
        // One statement decides: a new key inserts; a passed window restarts at 1;
        // a window under the limit counts one more; a spent one is left alone and
        // the statement affects no row.
        let upsert = sqlx::query(
            "INSERT INTO login_attempts (key_hash, window_start, attempts) VALUES ($1, $2, 1)
             ON CONFLICT (key_hash) DO UPDATE SET
                 attempts = CASE WHEN login_attempts.window_start <= $3 THEN 1
                                 ELSE login_attempts.attempts + 1 END,
                 window_start = CASE WHEN login_attempts.window_start <= $3 THEN $2
                                     ELSE login_attempts.window_start END
             WHERE login_attempts.window_start <= $3 OR login_attempts.attempts < $4",
        )
        .bind(&key[..])
        .bind(now)
        .bind(window_passed)
        .bind(i64::from(limit));
        if db(upsert.execute(&self.writer).await)?.rows_affected() == 1 {
            return Ok(Admission::Admitted);
        }
        let window_start: Option<i64> = db(sqlx::query_scalar(
            "SELECT window_start FROM login_attempts WHERE key_hash = $1",
        )
        .bind(&key[..])
        .fetch_optional(&self.pool)
        .await)?;
        Ok(Admission::Refused {
            window_start: window_start.unwrap_or(now),
        })
    }

    async fn window(
        &self,
        key: &[u8; 32],
        window_passed: i64,
    ) -> Result<Option<Window>, StoreError> {
        let row: Option<(i64, i64)> = db(sqlx::query_as(
            "SELECT window_start, attempts FROM login_attempts
             WHERE key_hash = $1 AND window_start > $2",
        )
        .bind(&key[..])
        .bind(window_passed)
        .fetch_optional(&self.pool)
        .await)?;
        Ok(row.map(|(start, attempts)| Window {
            start,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        }))
    }

    async fn release_attempt(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE login_attempts SET attempts = attempts - 1 WHERE key_hash = $1 AND attempts > 0",
        )
        .bind(&key[..]);
        db(update.execute(&self.writer).await)?;
        Ok(())
    }

    async fn reset_attempts(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        let delete = sqlx::query("DELETE FROM login_attempts WHERE key_hash = $1").bind(&key[..]);
        db(delete.execute(&self.writer).await)?;
        Ok(())
    }

    async fn purge_windows(&self, window_passed: i64) -> Result<u64, StoreError> {
        let delete =
            sqlx::query("DELETE FROM login_attempts WHERE window_start <= $1").bind(window_passed);
        Ok(db(delete.execute(&self.writer).await)?.rows_affected())
    }
}
