//! The use cases, in domain terms: no tonic, no SQL.
//!
//! # Refresh rotation and reuse
//!
//! A session is one login and the chain of refreshes after it. Each refresh token
//! belongs to one generation of its session, and the session records the one
//! generation that may still be spent.
//!
//! - Presenting the current generation's token spends it: in one transaction the
//!   session's generation moves on (a conditional update: only one caller can win)
//!   and the next token is stored. The access tokens issued before stay valid until
//!   their own expiry: rotation never breaks the token in use.
//! - Presenting a token whose generation is spent, or losing the race for the current
//!   one, is reuse: someone holds a copy. The whole session is revoked in the same
//!   transaction, so neither the thief nor the user can go on with it, and its access
//!   tokens stop verifying (the in-memory revocation set learns it at once).
//! - A revoked session's tokens answer TOKEN_REVOKED; its spent tokens presented again
//!   after a reuse revocation answer REFRESH_TOKEN_REUSED.
//!
//! # Login
//!
//! A login is admitted by the failed-login budget ([`crate::throttle`]) before anything
//! else: while throttled the password is not even checked. The budget lives in the
//! store, so every instance spends the same one. An unknown email costs one
//! bcrypt verify against a dummy hash, so it answers in the same time and with the same
//! error as a wrong password.
//!
//! # Keys
//!
//! Tokens are signed by the ring's signing key at `now` and verified against every
//! published key ([`crate::token::ring`]). The ring is read from the store at start
//! and again by [`Auth::reload_keys`], which the server calls when the keys change.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use crate::domain::{DEFAULT_ROLE, Email, EmailError, Password, PasswordError, SessionId};
use crate::keystore::{KeysError, Keystore};
use crate::offload::{OffloadError, Pool};
use crate::password::{HashError, Hasher};
use crate::proto;
use crate::store::{NewSession, RevokeReason, RevokedRow, Rotation, Store, StoreError, UserRow};
use crate::throttle::Budget;
use crate::token::issue::{IssueError, Subject, TokenIssuer};
use crate::token::refresh::RefreshToken;
use crate::token::ring::KeyRing;
use crate::token::{AccessClaims, KeySet, RevokedSessions, TokenVerifier, VerifyError};

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email: {0}")]
    InvalidEmail(EmailError),
    #[error("weak password: {0}")]
    WeakPassword(PasswordError),
    #[error("email already registered")]
    EmailTaken,
    #[error("invalid argument {field}: {problem}")]
    InvalidArgument {
        field: &'static str,
        problem: &'static str,
    },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many failed logins")]
    RateLimited { retry_after: Duration },
    #[error("password hashing or token signing is saturated")]
    Overloaded,
    #[error("token invalid")]
    TokenInvalid,
    #[error("token expired")]
    TokenExpired,
    #[error("token revoked")]
    TokenRevoked,
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("store failed")]
    Store(#[source] StoreError),
    #[error("password hashing failed")]
    Hashing(#[source] HashError),
    #[error("token signing failed")]
    Signing(#[source] IssueError),
    #[error("a signing thread failed")]
    Worker,
    #[error("signing keys unavailable")]
    Keys(#[source] KeysError),
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Expired => AuthError::TokenExpired,
            VerifyError::Invalid | VerifyError::UnknownKey => AuthError::TokenInvalid,
            VerifyError::Revoked => AuthError::TokenRevoked,
            // The server's ring always holds a key and its revocation set is the
            // authority, so its own check never answers this; should it, the token
            // is not vouched for.
            VerifyError::Unavailable => AuthError::TokenInvalid,
        }
    }
}

fn hashing(e: HashError) -> AuthError {
    match e {
        HashError::Busy => AuthError::Overloaded,
        other => AuthError::Hashing(other),
    }
}

/// Where a request came from, recorded on the session and used by the throttle.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The peer's IP address.
    pub address: Option<String>,
    /// The `user-agent` the client sent.
    pub user_agent: Option<String>,
}

/// A freshly issued pair.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: RefreshToken,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Refresh-token lifetime in seconds.
    pub refresh_expires_in: i64,
}

/// How many revocations a slow WatchRevocations stream may fall behind before it
/// is sent the whole set again.
const REVOCATION_BACKLOG: usize = 1024;

/// A revoked session, as WatchRevocations streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: String,
    /// After this time no token of the session can verify any more.
    pub forget_after: i64,
}

/// Settings of [`Auth`] that are not collaborators.
#[derive(Debug, Clone)]
pub struct Policy {
    pub refresh_ttl: Duration,
    pub verify_leeway: Duration,
    /// How many verified access tokens Verify remembers (0: none).
    pub verify_cache: usize,
    pub login_attempts_per_minute: u32,
    pub login_attempts_per_address_per_minute: u32,
}

/// The use cases. Shared behind an `Arc` by the gRPC service and the server's tasks.
pub struct Auth<S: Store> {
    store: S,
    hasher: Hasher,
    /// Signs access tokens off the async runtime; see [`crate::offload`].
    signer: Pool,
    issuer: TokenIssuer,
    keystore: Keystore<S>,
    ring: RwLock<Arc<KeyRing>>,
    verify_leeway_secs: u64,
    verify_cache: usize,
    revoked: Arc<RevokedSessions>,
    /// Every revocation the set learns, for WatchRevocations streams.
    revocations: broadcast::Sender<Revocation>,
    by_email: Budget,
    by_address: Budget,
    refresh_ttl_secs: i64,
    /// How long a revoked session must be remembered: access TTL plus leeway.
    revocation_memory_secs: i64,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl<S: Store> Auth<S> {
    /// Wires the use cases together and reads the signing keys from `keystore`.
    pub async fn new(
        store: S,
        hasher: Hasher,
        signer: Pool,
        issuer: TokenIssuer,
        keystore: Keystore<S>,
        policy: &Policy,
        now: i64,
    ) -> Result<Self, KeysError> {
        let leeway = policy.verify_leeway.as_secs();
        let cache = policy.verify_cache;
        let ring = keystore
            .load(None, now, |set| verifier_for(&issuer, leeway, cache, set))
            .await?;
        let revocation_memory_secs = issuer.ttl_secs().saturating_add(secs(policy.verify_leeway));
        Ok(Self {
            store,
            hasher,
            signer,
            issuer,
            keystore,
            ring: RwLock::new(Arc::new(ring)),
            verify_leeway_secs: leeway,
            verify_cache: cache,
            revoked: Arc::new(RevokedSessions::new()),
            revocations: broadcast::channel(REVOCATION_BACKLOG).0,
            by_email: Budget::new("email", policy.login_attempts_per_minute),
            by_address: Budget::new("address", policy.login_attempts_per_address_per_minute),
            refresh_ttl_secs: secs(policy.refresh_ttl),
            revocation_memory_secs,
        })
    }

    /// The store, for start-up and shutdown.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the signing keys again (new keys are opened, known ones reused) and
    /// swaps the ring in; returns whether the set of kids changed. The cache of
    /// verified tokens carries over only if the published keys are the same.
    pub async fn reload_keys(&self, now: i64) -> Result<bool, KeysError> {
        let current = self.ring();
        let leeway = self.verify_leeway_secs;
        let ring = self
            .keystore
            .load(Some(&current), now, |set| {
                verifier_for(&self.issuer, leeway, self.verify_cache, set)
                    .keeping_cache_of(current.verifier())
            })
            .await?;
        let before: Vec<&str> = current.states(now).map(|(k, _)| k.key.kid()).collect();
        let after: Vec<&str> = ring.states(now).map(|(k, _)| k.key.kid()).collect();
        let changed = before != after;
        if changed {
            info!(
                keys = after.len(),
                signing = ring.signer(now).map(|k| k.kid()),
                "signing keys reloaded"
            );
        }
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(changed)
    }

    /// The kid of the key that signs at `now`.
    pub fn signing_kid(&self, now: i64) -> Option<String> {
        self.ring().signer(now).map(|k| k.kid().to_owned())
    }

    /// The public keys to publish at `now`: staged, signing and retiring.
    pub fn jwks(&self, now: i64) -> Vec<proto::Jwk> {
        self.ring()
            .published(now)
            .into_iter()
            .map(|k| k.jwk())
            .collect()
    }

    /// Loads the sessions whose tokens may still be live into the revocation set.
    pub async fn load_revocations(&self, now: i64) -> Result<usize, AuthError> {
        self.catch_up_revocations(now - self.revocation_memory_secs)
            .await
    }

    /// Reads the sessions revoked at or after `since` into the revocation set: the
    /// periodic catch-up that heals a missed announcement.
    pub async fn catch_up_revocations(&self, since: i64) -> Result<usize, AuthError> {
        let rows = self
            .store
            .revoked_since(since)
            .await
            .map_err(AuthError::Store)?;
        for row in &rows {
            self.note_revoked(*row);
        }
        Ok(rows.len())
    }

    /// Records a revocation another instance announced.
    pub fn note_revoked(&self, row: RevokedRow) {
        self.remember_revoked(row.session_id, row.revoked_at);
    }

    fn remember_revoked(&self, sid: SessionId, revoked_at: i64) {
        let sid = sid.to_string();
        let forget_after = revoked_at.saturating_add(self.revocation_memory_secs);
        if self.revoked.insert(&sid, forget_after) {
            // No receiver is fine: nobody is watching.
            let _ = self.revocations.send(Revocation {
                session_id: sid,
                forget_after,
            });
        }
    }

    /// Follows the revocation set: a receiver of every revocation learned from now
    /// on, and every session remembered now. The receiver is taken first, so no
    /// revocation falls between the two; one may be in both, which is harmless.
    pub fn watch_revocations(&self) -> (Vec<Revocation>, broadcast::Receiver<Revocation>) {
        let receiver = self.revocations.subscribe();
        let snapshot = self
            .revoked
            .snapshot()
            .into_iter()
            .map(|(session_id, forget_after)| Revocation {
                session_id,
                forget_after,
            })
            .collect();
        (snapshot, receiver)
    }

    /// Registers a user with the default role. Hashing happens before any write.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
        now: i64,
    ) -> Result<UserRow, AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let password = Password::new(password).map_err(AuthError::WeakPassword)?;
        let password_hash = self.hasher.hash(&password).await.map_err(hashing)?;
        let user = UserRow {
            id: crate::domain::UserId::random(),
            email,
            password_hash,
            roles: vec![DEFAULT_ROLE.to_owned()],
            created_at: now,
        };
        // No lookup first: the unique index decides, so concurrent registrations of
        // one email cannot both pass.
        match self.store.create_user(&user).await {
            Ok(()) => {
                info!(user_id = %user.id, client_address = client.address.as_deref(), "registered");
                Ok(user)
            }
            Err(StoreError::Conflict) => {
                debug!("registration refused: email taken");
                Err(AuthError::EmailTaken)
            }
            Err(e) => Err(AuthError::Store(e)),
        }
    }

    /// Checks credentials and opens a session.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(UserRow, IssuedTokens), AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let password = Password::for_login(password).ok_or(AuthError::InvalidArgument {
            field: "password",
            problem: "must be 1 to 1024 bytes",
        })?;
        self.admit(&email, client, now).await?;
        let verdict = self.check_password(&email, &password).await;
        let user = match verdict {
            Ok((Some(user), true)) => user,
            Ok((known, _)) => {
                info!(
                    user_id = known.map(|u| u.id.to_string()),
                    client_address = client.address.as_deref(),
                    reason = "INVALID_CREDENTIALS",
                    "login failed"
                );
                return Err(AuthError::InvalidCredentials);
            }
            Err(e) => {
                // Not a failed guess: give the attempt back (best effort: the store
                // may be what failed).
                let _ = self.release(&email, client).await;
                return Err(e);
            }
        };
        self.by_email
            .reset(&self.store, email.as_str())
            .await
            .map_err(AuthError::Store)?;
        if let Some(address) = &client.address {
            self.by_address
                .release(&self.store, address)
                .await
                .map_err(AuthError::Store)?;
        }
        let tokens = self.open_session(&user, client, now).await?;
        Ok((user, tokens))
    }

    async fn admit(&self, email: &Email, client: &ClientInfo, now: i64) -> Result<(), AuthError> {
        let store = &self.store;
        let by_email = self
            .by_email
            .admit(store, email.as_str(), now)
            .await
            .map_err(AuthError::Store)?;
        let by_address = match &client.address {
            Some(address) => match self.by_address.admit(store, address, now).await {
                Ok(verdict) => verdict,
                Err(e) => {
                    if by_email.is_ok() {
                        let _ = self.by_email.release(store, email.as_str()).await;
                    }
                    return Err(AuthError::Store(e));
                }
            },
            None => Ok(()),
        };
        match (by_email, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (email_wait, address_wait) => {
                if email_wait.is_ok() {
                    self.by_email
                        .release(store, email.as_str())
                        .await
                        .map_err(AuthError::Store)?;
                }
                if address_wait.is_ok()
                    && let Some(address) = &client.address
                {
                    self.by_address
                        .release(store, address)
                        .await
                        .map_err(AuthError::Store)?;
                }
                let retry_after = email_wait.err().max(address_wait.err()).unwrap_or_default();
                warn!(
                    client_address = client.address.as_deref(),
                    retry_after_secs = retry_after.as_secs(),
                    "login throttled"
                );
                Err(AuthError::RateLimited { retry_after })
            }
        }
    }

    async fn release(&self, email: &Email, client: &ClientInfo) -> Result<(), StoreError> {
        self.by_email.release(&self.store, email.as_str()).await?;
        if let Some(address) = &client.address {
            self.by_address.release(&self.store, address).await?;
        }
        Ok(())
    }

    /// The user with this email, if any, and whether the password is theirs; always
    /// exactly one bcrypt verify.
    async fn check_password(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<(Option<UserRow>, bool), AuthError> {
        let user = self
            .store
            .user_by_email(email)
            .await
            .map_err(AuthError::Store)?;
        let matched = self
            .hasher
            .verify(password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(hashing)?;
        Ok((user, matched))
    }

    async fn open_session(
        &self,
        user: &UserRow,
        client: &ClientInfo,
        now: i64,
    ) -> Result<IssuedTokens, AuthError> {
        let session_id = SessionId::random();
        let (access_token, _) = self.sign(user, session_id, now).await?;
        let refresh_token = RefreshToken::generate();
        self.store
            .create_session(&NewSession {
                id: session_id,
                user_id: user.id,
                refresh_hash: refresh_token.hash(),
                now,
                expires_at: now.saturating_add(self.refresh_ttl_secs),
                client_address: client.address.clone(),
                user_agent: client.user_agent.clone(),
            })
            .await
            .map_err(AuthError::Store)?;
        info!(user_id = %user.id, session_id = %session_id, client_address = client.address.as_deref(), "login ok");
        Ok(self.pair(access_token, refresh_token))
    }

    /// Signs an access token for `user`'s session on the signing pool: an RS256
    /// signature takes about half a millisecond of CPU, too long for an async worker.
    async fn sign(
        &self,
        user: &UserRow,
        session_id: SessionId,
        now: i64,
    ) -> Result<(String, AccessClaims), AuthError> {
        let user_id = user.id.to_string();
        let sid = session_id.to_string();
        let email = user.email.as_str().to_owned();
        let roles = user.roles.clone();
        let ring = self.ring();
        let issuer = self.issuer.clone();
        self.signer
            .run(move || {
                let key = ring.signer(now).ok_or(AuthError::Keys(KeysError::Empty))?;
                issuer
                    .issue(
                        key,
                        &Subject {
                            user_id: &user_id,
                            session_id: &sid,
                            email: &email,
                            roles: &roles,
                        },
                        now,
                    )
                    .map_err(AuthError::Signing)
            })
            .await
            .map_err(|e| match e {
                OffloadError::Busy => AuthError::Overloaded,
                OffloadError::Lost => AuthError::Worker,
            })?
    }

    fn pair(&self, access_token: String, refresh_token: RefreshToken) -> IssuedTokens {
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.issuer.ttl_secs(),
            refresh_expires_in: self.refresh_ttl_secs,
        }
    }

    /// Spends a refresh token for a new pair; see the module doc for the rules.
    pub async fn refresh(
        &self,
        token: String,
        client: &ClientInfo,
        now: i64,
    ) -> Result<IssuedTokens, AuthError> {
        let token = RefreshToken::from_client(token).ok_or(AuthError::TokenInvalid)?;
        let row = self
            .store
            .refresh_token(&token.hash())
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::TokenInvalid)?;
        let spent = row.generation < row.session_generation;
        match row.revoked {
            Some(RevokeReason::Reuse) if spent => return Err(AuthError::RefreshTokenReused),
            Some(_) => return Err(AuthError::TokenRevoked),
            None => {}
        }
        if row.expires_at < now {
            return Err(AuthError::TokenExpired);
        }
        if spent {
            // A spent token came back: revoke the session. The store's conditional
            // update makes this idempotent under races.
            self.revoke(row.session_id, RevokeReason::Reuse, now)
                .await?;
            warn!(
                user_id = %row.user_id,
                session_id = %row.session_id,
                client_address = client.address.as_deref(),
                "refresh token reuse detected; session revoked"
            );
            return Err(AuthError::RefreshTokenReused);
        }
        let user = self
            .store
            .user_by_id(row.user_id)
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::TokenInvalid)?;
        // Sign before the rotation commits, so nothing can fail between spending the
        // old token and handing out the new pair.
        let (access_token, _) = self.sign(&user, row.session_id, now).await?;
        let next = RefreshToken::generate();
        let outcome = self
            .store
            .rotate(
                row.session_id,
                row.generation,
                &next.hash(),
                now,
                now.saturating_add(self.refresh_ttl_secs),
            )
            .await
            .map_err(AuthError::Store)?;
        match outcome {
            Rotation::Rotated => {
                info!(
                    user_id = %user.id,
                    session_id = %row.session_id,
                    generation = row.generation + 1,
                    client_address = client.address.as_deref(),
                    "refreshed"
                );
                Ok(self.pair(access_token, next))
            }
            Rotation::Lost { reason } => {
                self.remember_revoked(row.session_id, now);
                match reason {
                    RevokeReason::Reuse => {
                        warn!(
                            user_id = %user.id,
                            session_id = %row.session_id,
                            client_address = client.address.as_deref(),
                            "refresh token reuse detected (concurrent); session revoked"
                        );
                        Err(AuthError::RefreshTokenReused)
                    }
                    RevokeReason::Logout => Err(AuthError::TokenRevoked),
                }
            }
        }
    }

    /// Revokes the token's session, or all of its user's sessions. Unknown tokens are
    /// not an error: logout reveals nothing.
    pub async fn logout(
        &self,
        token: String,
        all_sessions: bool,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(), AuthError> {
        let token = RefreshToken::from_client(token).ok_or(AuthError::InvalidArgument {
            field: "refresh_token",
            problem: "is required",
        })?;
        let Some(row) = self
            .store
            .refresh_token(&token.hash())
            .await
            .map_err(AuthError::Store)?
        else {
            debug!("logout with an unknown refresh token");
            return Ok(());
        };
        if all_sessions {
            let revoked = self
                .store
                .revoke_user_sessions(row.user_id, RevokeReason::Logout, now)
                .await
                .map_err(AuthError::Store)?;
            for sid in &revoked {
                self.remember_revoked(*sid, now);
            }
            info!(
                user_id = %row.user_id,
                sessions = revoked.len(),
                client_address = client.address.as_deref(),
                "logged out everywhere"
            );
        } else if self
            .revoke(row.session_id, RevokeReason::Logout, now)
            .await?
        {
            info!(
                user_id = %row.user_id,
                session_id = %row.session_id,
                client_address = client.address.as_deref(),
                "logged out"
            );
        }
        Ok(())
    }

    /// Revokes one session in the store and in the revocation set; true if it was live.
    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: i64,
    ) -> Result<bool, AuthError> {
        let was_live = self
            .store
            .revoke_session(sid, reason, now)
            .await
            .map_err(AuthError::Store)?;
        // Remembered even if it was revoked already: the set is idempotent, and an
        // instance that missed the first revocation learns it here.
        self.remember_revoked(sid, now);
        Ok(was_live)
    }

    /// Verifies an access token: signature, claims, and the revocation set. No I/O.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, AuthError> {
        Ok(self
            .ring()
            .verifier()
            .verify_unrevoked(token, now, &self.revoked)?)
    }

    /// Purges expired rows and keys, and forgets what can no longer matter.
    pub async fn purge(&self, now: i64) -> Result<u64, AuthError> {
        self.revoked.prune(now);
        let keys = self.keystore.purge(now).await.map_err(AuthError::Keys)?;
        for kid in &keys {
            info!(kid = %kid, "deleted an expired signing key");
        }
        if !keys.is_empty() {
            self.reload_keys(now).await.map_err(AuthError::Keys)?;
        }
        let rows = self
            .store
            .purge_expired(now, now - self.revocation_memory_secs)
            .await
            .map_err(AuthError::Store)?;
        Ok(rows + keys.len() as u64)
    }
}

/// A verifier for the tokens `issuer` issues, over `keys`, remembering up to `cache`
/// verified tokens.
fn verifier_for(
    issuer: &TokenIssuer,
    leeway_secs: u64,
    cache: usize,
    keys: KeySet,
) -> TokenVerifier {
    TokenVerifier::new(keys, issuer.issuer(), issuer.audience(), leeway_secs).with_cache(cache)
}

pub use crate::token::unix_now;
