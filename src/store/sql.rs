//! The SQL both backends share, written once with `$N` placeholders (which SQLite
//! accepts too). [`sql_store!`] implements [`Store`](super::Store) for a backend
//! struct that has a `pool` and a `begin_write` method; the backends differ only in
//! how they connect and how a write transaction begins. Reads go to `pool`, every
//! write to `writer`: the same pool on PostgreSQL, SQLite's one writer connection.

/// Parses a UUID column, naming it if the row is corrupt.
pub(crate) fn uuid_col<T>(
    raw: &str,
    parse: fn(&str) -> Option<T>,
    col: &'static str,
) -> Result<T, super::StoreError> {
    parse(raw).ok_or(super::StoreError::Corrupt(col))
}

/// Implements `Store` for `$store` whose rows are `$row`. The backend provides the
/// `pool` and `writer` fields, a `MIGRATOR`, and the inherent methods `begin_write`,
/// `announce_revoked`, `announce_keys` and `listen_changes`; the items the macro
/// names must be in scope where it is invoked.
macro_rules! sql_store {
    ($store:ident, $row:ty) => {
        impl $store {
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
            .map(Self::user_from_row)
            .transpose()
    }

    fn user_from_row(row: &$row) -> Result<UserRow, StoreError> {
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
        }

        impl Store for $store {
    async fn create_user(&self, user: &UserRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.password_hash.expose())
        .bind(join_roles(&user.roles))
        .bind(user.created_at)
        .bind(user.created_at)
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRow>, StoreError> {
        self.fetch_user(
            "SELECT id, email, password_hash, roles, created_at FROM users WHERE email = $1",
            email.as_str().to_owned(),
        )
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        self.fetch_user(
            "SELECT id, email, password_hash, roles, created_at FROM users WHERE id = $1",
            id.to_string(),
        )
        .await
    }

    async fn replace_roles(
        &self,
        id: UserId,
        expected: &[String],
        roles: &[String],
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3 AND roles = $4",
        )
        .bind(join_roles(roles))
        .bind(now)
        .bind(id.to_string())
        .bind(join_roles(expected))
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(&self, s: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, generation, created_at, expires_at, client_address, user_agent)
             VALUES ($1, $2, 0, $3, $4, $5, $6)",
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
             VALUES ($1, $2, 0, $3, $4)",
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
             WHERE t.token_hash = $1",
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
            "UPDATE sessions SET generation = generation + 1, expires_at = $1
             WHERE id = $2 AND generation = $3 AND revoked_at IS NULL",
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
                 VALUES ($1, $2, $3, $4, $5)",
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
            "UPDATE sessions SET revoked_at = $1, revoke_reason = 'reuse'
             WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&sid)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let reason: Option<String> =
            sqlx::query_scalar("SELECT revoke_reason FROM sessions WHERE id = $1")
                .bind(&sid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?
                .flatten();
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        self.announce_revoked(&[session], now).await;
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
            "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(session.to_string())
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected();
        if affected == 1 {
            self.announce_revoked(&[session], now).await;
        }
        Ok(affected == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
             WHERE user_id = $3 AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user.to_string())
        .fetch_all(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?;
        let ids = ids
            .iter()
            .map(|id| uuid_col(id, SessionId::parse, "sessions.id"))
            .collect::<Result<Vec<_>, _>>()?;
        self.announce_revoked(&ids, now).await;
        Ok(ids)
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<RevokedRow>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
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
        let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(StoreError::from_sqlx)?
            .rows_affected();
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 AND (revoked_at IS NULL OR revoked_at < $2)",
        )
        .bind(now)
        .bind(revocation_horizon)
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected();
        let windows = sqlx::query("DELETE FROM login_attempts WHERE window_start <= $1")
            .bind(now - crate::throttle::WINDOW_SECS)
            .execute(&self.writer)
            .await
            .map_err(StoreError::from_sqlx)?
            .rows_affected();
        Ok(tokens + sessions + windows)
    }

    async fn admit_attempt(
        &self,
        key: &[u8; 32],
        now: i64,
        limit: u32,
    ) -> Result<Admission, StoreError> {
        // One statement decides: a new key inserts; a passed window restarts at 1;
        // a window under the limit counts one more; a spent one is left alone and
        // the statement affects no row.
        let admitted = sqlx::query(
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
        .bind(now - crate::throttle::WINDOW_SECS)
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected()
            == 1;
        if admitted {
            return Ok(Admission::Admitted);
        }
        let window_start: Option<i64> =
            sqlx::query_scalar("SELECT window_start FROM login_attempts WHERE key_hash = $1")
                .bind(&key[..])
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        Ok(Admission::Refused {
            window_start: window_start.unwrap_or(now),
        })
    }

    async fn release_attempt(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE login_attempts SET attempts = attempts - 1 WHERE key_hash = $1 AND attempts > 0",
        )
        .bind(&key[..])
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn reset_attempts(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_attempts WHERE key_hash = $1")
            .bind(&key[..])
            .execute(&self.writer)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows: Vec<(String, String, String, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT kid, public_n, public_e, sealed_private, created_at, activates_at
             FROM signing_keys ORDER BY activates_at, created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
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
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_n, public_e, sealed_private, created_at, activates_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.public_n)
        .bind(&key.public_e)
        .bind(&key.sealed_private)
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.announce_keys().await;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.writer)
            .await
            .map_err(StoreError::from_sqlx)?
            .rows_affected()
            == 1;
        if deleted {
            self.announce_keys().await;
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
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
    };
}

pub(crate) use sql_store;
