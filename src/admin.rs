//! The operator's subcommands: `tessera migrate`, `tessera keys` and `tessera users`.
//! Each opens the same store `serve` would, from the same settings, does one thing
//! and closes it. [`AdminError`] says whether a failure was the operator's setting
//! (exit 2) or the system's (exit 1).

use std::time::Duration;

use crate::auth::keys::{KeyInfo, KeysError, Keystore};
pub use crate::auth::{RoleChange, RoleEdit};

use crate::auth::change_role as change_role_in;
use crate::clock::unix_now;
use crate::config::{ConfigError, StoreConfig, TokenConfig};
use crate::domain::{Email, Role, UserId};
use crate::server::{
    WithStore, master_key_for, migrate as migrate_store, open_store, wrong_master_key,
};
use crate::store::{AuditEvent, AuditKind, Store, StoreError};

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A setting or argument cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database failed while the command ran.
    #[error("database failed: {0}")]
    Store(#[from] StoreError),
    /// The signing keys could not be read or changed.
    #[error("signing keys: {0}")]
    Keys(KeysError),
}

impl From<KeysError> for AdminError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Sealed { .. } => AdminError::Config(wrong_master_key(&e)),
            KeysError::Store(e) => AdminError::Store(e),
            KeysError::NoSuchKey { .. } | KeysError::StillSigning { .. } => {
                AdminError::Config(ConfigError::new("KID", e.to_string()))
            }
            other => AdminError::Keys(other),
        }
    }
}

impl AdminError {
    /// The process exit code: 2 for a setting (as for clap's usage errors), 1 else.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Config(_) => 2,
            AdminError::Store(_) | AdminError::Keys(_) => 1,
        }
    }
}

/// Opens the store `config` names, runs `work` on it, and closes it.
async fn on_store<W>(config: &StoreConfig, work: W) -> Result<W::Output, AdminError>
where
    W: WithStore,
{
    Ok(open_store(config).await?.run(work).await)
}

struct Migrate;

impl WithStore for Migrate {
    type Output = Result<usize, AdminError>;

    async fn run<S: Store>(self, store: S) -> Self::Output {
        let result = async {
            let pending = store.pending_migrations().await?;
            migrate_store(&store, true).await?;
            Ok(pending.len())
        }
        .await;
        store.close().await;
        result
    }
}

/// Applies pending migrations; returns how many were pending. Safe to run while
/// instances serve, and from several places at once.
pub async fn migrate(config: &StoreConfig) -> Result<usize, AdminError> {
    on_store(config, Migrate).await?
}

/// A command on the signing keys.
trait KeysCommand {
    type Output;
    fn run<S: Store>(
        &self,
        keystore: &Keystore<S>,
        now: i64,
    ) -> impl std::future::Future<Output = Result<Self::Output, KeysError>>;

    /// What the audit trail says of a change the command made; `None` for a read.
    fn audit(&self, _output: &Self::Output) -> Option<String> {
        None
    }
}

/// Runs a [`KeysCommand`] on a store that is migrated already.
struct OnKeys<C> {
    config: StoreConfig,
    tokens: TokenConfig,
    command: C,
}

impl<C: KeysCommand> WithStore for OnKeys<C> {
    type Output = Result<C::Output, AdminError>;

    async fn run<S: Store>(self, store: S) -> Self::Output {
        let result = async {
            migrate_store(&store, false).await?;
            let master = master_key_for(&self.config, &store).await?;
            let keystore = Keystore::new(store.clone(), master, self.tokens.horizon_secs());
            // Prove the master key opens every stored key before touching anything: a
            // key sealed with a mistyped master key would lock every instance out.
            keystore.load(None).await?;
            let now = unix_now();
            let output = self.command.run(&keystore, now).await?;
            if let Some(detail) = self.command.audit(&output) {
                record(&store, AuditKind::KeyRotated, None, detail, now).await;
            }
            Ok(output)
        }
        .await;
        store.close().await;
        result
    }
}

async fn on_keys<C: KeysCommand>(
    config: &StoreConfig,
    tokens: TokenConfig,
    command: C,
) -> Result<C::Output, AdminError> {
    let work = OnKeys {
        config: config.clone(),
        tokens,
        command,
    };
    on_store(config, work).await?
}

struct Rotate(Duration);

impl KeysCommand for Rotate {
    type Output = (String, i64);

    async fn run<S: Store>(
        &self,
        keystore: &Keystore<S>,
        now: i64,
    ) -> Result<Self::Output, KeysError> {
        keystore.rotate(now, self.0).await
    }

    fn audit(&self, (kid, signs_from): &Self::Output) -> Option<String> {
        Some(format!("staged {kid}, signing from {signs_from}"))
    }
}

struct List;

struct Withdraw(String);

impl KeysCommand for Withdraw {
    type Output = ();

    async fn run<S: Store>(&self, keystore: &Keystore<S>, now: i64) -> Result<(), KeysError> {
        keystore.withdraw(&self.0, now).await
    }

    fn audit(&self, _: &()) -> Option<String> {
        Some(format!("withdrew {}", self.0))
    }
}

impl KeysCommand for List {
    type Output = Vec<KeyInfo>;

    async fn run<S: Store>(
        &self,
        keystore: &Keystore<S>,
        now: i64,
    ) -> Result<Self::Output, KeysError> {
        keystore.list(now).await
    }
}

/// Stages a new signing key that signs from `delay` from now (at once for zero).
/// Returns its kid and activation time. Every instance picks it up without restart.
pub async fn rotate_key(
    config: &StoreConfig,
    tokens: TokenConfig,
    delay: Duration,
) -> Result<(String, i64), AdminError> {
    on_keys(config, tokens, Rotate(delay)).await
}

/// Withdraws the key `kid` (after a leak): no instance publishes or trusts it from
/// its next read of the keys, within a second; live verifiers are told at once.
pub async fn withdraw_key(
    config: &StoreConfig,
    tokens: TokenConfig,
    kid: &str,
) -> Result<(), AdminError> {
    on_keys(config, tokens, Withdraw(kid.trim().to_owned())).await
}

/// Every stored key with its state now.
pub async fn list_keys(
    config: &StoreConfig,
    tokens: TokenConfig,
) -> Result<Vec<KeyInfo>, AdminError> {
    on_keys(config, tokens, List).await
}

struct ChangeRole {
    email: Email,
    role: Role,
    edit: RoleEdit,
}

impl WithStore for ChangeRole {
    type Output = Result<RoleChange, AdminError>;

    async fn run<S: Store>(self, store: S) -> Self::Output {
        let result = async {
            migrate_store(&store, false).await?;
            let now = unix_now();
            let change = change_role_in(&store, &self.email, &self.role, self.edit, now).await?;
            if let (RoleChange::Changed { .. }, Some(user)) =
                (change, store.user_by_email(&self.email).await?)
            {
                let detail = format!("{}: {}", self.edit.verb(), self.role.as_str());
                record(&store, AuditKind::RolesChanged, Some(user.id), detail, now).await;
            }
            Ok(change)
        }
        .await;
        store.close().await;
        result
    }
}

/// Records what an operator command changed, best effort: the change is made, and
/// a failed write is said on stderr.
async fn record<S: Store>(
    store: &S,
    kind: AuditKind,
    user: Option<UserId>,
    detail: String,
    now: i64,
) {
    let event = AuditEvent {
        at: now,
        kind,
        user_id: user.map(|id| id.to_string()),
        session_id: None,
        actor: "operator".to_owned(),
        client_address: None,
        detail: Some(detail),
    };
    if let Err(e) = store.record(&event).await {
        tracing::warn!(error = %e, "audit event not stored; the change stands");
    }
}

/// Grants or revokes `role` for the user with `email` (see [`RoleEdit`]). Tokens
/// carry the change from the user's next login or refresh; a revocation that ends
/// the sessions reaches every running instance as any logout does.
pub async fn change_role(
    config: &StoreConfig,
    email: &str,
    role: &str,
    edit: RoleEdit,
) -> Result<RoleChange, AdminError> {
    let email = Email::parse(email).map_err(|e| ConfigError::new("EMAIL", e.to_string()))?;
    let role = Role::parse(role).ok_or_else(|| {
        ConfigError::new(
            "ROLE",
            "expected 1 to 64 of a-z, 0-9, '-', '_', '.' and ':'",
        )
    })?;
    on_store(config, ChangeRole { email, role, edit }).await?
}
