//! The command-line flags: one clap struct per group, every flag with a
//! `TESSERA_*` variable of the same meaning. Values stay strings here; they are
//! validated into [`super::Config`].

use std::path::PathBuf;

use super::defaults;

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
    /// HTTP listen address for JWKS, OpenID discovery, probes, metrics and forward
    /// auth (empty: no HTTP listener).
    #[arg(long, env = "TESSERA_HTTP_LISTEN", default_value = defaults::HTTP_LISTEN)]
    pub http_listen: String,
    /// TLS on the gRPC listener: the certificate chain (PEM). Re-read on SIGHUP or
    /// when the file changes.
    #[arg(long, env = "TESSERA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "TESSERA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// mTLS: clients must present a certificate issued by this CA (PEM).
    #[arg(long, env = "TESSERA_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// `iss` of every token, checked on verify.
    #[arg(long, env = "TESSERA_ISSUER", default_value = defaults::ISSUER)]
    pub issuer: String,
    /// `aud` of every token, checked on verify.
    #[arg(long, env = "TESSERA_AUDIENCE", default_value = defaults::AUDIENCE)]
    pub audience: String,
    /// Refresh-token lifetime (7d); each refresh starts a new one.
    #[arg(long, env = "TESSERA_REFRESH_TTL", default_value = defaults::REFRESH_TTL)]
    pub refresh_ttl: String,
    /// How long after a refresh the spent token may be presented once more and get the
    /// same new refresh token back (a retry after a lost answer), instead of counting
    /// as reuse. 0s (strict reuse detection) to 60s.
    #[arg(long, env = "TESSERA_REFRESH_REUSE_GRACE", default_value = defaults::REFRESH_REUSE_GRACE)]
    pub refresh_reuse_grace: String,
    /// How long the email of a deleted account stays taken before it can register
    /// again: 0s (at once) to 365d.
    #[arg(long, env = "TESSERA_EMAIL_REUSE_DELAY", default_value = defaults::EMAIL_REUSE_DELAY)]
    pub email_reuse_delay: String,
    /// Proxies whose forwarding headers are believed: comma-separated CIDR ranges
    /// (empty: none). From them the client's address is read from
    /// x-envoy-external-address or the right-most untrusted x-forwarded-for hop.
    #[arg(long, env = "TESSERA_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// How long audit events are kept before the purge removes them: 1h to 3650d.
    #[arg(long, env = "TESSERA_AUDIT_RETENTION", default_value = defaults::AUDIT_RETENTION)]
    pub audit_retention: String,
    /// How long a password-reset token works: 1m to 24h.
    #[arg(long, env = "TESSERA_PASSWORD_RESET_TTL", default_value = defaults::PASSWORD_RESET_TTL)]
    pub password_reset_ttl: String,
    /// How long an email-verification token works: 1m to 30d.
    #[arg(long, env = "TESSERA_EMAIL_VERIFICATION_TTL", default_value = defaults::EMAIL_VERIFICATION_TTL)]
    pub email_verification_ttl: String,
    /// The algorithm new password hashes are made with: `argon2id` or `bcrypt`. Hashes
    /// of either keep verifying; a login whose stored hash is of the other algorithm
    /// or another cost is rehashed.
    #[arg(long, env = "TESSERA_PASSWORD_HASH", default_value = defaults::PASSWORD_HASH)]
    pub password_hash: String,
    /// argon2id memory per hash, in KiB (8 per lane to 1048576).
    #[arg(long, env = "TESSERA_ARGON2_MEMORY_KIB", default_value = defaults::ARGON2_MEMORY_KIB)]
    pub argon2_memory_kib: String,
    /// argon2id passes over the memory, 1 to 64.
    #[arg(long, env = "TESSERA_ARGON2_ITERATIONS", default_value = defaults::ARGON2_ITERATIONS)]
    pub argon2_iterations: String,
    /// argon2id lanes, 1 to 16 (computed on one thread).
    #[arg(long, env = "TESSERA_ARGON2_PARALLELISM", default_value = defaults::ARGON2_PARALLELISM)]
    pub argon2_parallelism: String,
    /// bcrypt cost, 4 to 31 (with TESSERA_PASSWORD_HASH=bcrypt).
    #[arg(long, env = "TESSERA_BCRYPT_COST", default_value = defaults::BCRYPT_COST)]
    pub bcrypt_cost: String,
    /// An RS256 private key (PKCS#8 PEM file) to start from: stored (sealed) as the
    /// signing key when the database holds no key yet, ignored after that.
    #[arg(long, env = "TESSERA_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Failed-login budget per email and client address per minute.
    #[arg(long, env = "TESSERA_LOGIN_ATTEMPTS_PER_MINUTE", default_value = defaults::LOGIN_ATTEMPTS_PER_MINUTE)]
    pub login_attempts_per_minute: String,
    /// Failed-login ceiling per email per minute, from all addresses together
    /// (against guessing one account from many addresses).
    #[arg(long, env = "TESSERA_LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE", default_value = defaults::LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE)]
    pub login_attempts_per_email_per_minute: String,
    /// Registrations per client address per minute (each costs a password hash).
    #[arg(long, env = "TESSERA_REGISTRATIONS_PER_ADDRESS_PER_MINUTE", default_value = defaults::REGISTRATIONS_PER_ADDRESS_PER_MINUTE)]
    pub registrations_per_address_per_minute: String,
    /// Failed-login budget per client address per minute.
    #[arg(long, env = "TESSERA_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", default_value = defaults::LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE)]
    pub login_attempts_per_address_per_minute: String,
    /// Log format: `text` or `json` (level from RUST_LOG).
    #[arg(long, env = "TESSERA_LOG_FORMAT", default_value = defaults::LOG_FORMAT)]
    pub log_format: String,
    /// OpenTelemetry traces: an OTLP/gRPC collector, `http://host:port` (empty: no
    /// traces). `OTEL_SERVICE_NAME` and the `OTEL_BSP_*` batching variables apply.
    #[arg(long, env = "TESSERA_OTLP_ENDPOINT", default_value = defaults::OTLP_ENDPOINT)]
    pub otlp_endpoint: String,
    /// How many verified access tokens Verify remembers, so a token seen again skips
    /// the signature check (expiry and revocation are still checked); 0 turns it off.
    #[arg(long, env = "TESSERA_VERIFY_CACHE", default_value = defaults::VERIFY_CACHE)]
    pub verify_cache: String,
    /// How many password hashes run at once (default: the number of cores).
    #[arg(long, env = "TESSERA_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<String>,
    /// How many password hashes may wait for a core before Login and Register
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
    /// The most client connections open at once; more wait in the kernel's backlog.
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", default_value = defaults::MAX_CONNECTIONS)]
    pub max_connections: String,
    /// The most RPCs in flight on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, env = "TESSERA_MAX_STREAMS_PER_CONNECTION", default_value = defaults::MAX_STREAMS_PER_CONNECTION)]
    pub max_streams_per_connection: String,
    /// The largest header list a request may send, in bytes (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE).
    #[arg(long, env = "TESSERA_MAX_HEADER_BYTES", default_value = defaults::MAX_HEADER_BYTES)]
    pub max_header_bytes: String,
    /// How long a new connection may take to send the HTTP/2 preface.
    #[arg(long, env = "TESSERA_HANDSHAKE_TIMEOUT", default_value = defaults::HANDSHAKE_TIMEOUT)]
    pub handshake_timeout: String,
    /// How long a connection may stay open with no RPC in flight.
    #[arg(long, env = "TESSERA_IDLE_TIMEOUT", default_value = defaults::IDLE_TIMEOUT)]
    pub idle_timeout: String,
    /// How long a connection may stay silent before an HTTP/2 PING checks the peer is
    /// there (it must answer within 20 s).
    #[arg(long, env = "TESSERA_KEEPALIVE_INTERVAL", default_value = defaults::KEEPALIVE_INTERVAL)]
    pub keepalive_interval: String,
}
