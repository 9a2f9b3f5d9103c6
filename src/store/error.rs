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
    /// The storage refused a write: the disk is full or failing. Reads may still
    /// work, and writes may again once space is freed.
    #[error("the database cannot write: {0}")]
    WriteFailed(#[source] sqlx::Error),
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
            sqlx::Error::Database(db) if write_fault(db.as_ref()) => StoreError::WriteFailed(err),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err)
            }
            _ => StoreError::Database(err),
        }
    }
}

/// Whether a database error says the storage refused a write.
fn write_fault(db: &dyn sqlx::error::DatabaseError) -> bool {
    match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        Some(pg) => pg_write_fault(pg.code()),
        None => db
            .code()
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(sqlite_write_fault),
    }
}

/// SQLite's `SQLITE_FULL` (13) and `SQLITE_IOERR` (10), with any extended code.
fn sqlite_write_fault(code: u32) -> bool {
    matches!(code & 0xff, 10 | 13)
}

/// PostgreSQL's `disk_full` (53100) and its class 58 (system and I/O errors).
fn pg_write_fault(sqlstate: &str) -> bool {
    sqlstate == "53100" || sqlstate.starts_with("58")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_failing_storage_codes_are_write_faults() {
        // SQLITE_FULL, SQLITE_IOERR, SQLITE_IOERR_WRITE; not BUSY or a UNIQUE constraint.
        for code in [13, 10, 778] {
            assert!(sqlite_write_fault(code), "{code}");
        }
        for code in [5, 2067] {
            assert!(!sqlite_write_fault(code), "{code}");
        }
        for code in ["53100", "58030"] {
            assert!(pg_write_fault(code), "{code}");
        }
        for code in ["23505", "40001", "53300"] {
            assert!(!pg_write_fault(code), "{code}");
        }
    }

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
