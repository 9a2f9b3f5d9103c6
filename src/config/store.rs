//! Where the state lives (the database URL, the data folder, the master key) and
//! the token lifetimes: the settings `serve`, `migrate` and `keys` share.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{StoreArgs, TokenArgs};
use super::parse::{at_most, duration, number};
use super::{ConfigError, defaults};
use crate::clock::secs;
use crate::token::seal::MasterKey;
use crate::token::verify::MAX_ACCESS_TTL_SECS;

/// The storage backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// A SQLite file: the embedded default, one instance.
    Sqlite,
    /// PostgreSQL: one database for many instances.
    Postgres,
}

impl DatabaseKind {
    /// `sqlite` or `postgres`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }
}

/// A database URL. `Debug` and `Display` mask any password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The backend the scheme names (validated when the URL was accepted).
    pub fn kind(&self) -> DatabaseKind {
        if self.0.starts_with("postgres://") || self.0.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else {
            DatabaseKind::Sqlite
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = ConfigError;

    /// Accepts `sqlite:…`, `postgres://…` and `postgresql://…`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = raw.trim();
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if known.iter().any(|scheme| url.starts_with(scheme)) {
            Ok(DatabaseUrl(url.to_owned()))
        } else {
            Err(ConfigError::new(
                "TESSERA_DATABASE_URL",
                "expected a URL starting with sqlite:// or postgres://",
            ))
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scheme://user:password@host → scheme://user:***@host
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let creds = &self.0[s + 3..at];
                let user = creds.split(':').next().unwrap_or_default();
                write!(f, "{}://{user}:***{}", &self.0[..s], &self.0[at..])
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// Given by TESSERA_MASTER_KEY or TESSERA_MASTER_KEY_FILE.
    Given(MasterKey),
    /// Generated into (and read from) the data folder: the embedded default only.
    DataDir,
}

/// The validated [`StoreArgs`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub master_key: MasterKeySource,
    pub db_max_connections: u32,
    pub db_timeout: Duration,
}

impl StoreConfig {
    /// Validates the store settings, naming the first variable that is wrong.
    pub fn from_args(args: StoreArgs) -> Result<Self, ConfigError> {
        let database_url = match args.database_url {
            Some(url) => url.parse()?,
            None => DatabaseUrl(format!(
                "sqlite://{}",
                args.data_dir.join(defaults::SQLITE_FILE).display()
            )),
        };
        let master_key = match (args.master_key, args.master_key_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "TESSERA_MASTER_KEY_FILE",
                    "set either TESSERA_MASTER_KEY or TESSERA_MASTER_KEY_FILE, not both",
                ));
            }
            (Some(text), None) => MasterKeySource::Given(
                MasterKey::from_base64(&text)
                    .map_err(|e| ConfigError::new("TESSERA_MASTER_KEY", e.to_string()))?,
            ),
            (None, Some(path)) => MasterKeySource::Given(
                MasterKey::load(&path)
                    .map_err(|e| ConfigError::new("TESSERA_MASTER_KEY_FILE", e.to_string()))?,
            ),
            (None, None) if database_url.kind() == DatabaseKind::Postgres => {
                // Instances on several machines cannot share a generated file.
                return Err(ConfigError::new(
                    "TESSERA_MASTER_KEY",
                    "required with a PostgreSQL database: 32 random bytes in base64 \
                     (e.g. from `openssl rand -base64 32`), or set TESSERA_MASTER_KEY_FILE",
                ));
            }
            (None, None) => MasterKeySource::DataDir,
        };
        Ok(Self {
            data_dir: args.data_dir,
            database_url,
            master_key,
            db_max_connections: number(
                "TESSERA_DB_MAX_CONNECTIONS",
                &args.db_max_connections,
                // One connection is held for LISTEN; the requests need at least one more.
                2,
                10_000,
            )?,
            db_timeout: duration(
                "TESSERA_DB_TIMEOUT",
                &args.db_timeout,
                Duration::from_millis(100),
            )?,
        })
    }
}

/// The validated [`TokenArgs`].
#[derive(Debug, Clone, Copy)]
pub struct TokenConfig {
    pub access_ttl: Duration,
    pub verify_leeway: Duration,
}

impl TokenConfig {
    /// Validates the token lifetimes.
    pub fn from_args(args: &TokenArgs) -> Result<Self, ConfigError> {
        Ok(Self {
            access_ttl: at_most(
                "TESSERA_ACCESS_TTL",
                duration(
                    "TESSERA_ACCESS_TTL",
                    &args.access_ttl,
                    Duration::from_secs(1),
                )?,
                Duration::from_secs(MAX_ACCESS_TTL_SECS.unsigned_abs()),
            )?,
            verify_leeway: duration("TESSERA_VERIFY_LEEWAY", &args.verify_leeway, Duration::ZERO)?,
        })
    }

    /// How long after a token is issued it can still verify: the access-token
    /// lifetime plus the leeway. Retired keys and revoked sessions are remembered
    /// that long.
    pub fn horizon_secs(&self) -> i64 {
        secs(self.access_ttl.saturating_add(self.verify_leeway))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_display_masks_the_password() {
        let url = DatabaseUrl("postgres://app:s3cret@db:5432/auth".into());
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/auth");
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
