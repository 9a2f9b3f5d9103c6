//! Configuration: one clap struct whose every flag has a `TESSERA_*` variable of the
//! same meaning, parsed into a validated [`Config`] before anything starts.
//!
//! Raw values stay strings until [`Config::from_args`], so a bad one is reported as one
//! line naming the variable (`invalid TESSERA_ACCESS_TTL: expected a duration like
//! 15m`) and never echoed back: some of them are secrets.
//!
//! [`StoreArgs`] (where the state lives, and the master key) and [`TokenArgs`] (the
//! token lifetimes) are shared by `serve`, `migrate` and `keys`, so every
//! subcommand reads the same variables the same way.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::token::seal::MasterKey;

/// The defaults, shared by the flags and by [`Config::with_data_dir`].
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:50051";
    pub const DATA_DIR: &str = "./data";
    pub const ISSUER: &str = "tessera";
    pub const AUDIENCE: &str = "tessera";
    pub const ACCESS_TTL: &str = "15m";
    pub const REFRESH_TTL: &str = "7d";
    pub const BCRYPT_COST: &str = "12";
    pub const LOGIN_ATTEMPTS_PER_MINUTE: &str = "5";
    pub const LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE: &str = "50";
    pub const LOG_FORMAT: &str = "text";
    pub const VERIFY_LEEWAY: &str = "30s";
    pub const VERIFY_CACHE: &str = "10000";
    pub const HASH_QUEUE: &str = "64";
    pub const SHUTDOWN_GRACE: &str = "10s";
    pub const PURGE_INTERVAL: &str = "10m";
    pub const DB_MAX_CONNECTIONS: &str = "10";
    pub const DB_TIMEOUT: &str = "5s";
    pub const AUTO_MIGRATE: &str = "true";
    pub const SYNC_INTERVAL: &str = "10s";
    pub const WATCH_HEARTBEAT: &str = "5s";
    /// How long `tessera keys rotate` stages a key before it signs: twice the
    /// verifiers' default JWKS refresh interval (5 minutes).
    pub const KEY_ACTIVATION_DELAY: &str = "10m";
    /// The SQLite file inside the data folder.
    pub const SQLITE_FILE: &str = "tessera.db";
}

/// Where tessera's state lives: shared by `serve`, `migrate` and `keys`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Where the embedded default keeps its SQLite file and generated master key.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://…` (default: `tessera.db` in the data folder) or `postgres://…`.
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The key that seals signing keys in the database: 32 random bytes in base64.
    /// Required with PostgreSQL; with SQLite it is generated into the data folder if unset.
    #[arg(long, env = "TESSERA_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// A file holding the master key (base64), instead of TESSERA_MASTER_KEY.
    #[arg(long, env = "TESSERA_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// PostgreSQL: the most connections this instance opens.
    #[arg(long, env = "TESSERA_DB_MAX_CONNECTIONS", default_value = defaults::DB_MAX_CONNECTIONS)]
    pub db_max_connections: String,
    /// How long a database call may wait for a connection before it answers UNAVAILABLE.
    #[arg(long, env = "TESSERA_DB_TIMEOUT", default_value = defaults::DB_TIMEOUT)]
    pub db_timeout: String,
}

/// Token lifetimes: shared by `serve` and `keys` (a retired key stays published until
/// the last token it signed has expired).
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Access-token lifetime (2s, 15m, 1h).
    #[arg(long, env = "TESSERA_ACCESS_TTL", default_value = defaults::ACCESS_TTL)]
    pub access_ttl: String,
    /// Clock-skew leeway on `exp` when verifying.
    #[arg(long, env = "TESSERA_VERIFY_LEEWAY", default_value = defaults::VERIFY_LEEWAY)]
    pub verify_leeway: String,
}

/// `tessera serve` flags; each reads the `TESSERA_*` variable named beside it.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    /// gRPC listen address.
    #[arg(long, env = "TESSERA_LISTEN", default_value = defaults::LISTEN)]
    pub listen: String,
    /// `iss` of every token, checked on verify.
    #[arg(long, env = "TESSERA_ISSUER", default_value = defaults::ISSUER)]
    pub issuer: String,
    /// `aud` of every token, checked on verify.
    #[arg(long, env = "TESSERA_AUDIENCE", default_value = defaults::AUDIENCE)]
    pub audience: String,
    /// Refresh-token lifetime (7d); each refresh starts a new one.
    #[arg(long, env = "TESSERA_REFRESH_TTL", default_value = defaults::REFRESH_TTL)]
    pub refresh_ttl: String,
    /// bcrypt cost, 4 to 31.
    #[arg(long, env = "TESSERA_BCRYPT_COST", default_value = defaults::BCRYPT_COST)]
    pub bcrypt_cost: String,
    /// An RS256 private key (PKCS#8 PEM file) to start from: stored (sealed) as the
    /// signing key when the database holds no key yet, ignored after that.
    #[arg(long, env = "TESSERA_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Failed-login budget per email per minute.
    #[arg(long, env = "TESSERA_LOGIN_ATTEMPTS_PER_MINUTE", default_value = defaults::LOGIN_ATTEMPTS_PER_MINUTE)]
    pub login_attempts_per_minute: String,
    /// Failed-login budget per client address per minute.
    #[arg(long, env = "TESSERA_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", default_value = defaults::LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE)]
    pub login_attempts_per_address_per_minute: String,
    /// Log format: `text` or `json` (level from RUST_LOG).
    #[arg(long, env = "TESSERA_LOG_FORMAT", default_value = defaults::LOG_FORMAT)]
    pub log_format: String,
    /// How many verified access tokens Verify remembers, so a token seen again skips
    /// the signature check (expiry and revocation are still checked); 0 turns it off.
    #[arg(long, env = "TESSERA_VERIFY_CACHE", default_value = defaults::VERIFY_CACHE)]
    pub verify_cache: String,
    /// How many bcrypt operations run at once (default: the number of cores).
    #[arg(long, env = "TESSERA_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<String>,
    /// How many bcrypt operations may wait for a core before Login and Register
    /// answer RESOURCE_EXHAUSTED.
    #[arg(long, env = "TESSERA_HASH_QUEUE", default_value = defaults::HASH_QUEUE)]
    pub hash_queue: String,
    /// How long shutdown waits for in-flight RPCs.
    #[arg(long, env = "TESSERA_SHUTDOWN_GRACE", default_value = defaults::SHUTDOWN_GRACE)]
    pub shutdown_grace: String,
    /// How often expired refresh tokens and sessions are purged.
    #[arg(long, env = "TESSERA_PURGE_INTERVAL", default_value = defaults::PURGE_INTERVAL)]
    pub purge_interval: String,
    /// Apply pending migrations at start (`false`: refuse to start until `tessera migrate` ran).
    #[arg(long, env = "TESSERA_AUTO_MIGRATE", default_value = defaults::AUTO_MIGRATE)]
    pub auto_migrate: String,
    /// How often revocations and signing keys are read again from the database, so a
    /// missed announcement heals (the worst-case delay on PostgreSQL).
    #[arg(long, env = "TESSERA_SYNC_INTERVAL", default_value = defaults::SYNC_INTERVAL)]
    pub sync_interval: String,
    /// How often a WatchRevocations stream sends a heartbeat, so a verifier can tell
    /// a quiet stream from a dead one.
    #[arg(long, env = "TESSERA_WATCH_HEARTBEAT", default_value = defaults::WATCH_HEARTBEAT)]
    pub watch_heartbeat: String,
}

/// A setting that cannot be used. `Display` is the one line the binary prints: it
/// names the variable and never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: {expected}")]
pub struct ConfigError {
    /// The variable at fault, e.g. `TESSERA_ACCESS_TTL`.
    pub var: &'static str,
    /// What was expected, or what went wrong with it.
    pub expected: String,
}

impl ConfigError {
    /// An error for `var`.
    pub fn new(var: &'static str, expected: impl Into<String>) -> Self {
        Self {
            var,
            expected: expected.into(),
        }
    }
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

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
            access_ttl: duration(
                "TESSERA_ACCESS_TTL",
                &args.access_ttl,
                Duration::from_secs(1),
            )?,
            verify_leeway: duration("TESSERA_VERIFY_LEEWAY", &args.verify_leeway, Duration::ZERO)?,
        })
    }

    /// How long after a token is issued it can still verify: the access-token
    /// lifetime plus the leeway. Retired keys and revoked sessions are remembered
    /// that long.
    pub fn horizon_secs(&self) -> i64 {
        let secs = self
            .access_ttl
            .as_secs()
            .saturating_add(self.verify_leeway.as_secs());
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// The validated configuration of `tessera serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreConfig,
    pub listen: SocketAddr,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub bcrypt_cost: u32,
    pub signing_key: Option<PathBuf>,
    pub login_attempts_per_minute: u32,
    pub login_attempts_per_address_per_minute: u32,
    pub log_format: LogFormat,
    pub verify_leeway: Duration,
    pub verify_cache: usize,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    pub shutdown_grace: Duration,
    pub purge_interval: Duration,
    pub auto_migrate: bool,
    pub sync_interval: Duration,
    pub watch_heartbeat: Duration,
}

fn duration(var: &'static str, raw: &str, min: Duration) -> Result<Duration, ConfigError> {
    let value = humantime::parse_duration(raw.trim())
        .map_err(|_| ConfigError::new(var, "expected a duration like 15m, 30s or 7d"))?;
    if value < min {
        return Err(ConfigError::new(
            var,
            format!("must be at least {}", humantime::format_duration(min)),
        ));
    }
    Ok(value)
}

fn number<T: std::str::FromStr + PartialOrd + fmt::Display>(
    var: &'static str,
    raw: &str,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|v| *v >= min && *v <= max)
        .ok_or_else(|| {
            ConfigError::new(var, format!("expected a whole number from {min} to {max}"))
        })
}

fn boolean(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(var, "expected true or false")),
    }
}

fn non_empty(var: &'static str, raw: String) -> Result<String, ConfigError> {
    if raw.trim().is_empty() {
        Err(ConfigError::new(var, "must not be empty"))
    } else {
        Ok(raw)
    }
}

/// The number of cores this process may run on: the default bcrypt concurrency, and
/// the number of signing threads.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Config {
    /// Validates every flag, naming the first variable that is wrong.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let listen = args.listen.trim().parse::<SocketAddr>().map_err(|_| {
            ConfigError::new("TESSERA_LISTEN", "expected an address like 127.0.0.1:50051")
        })?;
        let tokens = TokenConfig::from_args(&args.tokens)?;
        let log_format = match args.log_format.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(ConfigError::new(
                    "TESSERA_LOG_FORMAT",
                    "expected text or json",
                ));
            }
        };
        let hash_concurrency = match args.hash_concurrency {
            Some(raw) => number("TESSERA_HASH_CONCURRENCY", &raw, 1, 1024)?,
            None => cores(),
        };
        Ok(Config {
            listen,
            issuer: non_empty("TESSERA_ISSUER", args.issuer)?,
            audience: non_empty("TESSERA_AUDIENCE", args.audience)?,
            access_ttl: tokens.access_ttl,
            refresh_ttl: duration(
                "TESSERA_REFRESH_TTL",
                &args.refresh_ttl,
                Duration::from_secs(1),
            )?,
            bcrypt_cost: number("TESSERA_BCRYPT_COST", &args.bcrypt_cost, 4, 31)?,
            signing_key: args.signing_key,
            login_attempts_per_minute: number(
                "TESSERA_LOGIN_ATTEMPTS_PER_MINUTE",
                &args.login_attempts_per_minute,
                1,
                1_000_000,
            )?,
            login_attempts_per_address_per_minute: number(
                "TESSERA_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE",
                &args.login_attempts_per_address_per_minute,
                1,
                1_000_000,
            )?,
            log_format,
            verify_leeway: tokens.verify_leeway,
            verify_cache: number("TESSERA_VERIFY_CACHE", &args.verify_cache, 0, 10_000_000)?,
            hash_concurrency,
            hash_queue: number("TESSERA_HASH_QUEUE", &args.hash_queue, 0, 1_000_000)?,
            shutdown_grace: duration(
                "TESSERA_SHUTDOWN_GRACE",
                &args.shutdown_grace,
                Duration::ZERO,
            )?,
            purge_interval: duration(
                "TESSERA_PURGE_INTERVAL",
                &args.purge_interval,
                Duration::from_secs(1),
            )?,
            auto_migrate: boolean("TESSERA_AUTO_MIGRATE", &args.auto_migrate)?,
            sync_interval: duration(
                "TESSERA_SYNC_INTERVAL",
                &args.sync_interval,
                Duration::from_millis(100),
            )?,
            watch_heartbeat: duration(
                "TESSERA_WATCH_HEARTBEAT",
                &args.watch_heartbeat,
                Duration::from_millis(100),
            )?,
            // Last: opening a master key file is the one check that touches the disk.
            store: StoreConfig::from_args(args.store)?,
        })
    }

    /// The token lifetimes, as `keys` reads them.
    pub fn tokens(&self) -> TokenConfig {
        TokenConfig {
            access_ttl: self.access_ttl,
            verify_leeway: self.verify_leeway,
        }
    }

    /// The defaults with `data_dir` as the data folder (and so its SQLite file and
    /// generated key): what `tessera serve` runs with when nothing is set.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let args = ServeArgs {
            store: StoreArgs {
                data_dir: data_dir.into(),
                database_url: None,
                master_key: None,
                master_key_file: None,
                db_max_connections: defaults::DB_MAX_CONNECTIONS.into(),
                db_timeout: defaults::DB_TIMEOUT.into(),
            },
            tokens: TokenArgs {
                access_ttl: defaults::ACCESS_TTL.into(),
                verify_leeway: defaults::VERIFY_LEEWAY.into(),
            },
            listen: defaults::LISTEN.into(),
            issuer: defaults::ISSUER.into(),
            audience: defaults::AUDIENCE.into(),
            refresh_ttl: defaults::REFRESH_TTL.into(),
            bcrypt_cost: defaults::BCRYPT_COST.into(),
            signing_key: None,
            login_attempts_per_minute: defaults::LOGIN_ATTEMPTS_PER_MINUTE.into(),
            login_attempts_per_address_per_minute: defaults::LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE
                .into(),
            log_format: defaults::LOG_FORMAT.into(),
            verify_cache: defaults::VERIFY_CACHE.into(),
            hash_concurrency: None,
            hash_queue: defaults::HASH_QUEUE.into(),
            shutdown_grace: defaults::SHUTDOWN_GRACE.into(),
            purge_interval: defaults::PURGE_INTERVAL.into(),
            auto_migrate: defaults::AUTO_MIGRATE.into(),
            sync_interval: defaults::SYNC_INTERVAL.into(),
            watch_heartbeat: defaults::WATCH_HEARTBEAT.into(),
        };
        #[allow(clippy::expect_used)]
        Config::from_args(args).expect("the built-in defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let config = Config::with_data_dir("/tmp/x");
        assert_eq!(config.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(config.refresh_ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(config.bcrypt_cost, 12);
        assert_eq!(
            config.store.database_url.expose(),
            "sqlite:///tmp/x/tessera.db"
        );
        assert!(config.auto_migrate);
        assert!(matches!(config.store.master_key, MasterKeySource::DataDir));
    }

    #[test]
    fn database_url_display_masks_the_password() {
        let url = DatabaseUrl("postgres://app:s3cret@db:5432/auth".into());
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/auth");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn bad_duration_names_the_variable() {
        let err = duration("TESSERA_ACCESS_TTL", "soon", Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TESSERA_ACCESS_TTL: expected a duration like 15m, 30s or 7d"
        );
    }

    #[test]
    fn bcrypt_cost_outside_4_to_31_is_refused() {
        assert!(number::<u32>("TESSERA_BCRYPT_COST", "3", 4, 31).is_err());
        assert!(number::<u32>("TESSERA_BCRYPT_COST", "32", 4, 31).is_err());
        assert_eq!(number::<u32>("TESSERA_BCRYPT_COST", "4", 4, 31), Ok(4));
    }
}
