//! [`StoreError`]: what went wrong in the store, in the store's terms.

/// What went wrong in the store. The use cases decide what each means to a caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("unique constraint violated")]
    Conflict,
    /// The database could not be reached in time; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row held a value this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Maps a driver error: unique violations become [`StoreError::Conflict`], an
    /// unreachable database [`StoreError::Unavailable`].
    pub(crate) fn from_sqlx(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err)
            }
            _ => StoreError::Database(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_unavailable_not_a_plain_failure() {
        assert!(matches!(
            StoreError::from_sqlx(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            StoreError::from_sqlx(sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from_sqlx(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }
}
