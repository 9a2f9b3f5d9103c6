//! Spending live refresh tokens: one statement for one token, or for a batch of them
//! (SQLite's group commit, `store/group.rs`), and the reader of a refresh token's
//! session and user from a row, which the lookup in `sessions.rs` shares.

use sqlx::Row;

use super::{Backend, DbRow, db, uuid_col};
use crate::domain::{Email, SessionId, UserId};
use crate::store::users::split_roles;
use crate::store::{NextToken, Spent, StoreError};

/// What a spend answers for each token it spent (after `RETURNING`): the new
/// token's hash, its session and generation, and the user the access token is for.
macro_rules! spent_columns {
    () => {
        "refresh_tokens.token_hash, refresh_tokens.session_id,
    refresh_tokens.generation,
    (SELECT u.id FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = refresh_tokens.session_id) AS user_id,
    (SELECT u.email FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = refresh_tokens.session_id) AS email,
    (SELECT u.roles FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = refresh_tokens.session_id) AS roles,
    (SELECT u.email_verified_at FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = refresh_tokens.session_id) AS email_verified_at"
    };
}

/// A row of [`spent_columns`]: the new token's hash and what was spent.
fn spent_row(row: &DbRow) -> Result<(Vec<u8>, Spent), StoreError> {
    let holder = Holder::read(row)?;
    let spent = Spent {
        session_id: holder.session_id,
        user_id: holder.user_id,
        email: holder.email,
        roles: holder.roles,
        email_verified: holder.email_verified,
        generation: db(row.try_get("generation"))?,
    };
    Ok((db(row.try_get("token_hash"))?, spent))
}

/// A refresh token's session and the user it is for, as a row names them
/// (`session_id`, `user_id`, `email`, `roles`, `email_verified_at`).
pub(super) struct Holder {
    pub(super) session_id: SessionId,
    pub(super) user_id: UserId,
    pub(super) email: Email,
    pub(super) roles: Vec<String>,
    pub(super) email_verified: bool,
}

impl Holder {
    pub(super) fn read(row: &DbRow) -> Result<Self, StoreError> {
        let session_id: String = db(row.try_get("session_id"))?;
        let user_id: String = db(row.try_get("user_id"))?;
        let roles: String = db(row.try_get("roles"))?;
        Ok(Self {
            session_id: uuid_col(&session_id, SessionId::parse, "sessions.id")?,
            user_id: uuid_col(&user_id, UserId::parse, "users.id")?,
            email: Email::from_store(db(row.try_get("email"))?),
            roles: split_roles(&roles),
            email_verified: db(row.try_get::<Option<i64>, _>("email_verified_at"))?.is_some(),
        })
    }
}

impl Backend {
    /// Spends one live refresh token in one statement: stores `next` as its session's
    /// next generation while the presented token is that session's current one, live
    /// and unexpired, and answers what was spent; `None` if it was not (the caller
    /// reads the token and applies the rules).
    pub(in crate::store) async fn spend_one(
        &self,
        presented: &[u8; 32],
        next: &NextToken,
    ) -> Result<Option<Spent>, StoreError> {
        let spend = sqlx::query(concat!(
            "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, expires_at)
             SELECT $1, s.id, s.generation + 1, $2, $3
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = $4 AND t.generation = s.generation
               AND s.revoked_at IS NULL AND t.expires_at > $2
             RETURNING ",
            spent_columns!()
        ))
        .bind(&next.hash[..])
        .bind(next.issued_at)
        .bind(next.expires_at)
        .bind(&presented[..]);
        // All of its rows (there is at most one): stepping the statement to its end
        // commits at once, where a fetch of one row would leave it open.
        match spend
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::from_sqlx)
            .map(|mut rows| rows.pop())
        {
            Ok(Some(row)) => Ok(Some(spent_row(&row)?.1)),
            // A racing spend of the same generation won.
            Ok(None) | Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Spends several live refresh tokens, each `(presented, next)`, in one
    /// statement, with the rules of [`Self::spend_one`] for each; answers, in order,
    /// what each spent. Two of the same session in one batch: the first spends it,
    /// the second's insert conflicts on `(session_id, generation)` and is skipped, as
    /// a racing second statement would be refused. SQLite's group commit
    /// (`store/group.rs`); PostgreSQL spends each token alone.
    #[allow(dead_code)]
    pub(in crate::store) async fn spend_many(
        &self,
        batch: &[([u8; 32], NextToken)],
    ) -> Result<Vec<Option<Spent>>, StoreError> {
        let mut sql =
            String::from("WITH v (next_hash, issued_at, expires_at, presented) AS (VALUES ");
        for i in 0..batch.len() {
            let p = i * 4;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
        }
        sql.push_str(concat!(
            ") INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, expires_at)
             SELECT v.next_hash, s.id, s.generation + 1, v.issued_at, v.expires_at
             FROM v JOIN refresh_tokens t ON t.token_hash = v.presented
             JOIN sessions s ON s.id = t.session_id
             WHERE t.generation = s.generation AND s.revoked_at IS NULL
               AND t.expires_at > v.issued_at
             ON CONFLICT DO NOTHING
             RETURNING ",
            spent_columns!()
        ));
        let mut spend = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (presented, next) in batch {
            spend = spend
                .bind(&next.hash[..])
                .bind(next.issued_at)
                .bind(next.expires_at)
                .bind(&presented[..]);
        }
        let rows = db(spend.fetch_all(&self.writer).await)?;
        let mut spent = vec![None; batch.len()];
        for row in &rows {
            let (hash, one) = spent_row(row)?;
            if let Some(at) = batch.iter().position(|(_, next)| next.hash[..] == hash[..]) {
                spent[at] = Some(one);
            }
        }
        Ok(spent)
    }
}
