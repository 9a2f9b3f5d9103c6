//! Start-up and serving.
//!
//! [`prepare`] does everything fallible first: the data folder, the master key, the
//! database and its migrations, the signing keys, the revocation set, the listener.
//! Any failure there names the setting at fault. [`Server::run`] then serves until
//! the shutdown future resolves: health turns NOT_SERVING, the listener closes,
//! in-flight RPCs get `TESSERA_SHUTDOWN_GRACE` to finish, the background tasks stop
//! and the pool closes.
//!
//! Three background tasks run beside the RPCs:
//! - **sync**: applies what other instances announce (revocations, key changes) as
//!   it arrives, and every `TESSERA_SYNC_INTERVAL` reads recent revocations and the
//!   keys again, so a missed announcement heals within one interval;
//! - **health**: pings the database every [`HEALTH_PROBE_INTERVAL`] and reports
//!   NOT_SERVING while it cannot be reached, SERVING again once it can;
//! - **purge**: deletes expired refresh tokens, sessions, login windows and keys.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{debug, info, warn};

use crate::auth::{Auth, Policy, unix_now};
use crate::config::{Config, ConfigError, DatabaseKind, MasterKeySource, StoreConfig, cores};
use crate::grpc::{AuthGrpc, Counters};
use crate::keystore::{KeysError, Keystore};
use crate::offload::Pool;
use crate::password::{HashError, Hasher};
use crate::proto::{self, auth_service_server::AuthServiceServer};
use crate::store::{Change, PostgresStore, SqliteStore, Store, StoreError};
use crate::token::issue::TokenIssuer;
use crate::token::keys::{LEGACY_KEY_FILE, SigningKey};
use crate::token::seal::MasterKey;

/// The largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// How often the health task pings the database.
pub const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How far back a periodic revocation read looks beyond the previous one: covers
/// transactions that committed late and clocks that disagree by up to a minute.
const SYNC_OVERLAP_SECS: i64 = 60;

/// How many token signatures may wait for a signing thread before Login and Refresh
/// answer OVERLOADED: about half a second of signing per core.
pub const SIGNING_QUEUE: usize = 1024;

/// A failure while starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("serving failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("signing keys: {0}")]
    Keys(KeysError),
    #[error("cannot start the hashing and signing threads")]
    Threads,
}

impl From<KeysError> for ServeError {
    /// A key that does not open is a wrong master key: a setting, named as such.
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Sealed { .. } => ServeError::Config(ConfigError::new(
                "TESSERA_MASTER_KEY",
                format!("{e} (is it the key the database was set up with?)"),
            )),
            KeysError::Store(e) => ServeError::Config(store_failed(e)),
            other => ServeError::Keys(other),
        }
    }
}

fn store_failed(e: StoreError) -> ConfigError {
    ConfigError::new("TESSERA_DATABASE_URL", format!("database failed: {e}"))
}

/// A server that has opened everything and bound its listener.
pub struct Server<S: Store> {
    auth: Arc<Auth<S>>,
    listener: TcpListener,
    config: Config,
    counters: Arc<Counters>,
}

/// An opened store of the kind the database URL names: the one place that picks
/// the backend; everything below is generic over [`Store`].
pub enum OpenStore {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// One database for many instances.
    Postgres(PostgresStore),
}

/// Runs `$body` with `$store` bound to the concrete store inside `$open`.
#[macro_export]
macro_rules! with_store {
    ($open:expr, $store:ident => $body:expr) => {
        match $open {
            $crate::server::OpenStore::Sqlite($store) => $body,
            $crate::server::OpenStore::Postgres($store) => $body,
        }
    };
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
            create_data_dir(config)?;
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

fn create_data_dir(config: &StoreConfig) -> Result<(), ConfigError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        ConfigError::new(
            "TESSERA_DATA_DIR",
            format!("cannot create the data folder: {e}"),
        )
    })
}

/// The master key: given, or (embedded default) generated into the data folder.
pub fn master_key(config: &StoreConfig) -> Result<MasterKey, ConfigError> {
    match &config.master_key {
        MasterKeySource::Given(key) => Ok(key.clone()),
        MasterKeySource::DataDir => {
            create_data_dir(config)?;
            let (key, generated) = MasterKey::load_or_generate(&config.data_dir)
                .map_err(|e| ConfigError::new("TESSERA_DATA_DIR", e.to_string()))?;
            if generated {
                info!("generated a master key in the data folder");
            }
            Ok(key)
        }
    }
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
pub fn first_key(config: &Config) -> Result<Option<SigningKey>, ConfigError> {
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

/// A prepared server on the backend its database URL names.
pub enum Prepared {
    /// The embedded default.
    Sqlite(Server<SqliteStore>),
    /// One database for many instances.
    Postgres(Server<PostgresStore>),
}

/// Opens the data folder, master key, database (by URL scheme) and keys, and binds
/// `config.listen`. Every failure names the setting at fault.
pub async fn prepare(config: Config) -> Result<Prepared, ServeError> {
    // Reading the configured key first: a bad path fails before anything is created.
    let first = first_key(&config)?;
    let master = master_key(&config.store)?;
    let store = open_store(&config.store).await?;
    Ok(with_store!(store, store => {
        Server::with_store(config, master, store, first).await?.into()
    }))
}

impl From<Server<SqliteStore>> for Prepared {
    fn from(server: Server<SqliteStore>) -> Self {
        Prepared::Sqlite(server)
    }
}

impl From<Server<PostgresStore>> for Prepared {
    fn from(server: Server<PostgresStore>) -> Self {
        Prepared::Postgres(server)
    }
}

impl Prepared {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Prepared::Sqlite(server) => server.local_addr(),
            Prepared::Postgres(server) => server.local_addr(),
        }
    }

    /// What the server has served so far; live while it runs.
    pub fn counters(&self) -> Arc<Counters> {
        match self {
            Prepared::Sqlite(server) => server.counters(),
            Prepared::Postgres(server) => server.counters(),
        }
    }

    /// Serves until `shutdown` resolves, then drains and closes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        match self {
            Prepared::Sqlite(server) => server.run(shutdown).await,
            Prepared::Postgres(server) => server.run(shutdown).await,
        }
    }
}

impl<S: Store> Server<S> {
    /// Migrates (or checks) the opened store, makes sure a signing key exists,
    /// wires the use cases, and binds.
    /// `first` is the key to store when the database holds none (a new one is
    /// generated when it is `None`).
    pub async fn with_store(
        config: Config,
        master: MasterKey,
        store: S,
        first: Option<SigningKey>,
    ) -> Result<Self, ServeError> {
        migrate(&store, config.auto_migrate).await?;
        let now = unix_now();
        let keystore = Keystore::new(store.clone(), master, config.tokens().horizon_secs());
        if let Some(kid) = keystore.bootstrap(first, now).await? {
            if config.signing_key.is_some() {
                info!(kid = %kid, "stored the configured signing key");
            } else if config.store.data_dir.join(LEGACY_KEY_FILE).exists() {
                warn!(kid = %kid, file = LEGACY_KEY_FILE, "imported the signing key file into the database; delete the file");
            } else {
                info!(kid = %kid, "generated a new signing key");
            }
        } else if config.signing_key.is_some() {
            info!("the database holds signing keys already: TESSERA_SIGNING_KEY is not used");
        }
        let issuer = TokenIssuer::new(
            config.issuer.clone(),
            config.audience.clone(),
            config.access_ttl,
        );
        let hasher = Hasher::new(
            config.bcrypt_cost,
            config.hash_concurrency,
            config.hash_queue,
        )
        .map_err(|e| match e {
            HashError::Lost => ServeError::Threads,
            e => ConfigError::new("TESSERA_BCRYPT_COST", e.to_string()).into(),
        })?;
        // One signing thread per core: RS256 signing is pure CPU work.
        let signer =
            Pool::new("tessera-sign", cores(), SIGNING_QUEUE).map_err(|_| ServeError::Threads)?;
        let policy = Policy {
            refresh_ttl: config.refresh_ttl,
            verify_leeway: config.verify_leeway,
            verify_cache: config.verify_cache,
            login_attempts_per_minute: config.login_attempts_per_minute,
            login_attempts_per_address_per_minute: config.login_attempts_per_address_per_minute,
        };
        let auth =
            Arc::new(Auth::new(store, hasher, signer, issuer, keystore, &policy, now).await?);
        let revoked = auth.load_revocations(now).await.map_err(|e| {
            ConfigError::new(
                "TESSERA_DATABASE_URL",
                format!("cannot read revoked sessions: {e}"),
            )
        })?;
        if revoked > 0 {
            info!(sessions = revoked, "loaded revoked sessions");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ConfigError::new("TESSERA_LISTEN", format!("cannot listen: {e}")))?;
        Ok(Self {
            auth,
            listener,
            config,
            counters: Arc::default(),
        })
    }

    /// What the server has served so far; live while it runs.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains and closes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let Server {
            auth,
            listener,
            config,
            counters,
        } = self;
        let addr = listener
            .local_addr()
            .map_err(|e| ConfigError::new("TESSERA_LISTEN", format!("cannot listen: {e}")))?;
        let (reporter, health) = tonic_health::server::health_reporter();
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let (stop_streams, streams_stopping) = watch::channel(false);
        let service = AuthServiceServer::new(AuthGrpc::new(
            auth.clone(),
            config.watch_heartbeat,
            streams_stopping,
            counters,
        ))
        .max_decoding_message_size(MAX_REQUEST_BYTES);

        let (stop_tasks, tasks_stopped) = watch::channel(false);
        let purge = tokio::spawn(purge_loop(
            auth.clone(),
            config.purge_interval,
            tasks_stopped.clone(),
        ));
        let sync = tokio::spawn(sync_loop(auth.clone(), config.sync_interval, tasks_stopped));

        set_serving(&reporter, ServingStatus::Serving).await;
        let (stop_health, health_stopped) = watch::channel(false);
        let health_probe = tokio::spawn(health_loop(
            auth.store().clone(),
            reporter.clone(),
            health_stopped,
        ));
        info!(
            address = %addr,
            backend = config.store.database_url.kind().as_str(),
            kid = auth.signing_kid(unix_now()),
            "ready"
        );

        let (draining, drain_started) = oneshot::channel::<()>();
        let signal = {
            let reporter = reporter.clone();
            async move {
                shutdown.await;
                info!("shutting down");
                // Revocation streams never end by themselves: end them so the drain can.
                stop_streams.send_replace(true);
                // The probe stops first, so it cannot report SERVING again.
                let _ = stop_health.send(true);
                let _ = health_probe.await;
                set_serving(&reporter, ServingStatus::NotServing).await;
                let _ = draining.send(());
            }
        };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serve = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, signal);
        let grace = config.shutdown_grace;
        let result = tokio::select! {
            result = serve => result.map_err(ServeError::from),
            () = async {
                if drain_started.await.is_err() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(grace).await;
            } => {
                warn!(grace_secs = grace.as_secs(), "in-flight RPCs did not finish in time; closing");
                Ok(())
            }
        };

        let _ = stop_tasks.send(true);
        let _ = purge.await;
        let _ = sync.await;
        auth.store().close().await;
        info!("stopped");
        result
    }
}

/// Reflection over tessera's API, health, reflection itself, and the `google.rpc` error
/// details, so grpcurl can list services and decode ErrorInfo with no proto files.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

async fn set_serving(reporter: &HealthReporter, status: ServingStatus) {
    reporter
        .set_service_status(proto::SERVICE_NAME, status)
        .await;
    reporter.set_service_status("", status).await;
}

/// Reports NOT_SERVING while the database cannot be reached, SERVING once it can.
async fn health_loop<S: Store>(
    store: S,
    reporter: HealthReporter,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(HEALTH_PROBE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut up = true;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let reachable = tokio::select! {
            result = store.ping() => result.is_ok(),
            _ = stop.changed() => return,
        };
        if reachable != up {
            up = reachable;
            if up {
                info!("database reachable again; serving");
                set_serving(&reporter, ServingStatus::Serving).await;
            } else {
                warn!("database unreachable; health is NOT_SERVING");
                set_serving(&reporter, ServingStatus::NotServing).await;
            }
        }
    }
}

/// Applies other instances' announcements as they arrive, and reads revocations and
/// keys again every `every`, so a missed announcement heals within one interval.
async fn sync_loop<S: Store>(auth: Arc<Auth<S>>, every: Duration, mut stop: watch::Receiver<bool>) {
    let (tx, mut changes) = mpsc::channel(1024);
    let feed = tokio::spawn({
        let store = auth.store().clone();
        async move { store.listen(tx).await }
    });
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut since = unix_now() - SYNC_OVERLAP_SECS;
    let mut feed_open = true;
    loop {
        let full = tokio::select! {
            _ = ticker.tick() => true,
            change = changes.recv(), if feed_open => match change {
                Some(Change::Revoked(row)) => {
                    debug!(session_id = %row.session_id, "revocation announced");
                    auth.note_revoked(row);
                    false
                }
                Some(Change::KeysChanged) => {
                    reload_keys(&auth).await;
                    false
                }
                Some(Change::Resync) => true,
                None => {
                    // The feed ended: the periodic sync carries on alone.
                    feed_open = false;
                    false
                }
            },
            _ = stop.changed() => break,
        };
        if full {
            let started = unix_now();
            match auth.catch_up_revocations(since).await {
                Ok(_) => since = started - SYNC_OVERLAP_SECS,
                Err(e) => debug!(error = %e, "revocation sync failed; retrying next interval"),
            }
            reload_keys(&auth).await;
        }
    }
    feed.abort();
}

async fn reload_keys<S: Store>(auth: &Auth<S>) {
    if let Err(e) = auth.reload_keys(unix_now()).await {
        warn!(error = %e, "could not reload signing keys; keeping the ones loaded");
    }
}

async fn purge_loop<S: Store>(
    auth: Arc<Auth<S>>,
    every: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match auth.purge(unix_now()).await {
                    Ok(0) => {}
                    Ok(rows) => info!(rows, "purged expired tokens and sessions"),
                    Err(e) => warn!(error = %e, "purge failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}
