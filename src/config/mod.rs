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

mod args;
pub mod defaults;
mod hashing;
mod parse;
mod proxies;
mod store;
mod telemetry;
mod tls;

pub use proxies::TrustedProxies;
pub use telemetry::{LogFormat, OtlpEndpoint};
pub use tls::TlsFiles;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use args::{ServeArgs, StoreArgs, TokenArgs};
pub use store::{DatabaseKind, DatabaseUrl, MasterKeySource, StoreConfig, TokenConfig};

use crate::password::HashSettings;
use parse::{address, at_most, boolean, duration, non_empty, number};

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

/// The validated configuration of `tessera serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreConfig,
    pub listen: SocketAddr,
    /// Where the HTTP endpoints listen, if anywhere.
    pub http_listen: Option<SocketAddr>,
    /// TLS on the gRPC listener, if set.
    pub tls: Option<TlsFiles>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a spent refresh token may be retried once (0: never).
    pub refresh_reuse_grace: Duration,
    /// How long a deleted account's email stays taken (0: free at once).
    pub email_reuse_delay: Duration,
    /// Proxies whose forwarding headers name the client's address.
    pub trusted_proxies: TrustedProxies,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// How long a password-reset token works.
    pub password_reset_ttl: Duration,
    /// How long an email-verification token works.
    pub email_verification_ttl: Duration,
    pub signing_key: Option<PathBuf>,
    /// Failed logins per minute allowed per email and client address.
    pub login_attempts_per_minute: u32,
    /// Failed logins per minute allowed per email, from all addresses.
    pub login_attempts_per_email_per_minute: u32,
    /// Failed logins per minute allowed per client address.
    pub login_attempts_per_address_per_minute: u32,
    /// Registrations per minute allowed per client address.
    pub registrations_per_address_per_minute: u32,
    pub log_format: LogFormat,
    /// Where trace spans are exported, if anywhere.
    pub otlp_endpoint: Option<OtlpEndpoint>,
    pub verify_leeway: Duration,
    pub verify_cache: usize,
    /// How passwords are hashed: the algorithm and its cost, and how many hashes run
    /// and wait.
    pub hashing: HashSettings,
    pub shutdown_grace: Duration,
    pub purge_interval: Duration,
    pub auto_migrate: bool,
    pub sync_interval: Duration,
    pub watch_heartbeat: Duration,
    /// What one client connection may hold.
    pub connections: Connections,
}

/// What one client connection may hold, and how many may be open (see
/// `server/conn.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    pub max_connections: usize,
    pub max_streams: u32,
    pub max_header_bytes: u32,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub keepalive_interval: Duration,
}

/// The number of cores this process may run on: the default bcrypt concurrency, and
/// the number of signing threads.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Config {
    /// Validates every flag, naming the first variable that is wrong.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let listen = address("TESSERA_LISTEN", &args.listen, "127.0.0.1:50051")?;
        let http_listen = match args.http_listen.trim() {
            "" => None,
            raw => Some(address("TESSERA_HTTP_LISTEN", raw, "127.0.0.1:8080")?),
        };
        if http_listen.is_some_and(|http| http == listen && http.port() != 0) {
            return Err(ConfigError::new(
                "TESSERA_HTTP_LISTEN",
                "must differ from TESSERA_LISTEN",
            ));
        }
        let tokens = TokenConfig::from_args(&args.tokens)?;
        let log_format = LogFormat::parse(&args.log_format)?;
        let hash_concurrency = match args.hash_concurrency {
            Some(raw) => number("TESSERA_HASH_CONCURRENCY", &raw, 1, 1024)?,
            None => cores(),
        };
        Ok(Config {
            listen,
            http_listen,
            tls: TlsFiles::from_args(args.tls_cert, args.tls_key, args.tls_client_ca)?,
            issuer: non_empty("TESSERA_ISSUER", args.issuer)?,
            audience: non_empty("TESSERA_AUDIENCE", args.audience)?,
            access_ttl: tokens.access_ttl,
            refresh_ttl: duration(
                "TESSERA_REFRESH_TTL",
                &args.refresh_ttl,
                Duration::from_secs(1),
            )?,
            refresh_reuse_grace: at_most(
                "TESSERA_REFRESH_REUSE_GRACE",
                duration(
                    "TESSERA_REFRESH_REUSE_GRACE",
                    &args.refresh_reuse_grace,
                    Duration::ZERO,
                )?,
                Duration::from_secs(60),
            )?,
            email_reuse_delay: at_most(
                "TESSERA_EMAIL_REUSE_DELAY",
                duration(
                    "TESSERA_EMAIL_REUSE_DELAY",
                    &args.email_reuse_delay,
                    Duration::ZERO,
                )?,
                Duration::from_secs(365 * 86_400),
            )?,
            trusted_proxies: TrustedProxies::parse(&args.trusted_proxies)
                .map_err(|e| ConfigError::new("TESSERA_TRUSTED_PROXIES", e))?,
            audit_retention: at_most(
                "TESSERA_AUDIT_RETENTION",
                duration(
                    "TESSERA_AUDIT_RETENTION",
                    &args.audit_retention,
                    Duration::from_secs(3600),
                )?,
                Duration::from_secs(3650 * 86_400),
            )?,
            password_reset_ttl: at_most(
                "TESSERA_PASSWORD_RESET_TTL",
                duration(
                    "TESSERA_PASSWORD_RESET_TTL",
                    &args.password_reset_ttl,
                    Duration::from_secs(60),
                )?,
                Duration::from_secs(86_400),
            )?,
            email_verification_ttl: at_most(
                "TESSERA_EMAIL_VERIFICATION_TTL",
                duration(
                    "TESSERA_EMAIL_VERIFICATION_TTL",
                    &args.email_verification_ttl,
                    Duration::from_secs(60),
                )?,
                Duration::from_secs(30 * 86_400),
            )?,
            signing_key: args.signing_key,
            login_attempts_per_minute: number(
                "TESSERA_LOGIN_ATTEMPTS_PER_MINUTE",
                &args.login_attempts_per_minute,
                1,
                1_000_000,
            )?,
            login_attempts_per_email_per_minute: number(
                "TESSERA_LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE",
                &args.login_attempts_per_email_per_minute,
                1,
                1_000_000,
            )?,
            login_attempts_per_address_per_minute: number(
                "TESSERA_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE",
                &args.login_attempts_per_address_per_minute,
                1,
                1_000_000,
            )?,
            registrations_per_address_per_minute: number(
                "TESSERA_REGISTRATIONS_PER_ADDRESS_PER_MINUTE",
                &args.registrations_per_address_per_minute,
                1,
                1_000_000,
            )?,
            log_format,
            otlp_endpoint: OtlpEndpoint::parse(&args.otlp_endpoint)?,
            verify_leeway: tokens.verify_leeway,
            verify_cache: number("TESSERA_VERIFY_CACHE", &args.verify_cache, 0, 10_000_000)?,
            hashing: HashSettings {
                algorithm: hashing::algorithm(hashing::HashArgs {
                    password_hash: &args.password_hash,
                    argon2_memory_kib: &args.argon2_memory_kib,
                    argon2_iterations: &args.argon2_iterations,
                    argon2_parallelism: &args.argon2_parallelism,
                    bcrypt_cost: &args.bcrypt_cost,
                })?,
                concurrency: hash_concurrency,
                queue: number("TESSERA_HASH_QUEUE", &args.hash_queue, 0, 1_000_000)?,
            },
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
            connections: Connections {
                max_connections: number(
                    "TESSERA_MAX_CONNECTIONS",
                    &args.max_connections,
                    1,
                    1_000_000,
                )?,
                max_streams: number(
                    "TESSERA_MAX_STREAMS_PER_CONNECTION",
                    &args.max_streams_per_connection,
                    1,
                    100_000,
                )?,
                max_header_bytes: number(
                    "TESSERA_MAX_HEADER_BYTES",
                    &args.max_header_bytes,
                    1024,
                    1 << 20,
                )?,
                handshake_timeout: duration(
                    "TESSERA_HANDSHAKE_TIMEOUT",
                    &args.handshake_timeout,
                    Duration::from_millis(100),
                )?,
                idle_timeout: duration(
                    "TESSERA_IDLE_TIMEOUT",
                    &args.idle_timeout,
                    Duration::from_millis(100),
                )?,
                keepalive_interval: duration(
                    "TESSERA_KEEPALIVE_INTERVAL",
                    &args.keepalive_interval,
                    Duration::from_secs(1),
                )?,
            },
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
            http_listen: defaults::HTTP_LISTEN.into(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            issuer: defaults::ISSUER.into(),
            audience: defaults::AUDIENCE.into(),
            refresh_ttl: defaults::REFRESH_TTL.into(),
            refresh_reuse_grace: defaults::REFRESH_REUSE_GRACE.into(),
            email_reuse_delay: defaults::EMAIL_REUSE_DELAY.into(),
            trusted_proxies: String::new(),
            audit_retention: defaults::AUDIT_RETENTION.into(),
            password_reset_ttl: defaults::PASSWORD_RESET_TTL.into(),
            email_verification_ttl: defaults::EMAIL_VERIFICATION_TTL.into(),
            password_hash: defaults::PASSWORD_HASH.into(),
            argon2_memory_kib: defaults::ARGON2_MEMORY_KIB.into(),
            argon2_iterations: defaults::ARGON2_ITERATIONS.into(),
            argon2_parallelism: defaults::ARGON2_PARALLELISM.into(),
            bcrypt_cost: defaults::BCRYPT_COST.into(),
            signing_key: None,
            login_attempts_per_minute: defaults::LOGIN_ATTEMPTS_PER_MINUTE.into(),
            login_attempts_per_email_per_minute: defaults::LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE
                .into(),
            registrations_per_address_per_minute: defaults::REGISTRATIONS_PER_ADDRESS_PER_MINUTE
                .into(),
            login_attempts_per_address_per_minute: defaults::LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE
                .into(),
            log_format: defaults::LOG_FORMAT.into(),
            otlp_endpoint: defaults::OTLP_ENDPOINT.into(),
            verify_cache: defaults::VERIFY_CACHE.into(),
            hash_concurrency: None,
            hash_queue: defaults::HASH_QUEUE.into(),
            shutdown_grace: defaults::SHUTDOWN_GRACE.into(),
            purge_interval: defaults::PURGE_INTERVAL.into(),
            auto_migrate: defaults::AUTO_MIGRATE.into(),
            sync_interval: defaults::SYNC_INTERVAL.into(),
            watch_heartbeat: defaults::WATCH_HEARTBEAT.into(),
            max_connections: defaults::MAX_CONNECTIONS.into(),
            max_streams_per_connection: defaults::MAX_STREAMS_PER_CONNECTION.into(),
            max_header_bytes: defaults::MAX_HEADER_BYTES.into(),
            handshake_timeout: defaults::HANDSHAKE_TIMEOUT.into(),
            idle_timeout: defaults::IDLE_TIMEOUT.into(),
            keepalive_interval: defaults::KEEPALIVE_INTERVAL.into(),
        };
        #[allow(clippy::expect_used)]
        Config::from_args(args).expect("the built-in defaults are valid")
    }
}

#[cfg(test)]
mod tests;
