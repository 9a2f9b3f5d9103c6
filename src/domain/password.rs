//! [`Password`] as typed, [`PasswordRules`] for new ones, and [`PasswordHash`] as
//! stored. No hashing algorithm's limits live here: the hashing sets the rules.

use std::fmt;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password looked at by Login, in bytes: anything longer is refused
/// before any hashing, so a huge password cannot buy CPU time.
pub const MAX_LOGIN_PASSWORD_BYTES: usize = 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
