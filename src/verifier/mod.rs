//! Verifying tessera's access tokens inside another service, with no RPC per request.
//!
//! A [`Verifier`] is an owned, cheaply cloned handle. Built over a tonic `Channel` to
//! tessera, it keeps in the background:
//! - **the keys** ([`jwks`]): fetched with GetJwks, refreshed every
//!   [`VerifierConfig::jwks_refresh`], and at once when a token names a `kid` it does
//!   not know, at most once per [`VerifierConfig::unknown_kid_cooldown`] however many
//!   such tokens arrive. While tessera is unreachable it keeps the last good keys.
//! - **the revoked sessions** ([`live`], live mode only): a WatchRevocations stream,
//!   reconnected with backoff, so a logout anywhere is refused here within about a
//!   second.
//!
//! Then [`Verifier::verify`] is a signature check plus a hash lookup: no network. It
//! runs the same code as tessera's own Verify RPC ([`TokenVerifier::verify_unrevoked`]).
//!
//! The three [`Mode`]s and their costs:
//!
//! | mode | a logout is refused | per request | when tessera is down |
//! |---|---|---|---|
//! | `Local` | only when the token expires | a signature check | keeps verifying |
//! | `Live` (default) | within about a second | a signature check and a lookup | keeps verifying; after `stale_after` without the stream, as [`WhenStale`] says |
//! | `Remote` | within `remote_cache_ttl` | a Verify RPC per token not in the short cache | refuses (UNAVAILABLE) |
//!
//! The interceptor ([`AuthInterceptor`]) and the tower layer ([`AuthLayer`]) answer
//! a missing or refused token with UNAUTHENTICATED and the reasons tessera's Verify
//! uses, and hand the [`AccessClaims`] to the handler in the request's extensions;
//! [`require_role`] answers PERMISSION_DENIED.

mod guard;
mod jwks;
mod live;
mod remote;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tonic::transport::Channel;

pub use guard::{AuthInterceptor, AuthLayer, RequireToken, bearer_token, claims, require_role};

use crate::clock::unix_now;
use crate::proto::auth_service_client::AuthServiceClient;
use crate::token::{AccessClaims, RevokedSessions, TokenVerifier, VerifyError};

/// How a [`Verifier`] learns that a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Signature and claims only: a logged-out session's tokens pass until they
    /// expire. No stream, nothing but the periodic GetJwks.
    Local,
    /// Signature and claims, plus the revocation stream: a logout is refused within
    /// about a second, with no RPC per request.
    Live,
    /// Every token not in a short cache is sent to tessera's Verify. Needs the async
    /// path ([`Verifier::check`], [`AuthLayer`]).
    Remote,
}

/// What live mode does once it has been without the revocation stream for longer
/// than [`VerifierConfig::stale_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStale {
    /// Keep verifying on signatures alone (as local mode) until the stream is back:
    /// available, but a logout made meanwhile is not seen until the token expires.
    SignatureOnly,
    /// Refuse every token with UNAVAILABLE until the stream is back: no revoked
    /// token passes, but the service is down while tessera is.
    FailClosed,
}

/// Settings of a [`Verifier`]. [`VerifierConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The `iss` tokens must carry (tessera's `TESSERA_ISSUER`).
    pub issuer: String,
    /// The `aud` tokens must carry (tessera's `TESSERA_AUDIENCE`).
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`. Default 30 s.
    pub leeway: Duration,
    /// Default [`Mode::Live`].
    pub mode: Mode,
    /// How often the keys are fetched again. Default 5 min; tessera stages a new
    /// key for twice this long before it signs with it.
    pub jwks_refresh: Duration,
    /// An unknown `kid` triggers a fetch at most this often. Default 10 s.
    pub unknown_kid_cooldown: Duration,
    /// Live mode: how long without the revocation stream before [`WhenStale`]
    /// applies. Default 30 s.
    pub stale_after: Duration,
    /// Default [`WhenStale::SignatureOnly`].
    pub when_stale: WhenStale,
    /// Remote mode: how long an answer of tessera's Verify is reused. Default 5 s.
    pub remote_cache_ttl: Duration,
    /// Local and live mode: how many tokens that verified are remembered, so the
    /// next sight of the same token skips the signature check (expiry and revocation
    /// are checked on every call). Dropped when the keys change. Default 10,000;
    /// 0 turns it off.
    pub verified_cache: usize,
}

impl VerifierConfig {
    /// The defaults, for tokens from `issuer` to `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(30),
            mode: Mode::Live,
            jwks_refresh: Duration::from_secs(300),
            unknown_kid_cooldown: Duration::from_secs(10),
            stale_after: Duration::from_secs(30),
            when_stale: WhenStale::SignatureOnly,
            remote_cache_ttl: Duration::from_secs(5),
            verified_cache: crate::token::cache::DEFAULT_ENTRIES,
        }
    }
}

/// Verifies tessera's access tokens in-process. Clones share one cache; the
/// background tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    handle: Arc<Handle>,
}

/// Owns the stop signal: dropping the last handle stops the background tasks.
struct Handle {
    shared: Arc<Shared>,
    _stop: watch::Sender<()>,
}

/// What the handle and the background tasks share.
struct Shared {
    config: VerifierConfig,
    client: AuthServiceClient<Channel>,
    /// `None` until the first successful GetJwks.
    keys: std::sync::RwLock<Option<TokenVerifier>>,
    has_keys: watch::Sender<bool>,
    /// Wakes the key task for an unknown `kid`.
    refetch: Notify,
    last_refetch: std::sync::Mutex<Option<Instant>>,
    revoked: RevokedSessions,
    /// Milliseconds since `epoch` when the revocation stream was last heard from;
    /// `NEVER` before the first event.
    last_heard: AtomicU64,
    epoch: Instant,
    remote: remote::Cache,
}

const NEVER: u64 = u64::MAX;

impl Verifier {
    /// Starts verifying tokens from tessera at the other end of `channel` (lazy
    /// channels are fine: nothing waits here). Must be called inside a Tokio
    /// runtime; the key fetch and, in live mode, the revocation stream start at once.
    pub fn new(channel: Channel, config: VerifierConfig) -> Self {
        let (stop, stopped) = watch::channel(());
        let shared = Arc::new(Shared {
            client: AuthServiceClient::new(channel),
            keys: std::sync::RwLock::new(None),
            has_keys: watch::channel(false).0,
            refetch: Notify::new(),
            last_refetch: std::sync::Mutex::new(None),
            revoked: RevokedSessions::new(),
            last_heard: AtomicU64::new(NEVER),
            epoch: Instant::now(),
            remote: remote::Cache::default(),
            config,
        });
        if shared.config.mode != Mode::Remote {
            tokio::spawn(jwks::run(shared.clone(), stopped.clone()));
        }
        if shared.config.mode == Mode::Live {
            tokio::spawn(live::run(shared.clone(), stopped));
        }
        Self {
            handle: Arc::new(Handle {
                shared,
                _stop: stop,
            }),
        }
    }

    /// The settings this verifier runs with.
    pub fn config(&self) -> &VerifierConfig {
        &self.handle.shared.config
    }

    /// Whether keys have been fetched (for a readiness probe). Remote mode needs
    /// none and is always ready.
    pub fn has_keys(&self) -> bool {
        self.config().mode == Mode::Remote || *self.handle.shared.has_keys.borrow()
    }

    /// Waits until [`Verifier::has_keys`], or `timeout`; returns whether it has them.
    pub async fn ready(&self, timeout: Duration) -> bool {
        if self.has_keys() {
            return true;
        }
        let mut has_keys = self.handle.shared.has_keys.subscribe();
        tokio::time::timeout(timeout, has_keys.wait_for(|has| *has))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether live mode is hearing from the revocation stream (heard within
    /// `stale_after`). Always false in the other modes.
    pub fn revocations_live(&self) -> bool {
        self.config().mode == Mode::Live && !self.handle.shared.stale()
    }

    /// Verifies `token` now: RS256 under a fetched key, `iss`, `aud`, `exp` and `nbf`
    /// with the leeway, and in live mode the revocation set. No network: an unknown
    /// `kid` answers [`VerifyError::UnknownKey`] and wakes the key fetch. In remote
    /// mode this answers from the cache only; use [`Verifier::check`].
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let shared = &self.handle.shared;
        let now = unix_now();
        let check_revoked = match shared.config.mode {
            Mode::Local => false,
            Mode::Live => match (shared.stale(), shared.config.when_stale) {
                (false, _) => true,
                (true, WhenStale::SignatureOnly) => false,
                (true, WhenStale::FailClosed) => return Err(VerifyError::Unavailable),
            },
            Mode::Remote => return shared.remote.get(token, Instant::now()),
        };
        let result = {
            let keys = shared.keys.read().unwrap_or_else(|e| e.into_inner());
            let Some(keys) = keys.as_ref() else {
                drop(keys);
                shared.want_keys();
                return Err(VerifyError::Unavailable);
            };
            if check_revoked {
                keys.verify_unrevoked(token, now, &shared.revoked)
            } else {
                keys.verify(token, now)
            }
        };
        if result == Err(VerifyError::UnknownKey) {
            shared.want_keys();
        }
        result
    }

    /// Verifies `token`, asking tessera's Verify in remote mode (answers are cached
    /// for `remote_cache_ttl`); the same as [`Verifier::verify`] in the other modes.
    pub async fn check(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let shared = &self.handle.shared;
        if shared.config.mode != Mode::Remote {
            return self.verify(token);
        }
        remote::check(shared, token).await
    }

    /// A tonic interceptor that requires a valid bearer token (local and live mode).
    pub fn interceptor(&self) -> AuthInterceptor {
        AuthInterceptor::new(self.clone())
    }

    /// A tower layer that requires a valid bearer token (every mode).
    pub fn layer(&self) -> AuthLayer {
        AuthLayer::new(self.clone())
    }
}

impl Shared {
    fn millis_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    /// Notes that the revocation stream was heard from just now.
    fn heard(&self) {
        self.last_heard
            .store(self.millis_since_epoch(), Ordering::Release);
    }

    /// Whether the revocation stream has not been heard from within `stale_after`.
    fn stale(&self) -> bool {
        let last = self.last_heard.load(Ordering::Acquire);
        if last == NEVER {
            return true;
        }
        let bound = u64::try_from(self.config.stale_after.as_millis()).unwrap_or(u64::MAX);
        self.millis_since_epoch().saturating_sub(last) > bound
    }

    /// Asks the key task for a fetch now, whatever the cooldown: tessera said the
    /// keys changed.
    fn fetch_keys_now(&self) {
        *self.last_refetch.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.refetch.notify_one();
    }

    /// Asks the key task for a fetch now, unless one was asked for within the
    /// cooldown: a flood of forged `kid`s costs tessera one GetJwks per cooldown.
    fn want_keys(&self) {
        let mut last = self.last_refetch.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.config.unknown_kid_cooldown) {
            return;
        }
        *last = Some(now);
        self.refetch.notify_one();
    }
}
