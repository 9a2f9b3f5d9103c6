//! The defaults: the one list, shared by the flags and by
//! [`super::Config::with_data_dir`].

pub const LISTEN: &str = "127.0.0.1:50051";
/// No HTTP listener unless one is asked for.
pub const HTTP_LISTEN: &str = "";
pub const DATA_DIR: &str = "./data";
pub const ISSUER: &str = "tessera";
pub const AUDIENCE: &str = "tessera";
pub const ACCESS_TTL: &str = "15m";
pub const REFRESH_TTL: &str = "7d";
pub const REFRESH_REUSE_GRACE: &str = "0s";
/// How long a deleted account's email stays taken (0: free at once).
pub const EMAIL_REUSE_DELAY: &str = "0s";
/// How long audit events are kept.
pub const AUDIT_RETENTION: &str = "90d";
pub const PASSWORD_RESET_TTL: &str = "15m";
pub const EMAIL_VERIFICATION_TTL: &str = "24h";
/// argon2id at OWASP's recommendation: 19 MiB, 2 passes, 1 lane.
pub const PASSWORD_HASH: &str = "argon2id";
pub const ARGON2_MEMORY_KIB: &str = "19456";
pub const ARGON2_ITERATIONS: &str = "2";
pub const ARGON2_PARALLELISM: &str = "1";
pub const BCRYPT_COST: &str = "12";
pub const LOGIN_ATTEMPTS_PER_MINUTE: &str = "5";
pub const LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE: &str = "20";
pub const REGISTRATIONS_PER_ADDRESS_PER_MINUTE: &str = "10";
pub const LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE: &str = "50";
pub const LOG_FORMAT: &str = "text";
/// No traces unless a collector is named.
pub const OTLP_ENDPOINT: &str = "";
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
pub const MAX_CONNECTIONS: &str = "512";
pub const MAX_STREAMS_PER_CONNECTION: &str = "128";
pub const MAX_HEADER_BYTES: &str = "16384";
pub const HANDSHAKE_TIMEOUT: &str = "10s";
pub const IDLE_TIMEOUT: &str = "5m";
pub const KEEPALIVE_INTERVAL: &str = "1m";
/// How long `tessera keys rotate` stages a key before it signs: twice the
/// verifiers' default JWKS refresh interval (5 minutes).
pub const KEY_ACTIVATION_DELAY: &str = "10m";
/// The SQLite file inside the data folder.
pub const SQLITE_FILE: &str = "tessera.db";
