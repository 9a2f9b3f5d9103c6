//! [`UserStore`] in SQL.

use sqlx::Row;

use super::{Backend, DbRow, db, uuid_col};
use crate::domain::{Email, PasswordHash, UserId};
use crate::store::users::{join_roles, split_roles};
use crate::store::{EmailForms, StoreError, UserRow, UserStore};

impl Backend {
    /// The one user that `query` (with one parameter, bound to `key`) selects.
    async fn fetch_user(
        &self,
        query: &'static str,
        key: String,
    ) -> Result<Option<UserRow>, StoreError> {
        db(sqlx::query(query)
            .bind(key)
            .fetch_optional(&self.pool)
            .await)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }
}

/// A row of `users` with the columns id, email, password_hash, roles, created_at,
/// disabled_at and email_verified_at.
pub(super) fn user_from_row(row: &DbRow) -> Result<UserRow, StoreError> {
    let id: String = db(row.try_get("id"))?;
    let roles: String = db(row.try_get("roles"))?;
    Ok(UserRow {
        id: uuid_col(&id, UserId::parse, "users.id")?,
        email: Email::from_store(db(row.try_get("email"))?),
        password_hash: PasswordHash::new(db(row.try_get("password_hash"))?),
        roles: split_roles(&roles),
        created_at: db(row.try_get("created_at"))?,
        disabled_at: db(row.try_get("disabled_at"))?,
        email_verified: db(row.try_get::<Option<i64>, _>("email_verified_at"))?.is_some(),
    })
}

impl EmailForms for Backend {
    async fn email_form(&self) -> Result<i64, StoreError> {
        db(sqlx::query_scalar("SELECT MAX(version) FROM email_form")
            .fetch_one(&self.pool)
            .await)
    }

    async fn set_email_form(&self, form: i64) -> Result<(), StoreError> {
        db(sqlx::query("UPDATE email_form SET version = $1")
            .bind(form)
            .execute(&self.writer)
            .await)?;
        Ok(())
    }

    async fn user_emails(&self) -> Result<Vec<(UserId, String)>, StoreError> {
        let rows: Vec<(String, String)> = db(sqlx::query_as(
            "SELECT id, email FROM users WHERE deleted_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await)?;
        rows.into_iter()
            .map(|(id, email)| Ok((uuid_col(&id, UserId::parse, "users.id")?, email)))
            .collect()
    }

    async fn rewrite_email(&self, id: UserId, from: &str, to: &Email) -> Result<bool, StoreError> {
        let update = sqlx::query("UPDATE users SET email = $1 WHERE id = $2 AND email = $3")
            .bind(to.as_str())
            .bind(id.to_string())
            .bind(from);
        Ok(db(update.execute(&self.writer).await)?.rows_affected() == 1)
    }
}

impl UserStore for Backend {
    async fn create_user(&self, user: &UserRow) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.password_hash.expose())
        .bind(join_roles(&user.roles))
        .bind(user.created_at)
        .bind(user.created_at);
        db(insert.execute(&self.writer).await)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRow>, StoreError> {
        self.fetch_user(
            "SELECT id, email, password_hash, roles, created_at, disabled_at, email_verified_at
             FROM users
             WHERE email = $1 AND deleted_at IS NULL",
            email.as_str().to_owned(),
        )
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        self.fetch_user(
            "SELECT id, email, password_hash, roles, created_at, disabled_at, email_verified_at
             FROM users
             WHERE id = $1 AND deleted_at IS NULL",
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
        let update = sqlx::query(
            "UPDATE users SET roles = $1, updated_at = $2
             WHERE id = $3 AND roles = $4 AND deleted_at IS NULL",
        )
        .bind(join_roles(roles))
        .bind(now)
        .bind(id.to_string())
        .bind(join_roles(expected));
        Ok(db(update.execute(&self.writer).await)?.rows_affected() == 1)
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE users SET password_hash = $1
             WHERE id = $2 AND password_hash = $3 AND deleted_at IS NULL",
        )
        .bind(new.expose())
        .bind(id.to_string())
        .bind(expected.expose());
        Ok(db(update.execute(&self.writer).await)?.rows_affected() == 1)
    }
}
