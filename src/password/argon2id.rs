//! argon2id (RFC 9106), the default: memory-hard, and it reads the whole password.
//! Hashes are PHC strings (`$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<digest>`),
//! which name the algorithm and parameters, so a stored hash says how to check it.
//!
//! The defaults are OWASP's recommendation (m = 19 MiB, t = 2, p = 1). A password may
//! be as long as Login reads (1 KiB).

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::domain::{MAX_LOGIN_PASSWORD_BYTES, Password, PasswordHash, PasswordRules};

/// What a new password must be under argon2id: up to what Login reads.
pub const RULES: PasswordRules = PasswordRules {
    max_bytes: MAX_LOGIN_PASSWORD_BYTES,
};

/// argon2id's cost: memory in KiB, passes over it, and lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Cost {
    /// OWASP's recommendation: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: Cost = Cost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    fn params(self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| e.to_string())
    }

    /// Whether argon2 accepts this cost (memory at least 8 KiB per lane, at least
    /// one pass, one lane or more).
    pub fn check(self) -> Result<(), String> {
        self.params().map(|_| ())
    }
}

fn hasher(cost: Cost) -> Result<Argon2<'static>, String> {
    Ok(Argon2::new(
        argon2::Algorithm::Argon2id,
        Version::V0x13,
        cost.params()?,
    ))
}

/// Whether `hash` is an argon2id PHC string.
pub fn is_argon2id(hash: &PasswordHash) -> bool {
    hash.expose().starts_with("$argon2id$")
}

/// The cost an argon2id hash names, if it is one.
pub fn cost_of(hash: &PasswordHash) -> Option<Cost> {
    let parsed = argon2::PasswordHash::new(hash.expose()).ok()?;
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return None;
    }
    let params = Params::try_from(&parsed).ok()?;
    Some(Cost {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    })
}

/// Hashes `password` at `cost` with a fresh 16-byte salt.
pub fn hash(password: &Password, cost: Cost) -> Result<PasswordHash, String> {
    let mut salt = [0u8; 16];
    crate::crypto::random_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let hash = hasher(cost)?
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|e| e.to_string())?;
    Ok(PasswordHash::new(hash.to_string()))
}

/// Whether `password` matches `hash`, computed with the cost the hash names.
pub fn verify(password: &Password, hash: &PasswordHash) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash.expose()) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// An argon2id hash naming `cost` that no password matches: a random salt and a
/// random digest. argon2 computes the full hash at the named cost before it compares,
/// so verifying against it takes exactly as long as against a real one, and nothing
/// is computed to make it.
pub fn dummy(cost: Cost) -> Result<PasswordHash, String> {
    cost.check()?;
    let mut salt = [0u8; 16];
    crate::crypto::random_bytes(&mut salt);
    let mut digest = [0u8; 32];
    crate::crypto::random_bytes(&mut digest);
    Ok(PasswordHash::new(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(digest),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Cost = Cost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn password(raw: &str) -> Password {
        Password::new(raw.into(), RULES).unwrap()
    }

    #[test]
    fn a_hash_names_its_cost_and_verifies_its_password_only() {
        let pw = password("correct horse");
        let hash = hash(&pw, CHEAP).unwrap();
        assert!(hash.expose().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(is_argon2id(&hash));
        assert_eq!(cost_of(&hash), Some(CHEAP));
        assert!(verify(&pw, &hash));
        assert!(!verify(&password("battery staple"), &hash));
    }

    #[test]
    fn a_long_password_counts_to_its_last_byte() {
        let long = "x".repeat(1000);
        let hash = hash(&password(&long), CHEAP).unwrap();
        assert!(verify(&password(&long), &hash));
        let other = format!("{}y", &long[..999]);
        assert!(!verify(&password(&other), &hash));
    }

    #[test]
    fn the_dummy_costs_a_full_verify_at_its_cost_and_matches_nothing() {
        let cost = Cost {
            memory_kib: 8 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        let dummy = dummy(cost).unwrap();
        assert_eq!(cost_of(&dummy), Some(cost));
        let pw = password("correct horse");
        let real = hash(&pw, cost).unwrap();
        let time = |hash: &PasswordHash| {
            let started = std::time::Instant::now();
            let matched = verify(&pw, hash);
            (matched, started.elapsed())
        };
        // Interleaved, the fastest of three each: load slows both alike.
        let (mut dummy_best, mut real_best) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..3 {
            let (matched, took) = time(&dummy);
            assert!(!matched);
            dummy_best = dummy_best.min(took);
            let (matched, took) = time(&real);
            assert!(matched);
            real_best = real_best.min(took);
        }
        // A dummy that argon2 refused early (a malformed string) would take microseconds.
        assert!(
            dummy_best * 2 > real_best && real_best * 2 > dummy_best,
            "{dummy_best:?} vs {real_best:?}"
        );
    }

    #[test]
    fn costs_argon2_refuses_are_refused() {
        let no_memory = Cost {
            memory_kib: 4,
            ..CHEAP
        };
        assert!(no_memory.check().is_err());
        assert!(dummy(no_memory).is_err());
        let no_pass = Cost {
            iterations: 0,
            ..CHEAP
        };
        assert!(no_pass.check().is_err());
        assert!(cost_of(&PasswordHash::new("$2b$04$abc".into())).is_none());
    }
}
