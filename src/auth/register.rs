//! Register: a new user with the default role. Valid input is admitted by the
//! registration budget (per client address, see [`super::throttle`]); the password is
//! hashed before any other write, and the unique index on the email decides who gets
//! it.

use tracing::{debug, info};

use super::audit::Describe;
use super::{Auth, AuthError, ClientInfo};
use crate::domain::{DEFAULT_ROLE, Email, Password, User, UserId};
use crate::store::{AuditKind, Store, StoreError, UserRow};

impl<S: Store> Auth<S> {
    /// Registers a user with the default role.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let rules = self.hasher.rules();
        let password =
            Password::new(password, rules).map_err(|problem| AuthError::WeakPassword {
                field: "password",
                problem,
                rules,
            })?;
        // Counted before the hash: each registration costs one, taken or not.
        self.throttle
            .admit_registration(&self.store, client, self.clock.now())
            .await?;
        let password_hash = match self.hasher.hash(&password).await {
            Ok(hash) => hash,
            Err(e) => {
                // Not the client's doing: the attempt is given back (best effort).
                let _ = self
                    .throttle
                    .release_registration(&self.store, client)
                    .await;
                return Err(AuthError::from_hashing(e));
            }
        };
        let user = UserRow {
            id: UserId::random(),
            email,
            password_hash,
            roles: vec![DEFAULT_ROLE.to_owned()],
            created_at: self.clock.now(),
            disabled_at: None,
            email_verified: false,
        };
        // No lookup first: the unique index decides, so concurrent registrations of
        // one email cannot both pass.
        let mut created = self.store.create_user(&user).await;
        if matches!(created, Err(StoreError::Conflict)) {
            // A deleted account's tombstone may hold the email past its reuse delay.
            let deleted_by = self.clock.now().saturating_sub(self.email_reuse_delay_secs);
            if self
                .store
                .reclaim_email(&user.email, deleted_by)
                .await
                .map_err(AuthError::from_store)?
            {
                created = self.store.create_user(&user).await;
            }
        }
        match created {
            Ok(()) => {
                info!(user_id = %user.id, client_address = client.address.as_deref(), "registered");
                let event = self.event(AuditKind::Registered, Some(client));
                self.audit(event.user(user.id)).await;
                Ok(user.into_user())
            }
            Err(StoreError::Conflict) => {
                debug!("registration refused: email taken");
                Err(AuthError::EmailTaken)
            }
            Err(e) => Err(AuthError::from_store(e)),
        }
    }
}
