//! [`Lifecycle`] in SQL.

use tokio::sync::mpsc;

use super::{Backend, MIGRATOR, db};
use crate::store::{Change, Lifecycle, StoreError};

impl Lifecycle for Backend {
    async fn check_integrity(&self) -> Result<(), StoreError> {
        self.integrity().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        db(sqlx::query("SELECT 1").execute(&self.pool).await)?;
        Ok(())
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        // As many pages as a request writes, and then some: a small write can still
        // fit where a registration no longer does.
        db(sqlx::query("INSERT INTO write_probe (filler) VALUES ($1)")
            .bind(vec![0x5a_u8; 32 * 1024])
            .execute(&self.writer)
            .await)?;
        db(sqlx::query("DELETE FROM write_probe")
            .execute(&self.writer)
            .await)?;
        Ok(())
    }

    async fn listen(&self, changes: mpsc::Sender<Change>) {
        self.listen_changes(changes).await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        // No migrations table yet means nothing is applied.
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
            {
                Ok(applied) => applied,
                Err(sqlx::Error::Database(_)) => Vec::new(),
                Err(e) => return Err(StoreError::from_sqlx(e)),
            };
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
