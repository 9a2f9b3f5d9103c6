//! [`KeyStore`] in SQL.

use super::{Backend, db};
use crate::store::{KeyRow, KeyStore, StoreError};

impl KeyStore for Backend {
    async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows: Vec<(String, String, String, Vec<u8>, i64, i64)> = db(sqlx::query_as(
            "SELECT kid, public_n, public_e, sealed_private, created_at, activates_at
             FROM signing_keys ORDER BY activates_at, created_at, kid",
        )
        .fetch_all(&self.pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(kid, public_n, public_e, sealed_private, created_at, activates_at)| KeyRow {
                    kid,
                    public_n,
                    public_e,
                    sealed_private,
                    created_at,
                    activates_at,
                },
            )
            .collect())
    }

    async fn insert_signing_key(&self, key: &KeyRow) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO signing_keys (kid, public_n, public_e, sealed_private, created_at, activates_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.public_n)
        .bind(&key.public_e)
        .bind(&key.sealed_private)
        .bind(key.created_at)
        .bind(key.activates_at);
        db(insert.execute(&self.writer).await)?;
        self.announce_keys().await;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        let delete = sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid);
        let deleted = db(delete.execute(&self.writer).await)?.rows_affected() == 1;
        if deleted {
            self.announce_keys().await;
        }
        Ok(deleted)
    }
}
