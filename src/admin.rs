//! The operator's subcommands: `tessera migrate`, `tessera keys` and `tessera users`. Each opens the
//! same store `serve` would, from the same settings, does one thing and closes it.

use std::time::Duration;

use crate::auth::unix_now;
use crate::config::{ConfigError, StoreConfig, TokenConfig};
use crate::domain::{Email, Role};
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

/// What a role change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// The user's roles changed.
    Changed,
    /// The user had (or lacked) the role already.
    Unchanged,
    /// No user has this email.
    NoSuchUser,
}

/// Grants (`grant = true`) or revokes `role` for the user with `email`. Tokens
/// carry the change from the user's next login or refresh.
pub async fn change_role(
    config: &StoreConfig,
    email: &str,
    role: &str,
    grant: bool,
) -> Result<RoleChange, ServeError> {
    let email = Email::parse(email).map_err(|e| ConfigError::new("EMAIL", e.to_string()))?;
    let role = Role::parse(role).ok_or_else(|| {
        ConfigError::new(
            "ROLE",
            "expected 1 to 64 of a-z, 0-9, '-', '_', '.' and ':'",
        )
    })?;
    let store = server::open_store(config).await?;
    with_store!(store, store => {
        let result = async {
            server::migrate(&store, false).await?;
            change_role_in(&store, &email, &role, grant)
                .await
                .map_err(|e| ServeError::from(crate::keystore::KeysError::Store(e)))
        }
        .await;
        store.close().await;
        result
    })
}

async fn change_role_in<S: Store>(
    store: &S,
    email: &Email,
    role: &Role,
    grant: bool,
) -> Result<RoleChange, crate::store::StoreError> {
    // A conditional update per attempt: a concurrent change makes it miss, and the
    // roles are read again.
    loop {
        let Some(user) = store.user_by_email(email).await? else {
            return Ok(RoleChange::NoSuchUser);
        };
        let has = user.roles.iter().any(|r| r == role.as_str());
        if has == grant {
            return Ok(RoleChange::Unchanged);
        }
        let mut roles = user.roles.clone();
        if grant {
            roles.push(role.as_str().to_owned());
        } else {
            roles.retain(|r| r != role.as_str());
        }
        if store
            .replace_roles(user.id, &user.roles, &roles, unix_now())
            .await?
        {
            return Ok(RoleChange::Changed);
        }
    }
}
