//! Everything fallible, before serving: the data folder, the master key, the store
//! (picked by URL scheme), its migrations, the signing keys, the use cases, the
//! revocation set and the listener. Every failure names the setting at fault.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

use super::tls::Tls;
use super::{SIGNING_QUEUE, ServeError, data_dir};
use crate::auth::keys::{KeysError, Keystore};
use crate::auth::throttle::Limits;
use crate::auth::{Auth, AuthError, Loaded, Parts, Policy};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, DatabaseKind, MasterKeySource, StoreConfig, cores};
use crate::offload::Pool;
use crate::password::{HashError, Hasher};
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};
use crate::token::issue::TokenIssuer;
use crate::token::keys::{LEGACY_KEY_FILE, SigningKey};
use crate::token::seal::{GENERATED_MASTER_KEY_FILE, MasterKey};

/// A stored key that does not open was sealed with another master key: a setting,
/// named as such.
pub fn wrong_master_key(e: &KeysError) -> ConfigError {
    ConfigError::new(
        "TESSERA_MASTER_KEY",
        format!("{e} (is it the key the database was set up with?)"),
    )
}

impl From<KeysError> for ServeError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Sealed { .. } => ServeError::Config(wrong_master_key(&e)),
            KeysError::Store(e) => ServeError::Config(store_failed(e)),
            other => ServeError::Keys(other),
        }
    }
}

fn store_failed(e: StoreError) -> ConfigError {
    ConfigError::new("TESSERA_DATABASE_URL", format!("database failed: {e}"))
}

/// An opened store of the kind the database URL names.
pub enum OpenStore {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// One database for many instances.
    Postgres(PostgresStore),
}

/// Work to do on whichever store the URL names: [`OpenStore::run`] calls it with the
/// concrete store (static dispatch, picked once).
pub trait WithStore {
    /// What the work answers.
    type Output;
    /// Does the work on `store`.
    fn run<S: Store>(self, store: S) -> impl Future<Output = Self::Output>;
}

impl OpenStore {
    /// Runs `work` on the store.
    pub async fn run<W: WithStore>(self, work: W) -> W::Output {
        match self {
            OpenStore::Sqlite(store) => work.run(store).await,
            OpenStore::Postgres(store) => work.run(store).await,
        }
    }
}

/// Opens the database the URL names (creating the data folder a SQLite file needs).
/// Migrations are not applied here.
pub async fn open_store(config: &StoreConfig) -> Result<OpenStore, ConfigError> {
    let url = config.database_url.expose();
    let bad_url =
        |e: &dyn std::fmt::Display| ConfigError::new("TESSERA_DATABASE_URL", e.to_string());
    let cannot_open = |e: StoreError| {
        ConfigError::new(
            "TESSERA_DATABASE_URL",
            format!("cannot open the database: {e}"),
        )
    };
    match config.database_url.kind() {
        DatabaseKind::Sqlite => {
            data_dir::create(config)?;
            let file = data_dir::sqlite_file(config)?;
            data_dir::refuse_lost_database(config, file.as_deref())?;
            if let Some(file) = &file {
                data_dir::protect(file)?;
            }
            let options = SqliteStore::options(url).map_err(|e| bad_url(&e))?;
            let store = SqliteStore::open(options).await.map_err(cannot_open)?;
            Ok(OpenStore::Sqlite(store))
        }
        DatabaseKind::Postgres => {
            let options = PostgresStore::options(url).map_err(|e| bad_url(&e))?;
            let store = PostgresStore::open(options, config.db_max_connections, config.db_timeout)
                .await
                .map_err(cannot_open)?;
            Ok(OpenStore::Postgres(store))
        }
    }
}

/// The master key as configured: given, or (embedded default) read from the data
/// folder. Never made here; see [`master_key_for`].
fn master_key(config: &StoreConfig) -> Result<MasterKey, ConfigError> {
    match &config.master_key {
        MasterKeySource::Given(key) => Ok(key.clone()),
        MasterKeySource::DataDir => {
            let path = config.data_dir.join(GENERATED_MASTER_KEY_FILE);
            MasterKey::load(&path).map_err(|e| ConfigError::new("TESSERA_DATA_DIR", e.to_string()))
        }
    }
}

/// The master key for `store`: given, or (embedded default) read from the data
/// folder, or made there when the folder has none and the database holds no key
/// yet. A database holding keys without its master key is refused: the key was
/// lost, and a new one would open nothing.
pub async fn master_key_for<S: Store>(
    config: &StoreConfig,
    store: &S,
) -> Result<MasterKey, ConfigError> {
    if !matches!(config.master_key, MasterKeySource::DataDir)
        || config.data_dir.join(GENERATED_MASTER_KEY_FILE).exists()
    {
        return master_key(config);
    }
    if !store.signing_keys().await.map_err(store_failed)?.is_empty() {
        return Err(ConfigError::new(
            "TESSERA_DATA_DIR",
            format!(
                "the database holds signing keys but {GENERATED_MASTER_KEY_FILE} is missing:                  restore it (it is never replaced)"
            ),
        ));
    }
    let (key, generated) = MasterKey::load_or_generate(&config.data_dir)
        .map_err(|e| ConfigError::new("TESSERA_DATA_DIR", e.to_string()))?;
    if generated {
        info!("generated a master key in the data folder");
    }
    Ok(key)
}

/// Applies pending migrations (`apply`), or refuses a database that lacks some.
pub async fn migrate<S: Store>(store: &S, apply: bool) -> Result<(), ConfigError> {
    if apply {
        return store
            .migrate()
            .await
            .map_err(|e| ConfigError::new("TESSERA_DATABASE_URL", format!("cannot migrate: {e}")));
    }
    let pending = store.pending_migrations().await.map_err(store_failed)?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::new(
            "TESSERA_AUTO_MIGRATE",
            format!(
                "the database lacks {} migration(s): run `tessera migrate`, or set TESSERA_AUTO_MIGRATE=true",
                pending.len()
            ),
        ))
    }
}

/// The key to start from when the store holds none: TESSERA_SIGNING_KEY, or the key
/// file an earlier version generated into the data folder.
pub(super) fn first_key(config: &Config) -> Result<Option<SigningKey>, ConfigError> {
    if let Some(path) = &config.signing_key {
        return SigningKey::load(path)
            .map(Some)
            .map_err(|e| ConfigError::new("TESSERA_SIGNING_KEY", e.to_string()));
    }
    let legacy = config.store.data_dir.join(LEGACY_KEY_FILE);
    if config.store.database_url.kind() == DatabaseKind::Sqlite && legacy.exists() {
        return SigningKey::load(&legacy)
            .map(Some)
            .map_err(|e| ConfigError::new("TESSERA_DATA_DIR", e.to_string()));
    }
    Ok(None)
}

/// The use cases wired over an opened store, and the bound listener.
pub(super) struct Wired<S: Store> {
    pub auth: Arc<Auth<S>>,
    pub listener: TcpListener,
    /// The HTTP endpoints' listener, when `TESSERA_HTTP_LISTEN` is set.
    pub http_listener: Option<TcpListener>,
    /// TLS on the gRPC listener, when it is on.
    pub tls: Option<Arc<Tls>>,
    pub config: Config,
    /// The revocation number the sync task follows the store from.
    pub revocation_cursor: i64,
}

impl<S: Store> Wired<S> {
    /// Migrates (or checks) the opened store, makes sure a signing key exists,
    /// wires the use cases, reads the revocations and binds. `first` is the key to
    /// store when the database holds none (a new one is generated when it is `None`).
    pub async fn new(
        config: Config,
        store: S,
        first: Option<SigningKey>,
        clock: Clock,
    ) -> Result<Self, ServeError> {
        // The certificate files first: reading them touches nothing else.
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(Tls::load(files.clone())?)),
            None => None,
        };
        let damaged = |e: StoreError| {
            ConfigError::new(
                "TESSERA_DATABASE_URL",
                format!("the database failed its integrity check ({e}): restore it from a backup"),
            )
        };
        let unreadable = |e: AuthError| {
            ConfigError::new(
                "TESSERA_DATABASE_URL",
                format!("cannot read revoked sessions: {e}"),
            )
        };
        // The integrity check and the read of the revoked sessions are a start's two
        // long reads (each about 0.3 s with a million revoked sessions). On a restart,
        // with nothing to migrate, they run side by side; nothing is written or
        // served before the check has passed. A database with migrations to apply is
        // checked alone, first.
        let pending = store.pending_migrations().await.map_err(store_failed)?;
        let preloaded = if pending.is_empty() {
            let since = clock.now().saturating_sub(config.tokens().horizon_secs());
            let (checked, read) =
                tokio::join!(store.check_integrity(), Loaded::read(&store, since));
            checked.map_err(damaged)?;
            Some(read.map_err(unreadable)?)
        } else {
            store.check_integrity().await.map_err(damaged)?;
            None
        };
        migrate(&store, config.auto_migrate).await?;
        let master = master_key_for(&config.store, &store).await?;
        let successor_key = master.successor_key().clone();
        let keystore = Keystore::new(store.clone(), master, config.tokens().horizon_secs());
        bootstrap_key(&config, &keystore, first, clock.now()).await?;
        let issuer = TokenIssuer::new(
            config.issuer.clone(),
            config.audience.clone(),
            config.access_ttl,
        );
        let hasher = Hasher::new(config.hashing).map_err(|e| match e {
            HashError::Lost => ServeError::Threads,
            e => ConfigError::new("TESSERA_BCRYPT_COST", e.to_string()).into(),
        })?;
        // One signing thread per core: RS256 signing is pure CPU work.
        let signer =
            Pool::new("tessera-sign", cores(), SIGNING_QUEUE).map_err(|_| ServeError::Threads)?;
        let policy = Policy {
            refresh_ttl: config.refresh_ttl,
            refresh_reuse_grace: config.refresh_reuse_grace,
            verify_leeway: config.verify_leeway,
            verify_cache: config.verify_cache,
            login_attempts: Limits {
                per_email_and_address: config.login_attempts_per_minute,
                per_email: config.login_attempts_per_email_per_minute,
                per_address: config.login_attempts_per_address_per_minute,
                registrations_per_address: config.registrations_per_address_per_minute,
            },
            email_reuse_delay: config.email_reuse_delay,
            audit_retention: config.audit_retention,
            password_reset_ttl: config.password_reset_ttl,
            email_verification_ttl: config.email_verification_ttl,
        };
        let parts = Parts {
            store,
            clock,
            hasher,
            signer,
            issuer,
            keystore,
            successor_key,
        };
        let auth = Arc::new(Auth::new(parts, &policy).await?);
        report_emails(&auth).await?;
        let (revoked, revocation_cursor) = match preloaded {
            Some(loaded) => auth.remember_loaded(loaded),
            None => auth.load_revocations().await.map_err(unreadable)?,
        };
        if revoked > 0 {
            info!(sessions = revoked, "loaded revoked sessions");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ConfigError::new("TESSERA_LISTEN", format!("cannot listen: {e}")))?;
        let http_listener = match config.http_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                ConfigError::new("TESSERA_HTTP_LISTEN", format!("cannot listen: {e}"))
            })?),
            None => None,
        };
        Ok(Self {
            auth,
            listener,
            http_listener,
            tls,
            config,
            revocation_cursor,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The HTTP listener's address, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }
}

/// Stores the first signing key when the store holds none, and says where it came from.
async fn bootstrap_key<S: Store>(
    config: &Config,
    keystore: &Keystore<S>,
    first: Option<SigningKey>,
    now: i64,
) -> Result<(), ServeError> {
    match keystore.bootstrap(first, now).await? {
        Some(kid) if config.signing_key.is_some() => {
            info!(kid = %kid, "stored the configured signing key");
        }
        Some(kid) if config.store.data_dir.join(LEGACY_KEY_FILE).exists() => {
            warn!(kid = %kid, file = LEGACY_KEY_FILE, "imported the signing key file into the database; delete the file");
        }
        Some(kid) => info!(kid = %kid, "generated a new signing key"),
        None if config.signing_key.is_some() => {
            info!("the database holds signing keys already: TESSERA_SIGNING_KEY is not used");
        }
        None => {}
    }
    Ok(())
}

/// Brings stored emails to the current normalization, and says what it found.
async fn report_emails<S: Store>(auth: &Auth<S>) -> Result<(), ConfigError> {
    let report = auth.renormalize_emails().await.map_err(|e| {
        ConfigError::new(
            "TESSERA_DATABASE_URL",
            format!("cannot normalize the stored emails: {e}"),
        )
    })?;
    if report.rewritten > 0 {
        info!(
            rows = report.rewritten,
            "rewrote stored emails to their normalized form"
        );
    }
    for (user, holder) in &report.collisions {
        warn!(
            user_id = %user,
            holder_id = holder.map(|h| h.to_string()),
            "two accounts now normalize to one email; neither was changed: resolve by hand"
        );
    }
    for user in &report.invalid {
        warn!(user_id = %user, "an account's stored email is no longer valid; it cannot log in until changed");
    }
    Ok(())
}
