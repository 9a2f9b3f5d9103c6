//! Issuing a token pair: the access token is signed on the signing pool, the refresh
//! token is opaque random bytes of which only the hash is stored.

use super::{Auth, AuthError, KeysError};
use crate::domain::{Email, SessionId, UserId};
use crate::offload::{OffloadError, Seat};
use crate::store::Store;
use crate::token::issue::Subject;
use crate::token::keys::SigningKey;
use crate::token::refresh::RefreshToken;

/// Whom an access token speaks for, as the store says now.
#[derive(Debug, Clone, Copy)]
pub(super) struct Holder<'a> {
    pub id: UserId,
    pub email: &'a Email,
    pub roles: &'a [String],
    pub email_verified: bool,
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

impl<S: Store> Auth<S> {
    /// Signs an access token for `user`'s session on the signing pool: an RS256
    /// signature takes about half a millisecond of CPU, too long for an async worker.
    pub(super) async fn sign(
        &self,
        user: Holder<'_>,
        session_id: SessionId,
        now: i64,
    ) -> Result<String, AuthError> {
        let job = self.signing_job(self.signing_key(now)?, user, session_id, now);
        self.signer.run(job).await.map_err(offload_error)?
    }

    /// As [`Auth::sign`], in room taken on the signing pool beforehand, with a key
    /// taken beforehand: after a step that cannot be undone, nothing is refused.
    pub(super) async fn sign_seated(
        &self,
        (seat, key): (Seat<'_>, SigningKey),
        user: Holder<'_>,
        session_id: SessionId,
        now: i64,
    ) -> Result<String, AuthError> {
        let job = self.signing_job(key, user, session_id, now);
        seat.run(job).await.map_err(offload_error)?
    }

    /// The key that signs at `now`.
    pub(super) fn signing_key(&self, now: i64) -> Result<SigningKey, AuthError> {
        self.keys
            .signer(now)
            .ok_or(AuthError::Keys(KeysError::Empty))
    }

    /// The signature as a job for the signing pool: everything it needs, owned.
    fn signing_job(
        &self,
        key: SigningKey,
        user: Holder<'_>,
        session_id: SessionId,
        now: i64,
    ) -> impl FnOnce() -> Result<String, AuthError> + Send + 'static {
        let user_id = user.id.to_string();
        let sid = session_id.to_string();
        let email = user.email.as_str().to_owned();
        let roles = user.roles.to_vec();
        let email_verified = user.email_verified;
        let issuer = self.issuer.clone();
        move || {
            let subject = Subject {
                user_id: &user_id,
                session_id: &sid,
                email: &email,
                roles: &roles,
                email_verified,
            };
            issuer
                .issue(&key, &subject, now)
                .map(|(token, _)| token)
                .map_err(AuthError::Signing)
        }
    }

    pub(super) fn pair(&self, access_token: String, refresh_token: RefreshToken) -> IssuedTokens {
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.issuer.ttl_secs(),
            refresh_expires_in: self.refresh_ttl_secs,
        }
    }
}

/// A signing-pool failure as the use cases say it.
pub(super) fn offload_error(e: OffloadError) -> AuthError {
    match e {
        OffloadError::Busy => AuthError::Overloaded,
        OffloadError::Lost => AuthError::Worker,
    }
}
