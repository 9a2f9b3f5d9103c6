//! Login.
//!
//! A login is admitted by the failed-login budget ([`super::throttle`]) before
//! anything else: while throttled the password is not even checked. The budget
//! lives in the store, so every instance spends the same one. An unknown email costs
//! one password verify against a dummy hash, so it answers in the same time and with
//! the same error as a wrong password. A success clears the email's budget and opens
//! a session with its first refresh token, unless an admin disabled the account:
//! then the answer is ACCOUNT_DISABLED, told only to whoever knows the password.
//! A password whose stored hash is not of the configured algorithm and cost (bcrypt
//! under argon2id, a lower cost) is rehashed in the same request, with no second check.

use tracing::{debug, info, warn};

use super::audit::{ANONYMOUS, Describe};
use super::tokens::Holder;
use super::{Auth, AuthError, ClientInfo, IssuedTokens};
use crate::domain::{Email, Password, SessionId, User};
use crate::store::{AuditKind, NewSession, Store, UserRow};
use crate::token::refresh::RefreshToken;

impl<S: Store> Auth<S> {
    /// Checks credentials and opens a session.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<(User, IssuedTokens), AuthError> {
        let now = self.clock.now();
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let password = Password::for_login(password).ok_or(AuthError::InvalidArgument {
            field: "password",
            problem: "must be 1 to 1024 bytes",
        })?;
        self.throttle
            .admit(&self.store, &email, client, now)
            .await?;
        let user = match self.check_password(&email, &password).await {
            Ok((Some(user), true)) => user,
            Ok((known, _)) => {
                let known = known.map(|u| u.id);
                info!(
                    user_id = known.map(|id| id.to_string()),
                    client_address = client.address.as_deref(),
                    reason = "INVALID_CREDENTIALS",
                    "login failed"
                );
                let event = self.event(AuditKind::LoginFailed, Some(client));
                let event = match known {
                    Some(id) => event.user(id),
                    None => event.actor(ANONYMOUS),
                };
                self.audit(event.detail("INVALID_CREDENTIALS")).await;
                return Err(AuthError::InvalidCredentials);
            }
            Err(e) => {
                // Not a failed guess: give the attempt back (best effort: the store
                // may be what failed).
                let _ = self.throttle.release(&self.store, &email, client).await;
                return Err(e);
            }
        };
        self.throttle
            .succeeded(&self.store, &email, client)
            .await
            .map_err(AuthError::from_store)?;
        // Said only to whoever knows the password, after the same work as any login.
        if user.disabled_at.is_some() {
            info!(
                user_id = %user.id,
                client_address = client.address.as_deref(),
                reason = "ACCOUNT_DISABLED",
                "login refused"
            );
            let event = self.event(AuditKind::LoginFailed, Some(client));
            self.audit(event.user(user.id).detail("ACCOUNT_DISABLED"))
                .await;
            return Err(AuthError::AccountDisabled);
        }
        if self.hasher.needs_rehash(&user.password_hash, &password) {
            self.rehash(&user, &password).await;
        }
        let tokens = self.open_session(&user, client, now).await?;
        Ok((user.into_user(), tokens))
    }

    /// The user with this email, if any, and whether the password is theirs; always
    /// exactly one password verify.
    async fn check_password(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<(Option<UserRow>, bool), AuthError> {
        let user = self
            .store
            .user_by_email(email)
            .await
            .map_err(AuthError::from_store)?;
        let matched = self
            .hasher
            .verify(password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(AuthError::from_hashing)?;
        Ok((user, matched))
    }

    /// Stores a hash of the configured algorithm and cost for a password that just
    /// matched an older one, in the same request. Best effort: a full hashing queue or
    /// a failing store leaves the old hash, and the next login tries again.
    async fn rehash(&self, user: &UserRow, password: &Password) {
        let new = match self.hasher.hash(password).await {
            Ok(new) => new,
            Err(e) => {
                warn!(user_id = %user.id, error = %e, "password rehash skipped");
                return;
            }
        };
        match self
            .store
            .upgrade_password_hash(user.id, &user.password_hash, &new)
            .await
        {
            Ok(true) => {
                info!(user_id = %user.id, "password rehashed with the configured algorithm")
            }
            Ok(false) => debug!(user_id = %user.id, "password changed meanwhile; rehash dropped"),
            Err(e) => warn!(user_id = %user.id, error = %e, "password rehash not stored"),
        }
    }

    async fn open_session(
        &self,
        user: &UserRow,
        client: &ClientInfo,
        now: i64,
    ) -> Result<IssuedTokens, AuthError> {
        let session_id = SessionId::random();
        let access_token = self
            .sign(
                Holder {
                    id: user.id,
                    email: &user.email,
                    roles: &user.roles,
                    email_verified: user.email_verified,
                },
                session_id,
                now,
            )
            .await?;
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
            .map_err(AuthError::from_store)?;
        info!(user_id = %user.id, session_id = %session_id, client_address = client.address.as_deref(), "login ok");
        let event = self.event(AuditKind::LoginSucceeded, Some(client));
        self.audit(event.user(user.id).session(session_id)).await;
        Ok(self.pair(access_token, refresh_token))
    }
}
