//! The one access-token verification path.
//!
//! The rules, in order: the header must name `alg: RS256` (pinned: `none`, HS256 and
//! every other algorithm are refused, which closes the key-confusion attack where an
//! HS256 token is "signed" with the public key) and a `kid` we publish; the signature
//! must verify under that key; `iss` and `aud` must match the configuration; `exp`
//! must not have passed, `nbf` (if present) must have, both with a leeway for clock
//! skew. Time is an argument, so tests step the clock instead of sleeping.
//!
//! Whether the token's session was revoked is not a property of the token; the caller
//! checks it against its own revocation set and answers [`VerifyError::Revoked`].
//!
//! A token that passed is remembered in a bounded [`VerifiedCache`], so its next
//! sight skips the signature check; expiry and revocation are still checked on every
//! call (see [`super::cache`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use super::AccessClaims;
use super::cache::{DEFAULT_ENTRIES, VerifiedCache};
use super::keyset::KeySet;
use super::revoked::RevokedSessions;

/// The longest lifetime an access token may have (24 hours): `TESSERA_ACCESS_TTL`
/// allows no more, and a token whose `exp` lies further past its `iat` is refused.
pub const MAX_ACCESS_TTL_SECS: i64 = 24 * 3600;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token's `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// Malformed, wrong algorithm, bad signature, wrong issuer or audience, not yet valid.
    #[error("token invalid")]
    Invalid,
    /// The `kid` names no key in the key set.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// The token's session was logged out or revoked.
    #[error("token revoked")]
    Revoked,
    /// The verifier cannot vouch for the token right now: it has no keys yet, or (in
    /// fail-closed live mode) it lost the revocation stream for too long, or (remote
    /// mode) tessera could not be asked.
    #[error("verification unavailable")]
    Unavailable,
}

/// Verifies access tokens against a key set, an issuer and an audience.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<KeySet>,
    issuer: Arc<str>,
    audience: Arc<str>,
    leeway_secs: i64,
    cache: Arc<VerifiedCache>,
    /// Lookups in the cache that hit and missed, kept across every cache this
    /// verifier's successors take over.
    stats: Arc<CacheStats>,
}

/// How often the verified-token cache answered.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheStats {
    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that had to check the signature.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

impl TokenVerifier {
    /// A verifier that accepts tokens from `issuer` for `audience`, with `leeway_secs`
    /// of clock skew on `exp` and `nbf`, remembering up to [`DEFAULT_ENTRIES`] verified
    /// tokens.
    pub fn new(keys: KeySet, issuer: &str, audience: &str, leeway_secs: u64) -> Self {
        Self {
            keys: Arc::new(keys),
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: i64::try_from(leeway_secs).unwrap_or(i64::MAX),
            cache: Arc::new(VerifiedCache::new(DEFAULT_ENTRIES)),
            stats: Arc::default(),
        }
    }

    /// This verifier remembering up to `entries` verified tokens (0: none, so every
    /// call checks the signature). Starts empty.
    pub fn with_cache(mut self, entries: usize) -> Self {
        self.cache = Arc::new(VerifiedCache::new(entries));
        self
    }

    /// This verifier taking over `previous`'s cache, if both trust the same keys,
    /// issuer, audience and leeway: a reload that changed nothing keeps what was
    /// verified. With any difference it keeps its own empty cache.
    pub fn keeping_cache_of(mut self, previous: &TokenVerifier) -> Self {
        self.stats = previous.stats.clone();
        if self.keys.same_kids(&previous.keys)
            && self.issuer == previous.issuer
            && self.audience == previous.audience
            && self.leeway_secs == previous.leeway_secs
            && self.cache.capacity() == previous.cache.capacity()
        {
            self.cache = previous.cache.clone();
        }
        self
    }

    /// How many verified tokens are remembered.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// How often the cache answered.
    pub fn cache_stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Verifies `token` at time `now` (seconds since the Unix epoch): from the cache
    /// when these exact bytes verified before, else by the full check.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        if !self.cache.enabled() {
            let claims = self.verify_signed(token)?;
            self.check_times(&claims, now)?;
            return Ok(claims);
        }
        let key = crate::crypto::sha256(token.as_bytes());
        if let Some(claims) = self.cache.get(&key, now) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            self.check_times(&claims, now)?;
            return Ok(claims);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let claims = self.verify_signed(token)?;
        self.check_times(&claims, now)?;
        let valid_until = claims.exp.saturating_add(self.leeway_secs);
        self.cache.insert(key, claims.clone(), valid_until, now);
        Ok(claims)
    }

    /// The header, the signature, and the claims other than time.
    fn verify_signed(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        // Compact serialization: exactly three base64url parts (RFC 7515 §7.1).
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Invalid);
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        // Pinned: the header's `alg` must be RS256, never trusted to pick another.
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Invalid);
        }
        // RFC 7515 §4.1.11: a `crit` header names extensions the verifier must
        // understand; tessera understands none, so such a token is refused.
        if header.crit.is_some() {
            return Err(VerifyError::Invalid);
        }
        let kid = header.kid.ok_or(VerifyError::Invalid)?;
        let key = self.keys.get(&kid).ok_or(VerifyError::UnknownKey)?;
        // RSASSA-PKCS1-v1_5 with SHA-256 over `header.payload` (RFC 7518 §3.3).
        let signed = &token[..token.len() - signature.len() - 1];
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| VerifyError::Invalid)?;
        key.verify_sig(signed.as_bytes(), &signature)
            .map_err(|_| VerifyError::Invalid)?;
        // Only a signed payload is read. `iss`, `sub`, `aud`, `exp`, `iat`, `jti`,
        // `sid` are required by the type; `iss` and `aud` must be ours.
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| VerifyError::Invalid)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| VerifyError::Invalid)?;
        if claims.iss != *self.issuer || !claims.aud.iter().any(|a| *a == *self.audience) {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }

    /// `exp`, `nbf` and `iat` against `now`, with the leeway; and a lifetime no
    /// token tessera issues can have.
    fn check_times(&self, claims: &AccessClaims, now: i64) -> Result<(), VerifyError> {
        if claims.exp.saturating_add(self.leeway_secs) < now {
            return Err(VerifyError::Expired);
        }
        // Issued in the future, or living longer than any access token may: not a
        // token tessera signed in its right mind (RFC 8725 §3.10: check what you can).
        if claims.iat > now.saturating_add(self.leeway_secs)
            || claims.exp.saturating_sub(claims.iat) > MAX_ACCESS_TTL_SECS
        {
            return Err(VerifyError::Invalid);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway_secs))
        {
            return Err(VerifyError::Invalid);
        }
        Ok(())
    }

    /// Verifies `token` at `now` and refuses it if its session is in `revoked`: the
    /// whole check, as tessera's Verify RPC and the live verifier both run it.
    pub fn verify_unrevoked(
        &self,
        token: &str,
        now: i64,
        revoked: &RevokedSessions,
    ) -> Result<AccessClaims, VerifyError> {
        let claims = self.verify(token, now)?;
        if revoked.contains(&claims.sid) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::token::issue::{Subject, TokenIssuer};
    use crate::token::keys::SigningKey;

    const NOW: i64 = 1_000_000;
    /// A session id as tessera issues them: a UUID.
    const S1: &str = "3f2c8a4e-1b7d-4c55-9e0a-6d2b1f9c7e31";

    fn key() -> SigningKey {
        SigningKey::generate().expect("a key").0
    }

    fn verifier_over(key: &SigningKey) -> TokenVerifier {
        let mut set = KeySet::new();
        key.add_to(&mut set);
        TokenVerifier::new(set, "tessera", "tessera", 30)
    }

    fn token(key: &SigningKey, sid: &str) -> String {
        let issuer = TokenIssuer::new("tessera".into(), "tessera".into(), Duration::from_secs(60));
        let roles = ["user".to_owned()];
        let subject = Subject {
            user_id: "u",
            session_id: sid,
            email: "a@example.com",
            roles: &roles,
            email_verified: false,
        };
        issuer.issue(key, &subject, NOW).expect("signed").0
    }

    #[test]
    fn only_three_parts_signed_by_the_key_with_our_iss_aud_and_sub_verify() {
        let key = key();
        let verifier = verifier_over(&key).with_cache(0);
        let good = token(&key, "s");
        assert!(verifier.verify(&good, NOW).is_ok());
        assert_eq!(
            verifier.verify(&format!("{good}.x"), NOW),
            Err(VerifyError::Invalid)
        );
        // The payload swapped for another, the signature kept.
        let (header, rest) = good.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let claims = |c: serde_json::Value| URL_SAFE_NO_PAD.encode(c.to_string());
        let fair = serde_json::json!({
            "iss": "tessera", "aud": "tessera", "sub": "u", "exp": NOW + 60, "iat": NOW,
            "jti": "j", "sid": "s", "email": "a@example.com", "roles": ["admin"],
        });
        let swapped = format!("{header}.{}.{signature}", claims(fair.clone()));
        assert_eq!(verifier.verify(&swapped, NOW), Err(VerifyError::Invalid));
        // Signed by the key, but missing `sub`, or for another issuer or audience.
        let signed = |c: serde_json::Value| key.sign_jws(c.to_string().as_bytes()).unwrap();
        assert!(verifier.verify(&signed(fair.clone()), NOW).is_ok());
        for (field, value) in [
            ("sub", serde_json::Value::Null),
            ("iss", "other".into()),
            ("aud", "other".into()),
        ] {
            let mut c = fair.clone();
            if value.is_null() {
                c.as_object_mut().unwrap().remove(field);
            } else {
                c[field] = value;
            }
            assert_eq!(
                verifier.verify(&signed(c), NOW),
                Err(VerifyError::Invalid),
                "{field}"
            );
        }
    }

    #[test]
    fn keys_under_2048_bits_are_not_trusted() {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let mut set = KeySet::new();
        assert_eq!(
            set.insert_rsa_components("small", &n, "AQAB"),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn a_cached_token_still_expires_and_is_still_revoked() {
        let key = key();
        let verifier = verifier_over(&key);
        let token = token(&key, S1);
        assert!(verifier.verify(&token, NOW).is_ok());
        assert_eq!(verifier.cached(), 1);
        // exp is NOW + 60, leeway 30.
        assert!(verifier.verify(&token, NOW + 90).is_ok());
        assert_eq!(verifier.verify(&token, NOW + 91), Err(VerifyError::Expired));

        let revoked = RevokedSessions::new();
        assert!(verifier.verify_unrevoked(&token, NOW, &revoked).is_ok());
        revoked.insert(S1, NOW + 100);
        assert_eq!(
            verifier.verify_unrevoked(&token, NOW, &revoked),
            Err(VerifyError::Revoked)
        );
    }

    #[test]
    fn only_the_exact_bytes_hit_and_failures_are_not_remembered() {
        let key = key();
        let verifier = verifier_over(&key);
        let token = token(&key, S1);
        assert!(verifier.verify(&token, NOW).is_ok());
        let (rest, signature) = token.rsplit_once('.').expect("a JWT");
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{rest}.{flipped}{}", &signature[1..]);
        assert_eq!(verifier.verify(&forged, NOW), Err(VerifyError::Invalid));
        assert_eq!(verifier.verify(&forged, NOW), Err(VerifyError::Invalid));
        assert_eq!(verifier.cached(), 1);
    }

    #[test]
    fn the_cache_carries_over_only_to_a_verifier_of_the_same_keys() {
        let (a, b) = (key(), key());
        let old = verifier_over(&a);
        let token = token(&a, "s1");
        assert!(old.verify(&token, NOW).is_ok());

        let same = verifier_over(&a).keeping_cache_of(&old);
        assert_eq!(same.cached(), 1);

        // Key a withdrawn: its tokens must fail, not hit the cache of the old set.
        let other = verifier_over(&b).keeping_cache_of(&old);
        assert_eq!(other.cached(), 0);
        assert_eq!(other.verify(&token, NOW), Err(VerifyError::UnknownKey));

        // Another audience must not inherit what was checked against the first.
        let mut set = KeySet::new();
        a.add_to(&mut set);
        let elsewhere = TokenVerifier::new(set, "tessera", "billing", 30).keeping_cache_of(&old);
        assert_eq!(elsewhere.verify(&token, NOW), Err(VerifyError::Invalid));
    }

    #[test]
    fn with_the_cache_off_nothing_is_remembered() {
        let key = key();
        let verifier = verifier_over(&key).with_cache(0);
        let token = token(&key, S1);
        assert!(verifier.verify(&token, NOW).is_ok());
        assert!(verifier.verify(&token, NOW).is_ok());
        assert_eq!(verifier.cached(), 0);
    }
}
