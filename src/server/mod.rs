//! Start-up and serving.
//!
//! [`prepare`] does everything fallible first (`startup.rs`): the data folder, the
//! master key, the database and its migrations, the signing keys, the revocation set,
//! the listener. Any failure there names the setting at fault. [`Server::run`]
//! (`serve.rs`) then serves until the shutdown future resolves: health turns
//! NOT_SERVING, the listener closes, in-flight RPCs get `TESSERA_SHUTDOWN_GRACE` to
//! finish, the background tasks stop and the pool closes.
//!
//! Three background tasks run beside the RPCs, one file each:
//! - `sync.rs`: applies what other instances announce (revocations, key changes)
//!   as it arrives, and every `TESSERA_SYNC_INTERVAL` reads recent revocations and
//!   the keys again, so a missed announcement heals within one interval;
//! - `health.rs`: pings the database every [`HEALTH_PROBE_INTERVAL`] and reports
//!   NOT_SERVING while it cannot be reached, SERVING again once it can;
//! - `purge.rs`: deletes expired refresh tokens, sessions, login windows and keys.
//!
//! This is the one place that picks the backend from the URL scheme
//! ([`OpenStore`]); everything below is generic over [`crate::store::Store`].

mod conn;
mod data_dir;
mod handshake;
mod health;
mod http;
mod observe;
mod one_message;
mod purge;
mod serve;
mod startup;
mod sync;
mod tls;
mod trace;
mod trim;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use http::MAX_HTTP_CONNECTIONS;
pub use serve::MAX_REQUEST_BYTES;
pub use startup::{OpenStore, WithStore, master_key_for, migrate, open_store, wrong_master_key};

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::store::{PostgresStore, SqliteStore};
use startup::Wired;

/// How often the health task pings the database.
pub const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How many token signatures may wait for a signing thread before Login and Refresh
/// answer OVERLOADED: about half a second of signing per core.
pub const SIGNING_QUEUE: usize = 1024;

/// A failure while starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("signing keys: {0}")]
    Keys(crate::auth::keys::KeysError),
    #[error("cannot start the hashing and signing threads")]
    Threads,
}

/// A server that has opened everything and bound its listener, on the backend its
/// database URL names.
pub struct Server {
    backend: Backend,
    /// The SQLite file's lock, held while the server lives.
    _lock: Option<std::fs::File>,
}

enum Backend {
    Sqlite(Wired<SqliteStore>),
    Postgres(Wired<PostgresStore>),
}

/// Opens the data folder, master key, database (by URL scheme) and keys, and binds
/// `config.listen`. Every failure names the setting at fault. Every use case reads
/// the time from `clock`.
pub async fn prepare(config: Config, clock: Clock) -> Result<Server, ServeError> {
    // Reading the configured key first: a bad path fails before anything is created.
    let first = startup::first_key(&config)?;
    // One server per SQLite file: the lock is held until the server is dropped.
    let lock = match data_dir::sqlite_file(&config.store)? {
        Some(file) => {
            data_dir::create(&config.store)?;
            Some(data_dir::lock(&file)?)
        }
        None => None,
    };
    let backend = match open_store(&config.store).await? {
        OpenStore::Sqlite(store) => Backend::Sqlite(Wired::new(config, store, first, clock).await?),
        OpenStore::Postgres(store) => {
            Backend::Postgres(Wired::new(config, store, first, clock).await?)
        }
    };
    Ok(Server {
        backend,
        _lock: lock,
    })
}

impl Server {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.backend {
            Backend::Sqlite(wired) => wired.local_addr(),
            Backend::Postgres(wired) => wired.local_addr(),
        }
    }

    /// The HTTP endpoints' address actually bound, when `TESSERA_HTTP_LISTEN` is set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        match &self.backend {
            Backend::Sqlite(wired) => wired.http_addr(),
            Backend::Postgres(wired) => wired.http_addr(),
        }
    }

    /// Serves until `shutdown` resolves, then drains and closes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let Server { backend, _lock } = self;
        match backend {
            Backend::Sqlite(wired) => serve::run(wired, shutdown).await,
            Backend::Postgres(wired) => serve::run(wired, shutdown).await,
        }
    }
}
