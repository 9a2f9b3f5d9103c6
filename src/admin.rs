//! The operator's subcommands: `tessera migrate` and `tessera keys`. Each opens the
//! same store `serve` would, from the same settings, does one thing and closes it.

use std::time::Duration;

use crate::auth::unix_now;
use crate::config::{StoreConfig, TokenConfig};
use crate::keystore::{KeyInfo, Keystore};
use crate::server::{self, ServeError};
use crate::store::Store;
use crate::with_store;

/// Applies pending migrations; returns how many were pending. Safe to run while
/// instances serve, and from several places at once.
pub async fn migrate(config: &StoreConfig) -> Result<usize, ServeError> {
    let store = server::open_store(config).await?;
    with_store!(store, store => {
        let pending = store.pending_migrations().await.map_err(crate::keystore::KeysError::Store)?;
        let result = server::migrate(&store, true).await;
        store.close().await;
        result?;
        Ok(pending.len())
    })
}

/// Stages a new signing key that signs from `delay` from now (at once for zero).
/// Returns its kid and activation time. Every instance picks it up without restart.
pub async fn rotate_key(
    config: &StoreConfig,
    tokens: TokenConfig,
    delay: Duration,
) -> Result<(String, i64), ServeError> {
    let master = server::master_key(config)?;
    let store = server::open_store(config).await?;
    with_store!(store, store => {
        server::migrate(&store, false).await?;
        let keystore = Keystore::new(store.clone(), master, tokens.horizon_secs());
        let result = keystore.rotate(unix_now(), delay).await;
        store.close().await;
        Ok(result?)
    })
}

/// Every stored key with its state now.
pub async fn list_keys(
    config: &StoreConfig,
    tokens: TokenConfig,
) -> Result<Vec<KeyInfo>, ServeError> {
    let master = server::master_key(config)?;
    let store = server::open_store(config).await?;
    with_store!(store, store => {
        server::migrate(&store, false).await?;
        let keystore = Keystore::new(store.clone(), master, tokens.horizon_secs());
        let result = keystore.list(unix_now()).await;
        store.close().await;
        Ok(result?)
    })
}
