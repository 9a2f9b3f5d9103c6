//! [`AuditStore`] in SQL.

use sqlx::Row;

use super::{Backend, db};
use crate::store::{AuditEvent, AuditKind, AuditQuery, AuditRow, AuditStore, StoreError};

impl AuditStore for Backend {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO audit_events (at, kind, user_id, session_id, actor, client_address, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(event.at)
        .bind(event.kind.as_str())
        .bind(event.user_id.as_deref())
        .bind(event.session_id.as_deref())
        .bind(&event.actor)
        .bind(event.client_address.as_deref())
        .bind(event.detail.as_deref());
        db(insert.execute(&self.writer).await)?;
        Ok(())
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let select = sqlx::query(
            "SELECT id, at, kind, user_id, session_id, actor, client_address, detail
             FROM audit_events
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR kind = $2)
               AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4)
               AND ($5 IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6",
        )
        .bind(query.user_id.as_deref())
        .bind(query.kind.map(AuditKind::as_str))
        .bind(query.since)
        .bind(query.until)
        .bind(query.before_id)
        .bind(i64::from(query.limit));
        db(select.fetch_all(&self.pool).await)?
            .iter()
            .map(|row| {
                let kind: String = db(row.try_get("kind"))?;
                Ok(AuditRow {
                    id: db(row.try_get("id"))?,
                    event: AuditEvent {
                        at: db(row.try_get("at"))?,
                        kind: AuditKind::parse(&kind)
                            .ok_or(StoreError::Corrupt("audit_events.kind"))?,
                        user_id: db(row.try_get("user_id"))?,
                        session_id: db(row.try_get("session_id"))?,
                        actor: db(row.try_get("actor"))?,
                        client_address: db(row.try_get("client_address"))?,
                        detail: db(row.try_get("detail"))?,
                    },
                })
            })
            .collect()
    }

    async fn purge_audit(&self, before: i64) -> Result<u64, StoreError> {
        let delete = sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(before);
        Ok(db(delete.execute(&self.writer).await)?.rows_affected())
    }
}
