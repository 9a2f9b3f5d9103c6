//! Opaque refresh tokens: 256 random bits, base64url. Only their SHA-256 is stored,
//! so a copy of the database cannot be replayed as tokens.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A refresh token. Its `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A new token from the system CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        crate::crypto::random_bytes(&mut bytes);
        RefreshToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a client presented it. `None` if empty. Anything else is looked up by
    /// hash; a malformed one simply matches nothing.
    pub fn from_client(raw: String) -> Option<Self> {
        (!raw.is_empty()).then_some(RefreshToken(raw))
    }

    /// The token that follows this one when refresh retries are forgiven: an HMAC of
    /// this token under `key`, so it is the same however often it is derived, and no
    /// one without the key can derive it.
    pub fn successor(&self, key: &aws_lc_rs::hmac::Key) -> Self {
        let tag = aws_lc_rs::hmac::sign(key, self.0.as_bytes());
        RefreshToken(URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The SHA-256 the store keeps.
    pub fn hash(&self) -> [u8; 32] {
        crate::crypto::sha256(self.0.as_bytes())
    }

    /// The token itself, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_carry_256_bits_and_differ() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn a_successor_is_the_same_for_the_same_token_and_key_only() {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]);
        let token = RefreshToken::generate();
        assert_eq!(token.successor(&key), token.successor(&key));
        assert_ne!(token.successor(&key), token.successor(&other));
        assert_ne!(
            token.successor(&key),
            RefreshToken::generate().successor(&key)
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(token.successor(&key).expose())
                .unwrap()
                .len(),
            32
        );
    }
}
