//! Values that validated on construction. Each has a private inner field, so its
//! constructor is the only way in and a function that takes one needs no re-check.

mod email;
mod password;

use std::fmt;

use uuid::Uuid;

pub use email::{Email, EmailError, MAX_EMAIL_BYTES};
pub use password::{
    MAX_LOGIN_PASSWORD_BYTES, MIN_PASSWORD_CHARS, Password, PasswordError, PasswordHash,
    PasswordRules,
};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random id (UUID v4 from the system's CSPRNG).
            pub fn random() -> Self {
                let mut bytes = [0u8; 16];
                crate::crypto::random_bytes(&mut bytes);
                $name(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// Parses the hyphenated UUID form.
            pub fn parse(raw: &str) -> Option<Self> {
                Uuid::try_parse(raw).ok().map($name)
            }

            /// The id's 16 bytes.
            pub fn into_bytes(self) -> [u8; 16] {
                self.0.into_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user's id; the `sub` claim of their access tokens.
    UserId
);
uuid_id!(
    /// A session's id: one login and the chain of refreshes that follows it; the `sid` claim.
    SessionId
);

/// A user as the use cases hand it out: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub roles: Vec<String>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// When an admin disabled the user, if they are disabled.
    pub disabled_at: Option<i64>,
    /// Whether the user proved they receive mail at their email (VerifyEmail).
    pub email_verified: bool,
}

/// The role every user is given at registration.
pub const DEFAULT_ROLE: &str = "user";

/// A role name: 1 to 64 of lower-case ASCII letters, digits, `-`, `_`, `.` and `:`.
/// Roles are stored comma-separated and travel in tokens, so nothing else is let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role(String);

impl Role {
    /// Validates `raw` (trimmed) as a role name.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let allowed = |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | ':')
        };
        (!raw.is_empty() && raw.len() <= 64 && raw.chars().all(allowed))
            .then(|| Self(raw.to_owned()))
    }

    /// The role's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_a_narrow_alphabet() {
        assert_eq!(Role::parse(" admin ").unwrap().as_str(), "admin");
        assert!(Role::parse("orders:write").is_some());
        for bad in ["", "Admin", "a,b", "a b", &"x".repeat(65)] {
            assert!(Role::parse(bad).is_none(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = UserId::random();
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        assert_ne!(SessionId::random(), SessionId::random());
    }
}
