//! The use cases, in domain terms: no tonic, no SQL. [`Auth`] holds what they share;
//! each use case adds its methods in a file of its own:
//!
//! | file | use case |
//! |---|---|
//! | `register.rs` | Register |
//! | `login.rs` | Login: throttle, one password check, a new session |
//! | `session.rs` | Refresh (rotation and reuse) and Logout |
//! | `verify.rs` | Verify, the published keys, key reloads |
//! | `password_change.rs` | ChangePassword |
//! | `account.rs` | DeleteAccount (and the deletion the admin API shares) |
//! | `admin.rs` | the admin API: users, roles, sessions |
//! | `recovery.rs` | password reset and email verification tokens |
//! | `audit.rs` | recording security events (best effort), ListAuditEvents |
//! | `roles.rs` | granting and revoking roles (operator commands) |
//! | `maintenance.rs` | the revocation catch-up and the purge the server runs in the background |
//!
//! beside what they share: `credential.rs` (who is asking, with their password),
//! [`throttle`] (the failed-login budget), [`keys`] (signing
//! keys in the store), `keyring.rs` (the keys in use), `revocations.rs` (the
//! revoked-session set and its broadcast), `tokens.rs` (issuing a pair) and
//! [`AuthError`]. Time comes from the [`Clock`] the server passes in.

mod account;
mod admin;
mod audit;
mod credential;
mod error;
mod keyring;
pub mod keys;
mod login;
pub mod maintenance;
mod password_change;
mod recovery;
mod register;
mod revocations;
mod roles;
mod session;
pub mod throttle;
mod tokens;
mod verify;

use std::time::Duration;

pub use admin::{AdminAccounts, MAX_PAGE_SIZE, Page, UserFilter};
pub use audit::AuditFilter;
pub use credential::Credential;
pub use error::AuthError;
pub use keyring::{CacheCounts, VerifySettings};
pub use password_change::PasswordChanged;
pub use recovery::OneTimeToken;
pub use revocations::{Loaded, Revocation, Watched};
pub use roles::{RoleChange, RoleEdit, change_role};
pub use tokens::IssuedTokens;
pub use verify::Gauges;

use crate::clock::{Clock, secs};
use crate::offload::Pool;
use crate::password::Hasher;
use crate::store::Store;
use crate::token::issue::TokenIssuer;
use keyring::LiveKeys;
use keys::{KeysError, Keystore};
use revocations::Revocations;
use throttle::Throttle;

/// Where a request came from, recorded on the session and used by the throttle.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The peer's IP address.
    pub address: Option<String>,
    /// The `user-agent` the client sent.
    pub user_agent: Option<String>,
}

/// Settings of [`Auth`] that are not collaborators.
#[derive(Debug, Clone)]
pub struct Policy {
    pub refresh_ttl: Duration,
    /// How long a spent refresh token may be retried once (zero: never).
    pub refresh_reuse_grace: Duration,
    pub verify_leeway: Duration,
    /// How many verified access tokens Verify remembers (0: none).
    pub verify_cache: usize,
    /// The failed-login budgets.
    pub login_attempts: throttle::Limits,
    /// How long a deleted account's email stays taken.
    pub email_reuse_delay: Duration,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// How long a password-reset token works.
    pub password_reset_ttl: Duration,
    /// How long an email-verification token works.
    pub email_verification_ttl: Duration,
}

/// What the use cases share. Shared behind an `Arc` by the gRPC service and the
/// server's background tasks.
pub struct Auth<S: Store> {
    store: S,
    clock: Clock,
    hasher: Hasher,
    /// Signs access tokens off the async runtime; see [`crate::offload`].
    signer: Pool,
    issuer: TokenIssuer,
    keys: LiveKeys<S>,
    revocations: Revocations,
    throttle: Throttle,
    refresh_ttl_secs: i64,
    email_reuse_delay_secs: i64,
    reset_ttl_secs: i64,
    audit_retention_secs: i64,
    verification_ttl_secs: i64,
    /// Derives successors and forgives one retry within this many seconds, when set.
    reuse_grace: Option<(aws_lc_rs::hmac::Key, i64)>,
}

/// The collaborators [`Auth`] is built from.
pub struct Parts<S> {
    pub store: S,
    pub clock: Clock,
    pub hasher: Hasher,
    pub signer: Pool,
    pub issuer: TokenIssuer,
    pub keystore: Keystore<S>,
    /// Keys refresh-token successors (from the master key).
    pub successor_key: aws_lc_rs::hmac::Key,
}

impl<S: Store> Auth<S> {
    /// Wires the use cases together and reads the signing keys.
    pub async fn new(parts: Parts<S>, policy: &Policy) -> Result<Self, KeysError> {
        let verify = VerifySettings {
            issuer: parts.issuer.issuer().to_owned(),
            audience: parts.issuer.audience().to_owned(),
            leeway_secs: policy.verify_leeway.as_secs(),
            cache: policy.verify_cache,
        };
        let keys = LiveKeys::load(parts.keystore, verify, parts.clock.now()).await?;
        let memory_secs = (parts.issuer.ttl_secs()).saturating_add(secs(policy.verify_leeway));
        Ok(Self {
            store: parts.store,
            clock: parts.clock,
            hasher: parts.hasher,
            signer: parts.signer,
            issuer: parts.issuer,
            keys,
            revocations: Revocations::new(memory_secs),
            throttle: Throttle::new(policy.login_attempts),
            refresh_ttl_secs: secs(policy.refresh_ttl),
            email_reuse_delay_secs: secs(policy.email_reuse_delay),
            reset_ttl_secs: secs(policy.password_reset_ttl),
            audit_retention_secs: secs(policy.audit_retention),
            verification_ttl_secs: secs(policy.email_verification_ttl),
            reuse_grace: (!policy.refresh_reuse_grace.is_zero())
                .then(|| (parts.successor_key, secs(policy.refresh_reuse_grace))),
        })
    }

    /// The store, for start-up and shutdown.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock every use case reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}
