//! Start-up and serving.
//!
//! [`prepare`] does everything fallible first: the data folder, the signing
//! key, the database and its migrations, the revocation set, the listener. Any failure
//! there is a [`ConfigError`] naming the setting at fault. [`Server::run`] then serves
//! until the shutdown future resolves: health turns NOT_SERVING, the listener closes,
//! in-flight RPCs get `TESSERA_SHUTDOWN_GRACE` to finish, the purge task stops and the
//! pool closes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tracing::{info, warn};

use crate::auth::{Auth, Policy, unix_now};
use crate::config::{Config, ConfigError, DatabaseKind};
use crate::grpc::AuthGrpc;
use crate::password::Hasher;
use crate::proto::{self, auth_service_server::AuthServiceServer};
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};
use crate::token::TokenVerifier;
use crate::token::issue::TokenIssuer;
use crate::token::keys::SigningKey;

/// The largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A failure while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("serving failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A server that has opened everything and bound its listener.
pub struct Server<S: Store> {
    auth: Arc<Auth<S>>,
    listener: TcpListener,
    config: Config,
}

fn signing_key(config: &Config) -> Result<SigningKey, ConfigError> {
    match &config.signing_key {
        Some(path) => SigningKey::load(path)
            .map_err(|e| ConfigError::new("TESSERA_SIGNING_KEY", e.to_string())),
        None => {
            let (key, generated) = SigningKey::load_or_generate(&config.data_dir)
                .map_err(|e| ConfigError::new("TESSERA_DATA_DIR", e.to_string()))?;
            if generated {
                info!(kid = key.kid(), "generated a new signing key");
            }
            Ok(key)
        }
    }
}

/// A prepared server on the backend its database URL names. The one place that picks
/// the backend; everything below is generic over [`Store`].
pub enum Prepared {
    /// The embedded default.
    Sqlite(Server<SqliteStore>),
    /// One database for many instances.
    Postgres(Server<PostgresStore>),
}

/// Opens the data folder, key and database (by URL scheme), and binds `config.listen`.
/// Every failure names the setting at fault.
pub async fn prepare(config: Config) -> Result<Prepared, ConfigError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        ConfigError::new(
            "TESSERA_DATA_DIR",
            format!("cannot create the data folder: {e}"),
        )
    })?;
    let key = signing_key(&config)?;
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
            let options = SqliteStore::options(url).map_err(|e| bad_url(&e))?;
            let store = SqliteStore::open(options).await.map_err(cannot_open)?;
            Server::with_store(config, key, store)
                .await
                .map(Prepared::Sqlite)
        }
        DatabaseKind::Postgres => {
            let options = PostgresStore::options(url).map_err(|e| bad_url(&e))?;
            let store = PostgresStore::open(options, config.db_max_connections, config.db_timeout)
                .await
                .map_err(cannot_open)?;
            Server::with_store(config, key, store)
                .await
                .map(Prepared::Postgres)
        }
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

    /// Serves until `shutdown` resolves, then drains and closes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        match self {
            Prepared::Sqlite(server) => server.run(shutdown).await,
            Prepared::Postgres(server) => server.run(shutdown).await,
        }
    }
}

impl<S: Store> Server<S> {
    /// Wires the use cases over an opened store, and binds.
    pub async fn with_store(
        config: Config,
        key: SigningKey,
        store: S,
    ) -> Result<Self, ConfigError> {
        let key_set = key
            .key_set()
            .map_err(|_| ConfigError::new("TESSERA_SIGNING_KEY", "not a usable RSA key"))?;
        let verifier = TokenVerifier::new(
            key_set,
            &config.issuer,
            &config.audience,
            config.verify_leeway.as_secs(),
        );
        let issuer = TokenIssuer::new(
            key,
            config.issuer.clone(),
            config.audience.clone(),
            config.access_ttl,
        );
        let hasher = Hasher::new(
            config.bcrypt_cost,
            config.hash_concurrency,
            config.hash_queue,
        )
        .map_err(|e| ConfigError::new("TESSERA_BCRYPT_COST", e.to_string()))?;
        let policy = Policy {
            refresh_ttl: config.refresh_ttl,
            verify_leeway: config.verify_leeway,
            login_attempts_per_minute: config.login_attempts_per_minute,
            login_attempts_per_address_per_minute: config.login_attempts_per_address_per_minute,
        };
        let auth = Arc::new(Auth::new(store, hasher, issuer, verifier, &policy));
        let revoked = auth.load_revocations(unix_now()).await.map_err(|e| {
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
        })
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
        } = self;
        let addr = listener
            .local_addr()
            .map_err(|e| ConfigError::new("TESSERA_LISTEN", format!("cannot listen: {e}")))?;
        let (reporter, health) = tonic_health::server::health_reporter();
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let service = AuthServiceServer::new(AuthGrpc::new(auth.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES);

        let (stop_tasks, tasks_stopped) = watch::channel(false);
        let purge = tokio::spawn(purge_loop(
            auth.clone(),
            config.purge_interval,
            tasks_stopped,
        ));

        reporter
            .set_service_status(proto::SERVICE_NAME, ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        info!(
            address = %addr,
            backend = config.database_url.kind().as_str(),
            kid = auth.issuer().key().kid(),
            "ready"
        );

        let (draining, drain_started) = oneshot::channel::<()>();
        let signal = {
            let reporter = reporter.clone();
            async move {
                shutdown.await;
                info!("shutting down");
                reporter
                    .set_service_status(proto::SERVICE_NAME, ServingStatus::NotServing)
                    .await;
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
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
