//! Values that validated on construction. Each has a private inner field, so its
//! constructor is the only way in and a function that takes one needs no re-check.

use std::fmt;

use uuid::Uuid;

/// The longest email accepted, in bytes (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password looked at by Login, in bytes: anything longer is refused
/// before any hashing, so a huge password cannot buy CPU time.
pub const MAX_LOGIN_PASSWORD_BYTES: usize = 1024;

/// Why an email was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is missing")]
    Missing,
    #[error("email is longer than {MAX_EMAIL_BYTES} bytes")]
    TooLong,
    #[error("email is not of the form local@domain.tld")]
    Malformed,
}

/// A normalized email: trimmed, lower-cased, at most 254 bytes, `local@domain.tld`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and checks an email. Two inputs that differ only in case or
    /// surrounding whitespace give the same `Email`, which is what the unique index sees.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Missing);
        }
        if trimmed.len() > MAX_EMAIL_BYTES {
            return Err(EmailError::TooLong);
        }
        let email = trimmed.to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(EmailError::Malformed)?;
        let local_ok = !local.is_empty() && local.len() <= 64;
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let chars_ok = email
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        if !(local_ok && domain_ok && chars_ok) {
            return Err(EmailError::Malformed);
        }
        Ok(Email(email))
    }

    /// The normalized form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds an email the store read back; it was normalized when written.
    pub(crate) fn from_store(value: String) -> Self {
        Email(value)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a password was refused at registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password is missing")]
    Missing,
    #[error("password is shorter than {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password is longer than {max_bytes} bytes")]
    TooLong { max_bytes: usize },
}

/// What a new password must be: at least [`MIN_PASSWORD_CHARS`] characters and at
/// most `max_bytes` bytes. The maximum is the password hashing's to set (it is what
/// the algorithm reads), so it is data here, not a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRules {
    pub max_bytes: usize,
}

impl fmt::Display for PasswordRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MIN_PASSWORD_CHARS} characters to {} bytes",
            self.max_bytes
        )
    }
}

/// A password fit to hash. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks a new password against `rules`. Bytes past the maximum would be
    /// silently ignored by the hashing, so a longer password is refused rather than
    /// truncated.
    pub fn new(raw: String, rules: PasswordRules) -> Result<Self, PasswordError> {
        if raw.is_empty() {
            return Err(PasswordError::Missing);
        }
        if raw.len() > rules.max_bytes {
            return Err(PasswordError::TooLong {
                max_bytes: rules.max_bytes,
            });
        }
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Password(raw))
    }

    /// A password as typed at login: only bounded, never judged, so the rules in
    /// force at registration cannot be probed through Login. `None` if it is empty or
    /// longer than [`MAX_LOGIN_PASSWORD_BYTES`].
    pub fn for_login(raw: String) -> Option<Self> {
        (!raw.is_empty() && raw.len() <= MAX_LOGIN_PASSWORD_BYTES).then_some(Password(raw))
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A stored password hash in its self-describing text form (modular crypt or PHC:
/// `$2b$12$…`, `$argon2id$…`), so the algorithm and its cost travel with it. Its
/// `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A hash as the hashing produced it, or as the store read it back.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The hash text, for the store and the hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

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
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice.Smith@Example.COM \t").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn emails_differing_in_case_and_padding_are_equal() {
        assert_eq!(
            Email::parse("Bob@Example.com").unwrap(),
            Email::parse(" bob@example.com ").unwrap()
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@example..com",
            "a@-example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(Email::parse("   "), Err(EmailError::Missing));
    }

    #[test]
    fn email_over_254_bytes_is_refused_and_254_is_accepted() {
        let domain = format!(
            "{}.{}.{}.com",
            "d".repeat(63),
            "e".repeat(63),
            "f".repeat(63)
        );
        let fits = format!(
            "{}@{domain}",
            "a".repeat(MAX_EMAIL_BYTES - 1 - domain.len())
        );
        assert_eq!(fits.len(), MAX_EMAIL_BYTES);
        assert!(Email::parse(&fits).is_ok());
        let over = format!("a{fits}");
        assert_eq!(Email::parse(&over), Err(EmailError::TooLong));
    }

    const RULES: PasswordRules = PasswordRules { max_bytes: 72 };

    #[test]
    fn password_needs_eight_characters() {
        assert_eq!(
            Password::new(String::new(), RULES).err(),
            Some(PasswordError::Missing)
        );
        assert_eq!(
            Password::new("1234567".into(), RULES).err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::new("12345678".into(), RULES).is_ok());
        // Eight characters, more bytes: characters are what count for the minimum.
        assert!(Password::new("äöüßéèêë".into(), RULES).is_ok());
    }

    #[test]
    fn password_over_the_maximum_is_refused_never_truncated() {
        assert!(Password::new("a".repeat(72), RULES).is_ok());
        let too_long = Some(PasswordError::TooLong { max_bytes: 72 });
        assert_eq!(Password::new("a".repeat(73), RULES).err(), too_long);
        // 37 two-byte characters: 37 characters but 74 bytes.
        assert_eq!(Password::new("é".repeat(37), RULES).err(), too_long);
        assert_eq!(RULES.to_string(), "8 characters to 72 bytes");
    }

    #[test]
    fn login_password_is_bounded_at_one_kib() {
        assert!(Password::for_login("x".repeat(1024)).is_some());
        assert!(Password::for_login("x".repeat(1025)).is_none());
        assert!(Password::for_login(String::new()).is_none());
    }

    #[test]
    fn password_debug_prints_nothing_of_it() {
        let p = Password::new("correct horse".into(), RULES).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = UserId::random();
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        assert_ne!(SessionId::random(), SessionId::random());
    }
}
