//! Password reset and email verification, for services that send the email
//! themselves.
//!
//! An admin asks for a single-use token for an email; the service mails it; the user
//! presents it. The token is 256 random bits of which only the SHA-256 is stored.
//! Asking for an email nobody has stores a token for nobody (one statement either
//! way, the same answer), so the call tells nothing about who is registered. Spending
//! a token is one conditional update in the store: it works once, before it expires.
//!
//! A reset sets the password (the rules of Register), spends the user's other reset
//! tokens and revokes every session; a verification marks the email verified, which
//! access tokens carry as `email_verified` from the next login or refresh.

use tracing::info;

use super::audit::Describe;
use super::{Auth, AuthError};
use crate::domain::Email;
use crate::store::{AuditKind, Purpose, Store};
use crate::token::refresh::RefreshToken;

/// A single-use token just made: the secret for the mail, and its end.
#[derive(Debug, Clone)]
pub struct OneTimeToken {
    pub token: RefreshToken,
    pub expires_at: i64,
}

impl<S: Store> Auth<S> {
    /// A password-reset token for `email` (an admin's call; see the module doc).
    pub async fn create_password_reset_token(
        &self,
        actor: &str,
        email: &str,
    ) -> Result<OneTimeToken, AuthError> {
        self.one_time(actor, email, Purpose::PasswordReset, self.reset_ttl_secs)
            .await
    }

    /// An email-verification token for `email` (an admin's call).
    pub async fn create_email_verification_token(
        &self,
        actor: &str,
        email: &str,
    ) -> Result<OneTimeToken, AuthError> {
        self.one_time(
            actor,
            email,
            Purpose::EmailVerification,
            self.verification_ttl_secs,
        )
        .await
    }

    async fn one_time(
        &self,
        actor: &str,
        email: &str,
        purpose: Purpose,
        ttl_secs: i64,
    ) -> Result<OneTimeToken, AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let now = self.clock.now();
        let token = RefreshToken::generate();
        let expires_at = now.saturating_add(ttl_secs);
        self.store
            .issue_one_time(&token.hash(), purpose, &email, now, expires_at)
            .await
            .map_err(AuthError::from_store)?;
        // The email is not logged: the line must read the same for a stranger's.
        info!(
            actor,
            purpose = purpose.as_str(),
            "admin: single-use token issued"
        );
        let event = self.event(AuditKind::TokenIssued, None);
        self.audit(event.actor(actor).detail(purpose.as_str()))
            .await;
        Ok(OneTimeToken { token, expires_at })
    }

    /// Sets a new password with a reset token; answers how many sessions ended.
    pub async fn reset_password(&self, token: String, new: String) -> Result<usize, AuthError> {
        let token = RefreshToken::from_client(token).ok_or(AuthError::InvalidArgument {
            field: "token",
            problem: "is required",
        })?;
        let new = self.new_password(new)?;
        // Hashed before the token is spent: a full hashing queue leaves it unspent.
        let hash = self
            .hasher
            .hash(&new)
            .await
            .map_err(AuthError::from_hashing)?;
        let now = self.clock.now();
        let (user, revoked) = self
            .store
            .reset_password(&token.hash(), &hash, now)
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::TokenInvalid)?;
        let sessions = revoked.len();
        self.revocations.remember_ids(revoked, now);
        info!(user_id = %user, sessions_revoked = sessions, "password reset; every session revoked");
        self.audit(self.event(AuditKind::PasswordReset, None).user(user))
            .await;
        Ok(sessions)
    }

    /// Marks the token's user's email verified.
    pub async fn verify_email(&self, token: String) -> Result<(), AuthError> {
        let token = RefreshToken::from_client(token).ok_or(AuthError::InvalidArgument {
            field: "token",
            problem: "is required",
        })?;
        let user = self
            .store
            .verify_email(&token.hash(), self.clock.now())
            .await
            .map_err(AuthError::from_store)?
            .ok_or(AuthError::TokenInvalid)?;
        info!(user_id = %user, "email verified");
        self.audit(self.event(AuditKind::EmailVerified, None).user(user))
            .await;
        Ok(())
    }
}
