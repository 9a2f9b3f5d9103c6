//! Register: a new user with the default role. The password is hashed before any
//! write, and the unique index on the email decides who gets it.

use tracing::{debug, info};

use super::{Auth, AuthError, ClientInfo};
use crate::domain::{DEFAULT_ROLE, Email, Password, User, UserId};
use crate::store::{Store, StoreError, UserRow};

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
        let password = Password::new(password, rules)
            .map_err(|problem| AuthError::WeakPassword { problem, rules })?;
        let password_hash = self
            .hasher
            .hash(&password)
            .await
            .map_err(AuthError::from_hashing)?;
        let user = UserRow {
            id: UserId::random(),
            email,
            password_hash,
            roles: vec![DEFAULT_ROLE.to_owned()],
            created_at: self.clock.now(),
        };
        // No lookup first: the unique index decides, so concurrent registrations of
        // one email cannot both pass.
        match self.store.create_user(&user).await {
            Ok(()) => {
                info!(user_id = %user.id, client_address = client.address.as_deref(), "registered");
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
