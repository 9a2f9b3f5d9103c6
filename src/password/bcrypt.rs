//! bcrypt, the algorithm before argon2id: still verified, and chosen with
//! `TESSERA_PASSWORD_HASH=bcrypt`. Its hashes are in modular crypt form
//! (`$2b$<cost>$<salt+digest>`), which names the algorithm and cost, so a stored hash
//! says how to check it.
//!
//! bcrypt reads at most 72 bytes of a password. Registration refuses longer ones
//! (the rules say so), and a longer one at login never matches, in the same time.

use crate::domain::{Password, PasswordHash, PasswordRules};

/// The most bytes of a password bcrypt reads.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// The costs bcrypt accepts.
pub const COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// What a new password must be under bcrypt.
pub const RULES: PasswordRules = PasswordRules {
    max_bytes: MAX_PASSWORD_BYTES,
};

/// Whether `hash` is a bcrypt hash (any of the `$2a$`, `$2b$`, `$2x$`, `$2y$` forms).
pub fn is_bcrypt(hash: &PasswordHash) -> bool {
    let text = hash.expose();
    text.len() > 4 && text.starts_with("$2") && text.as_bytes()[3] == b'$'
}

/// Hashes `password` at `cost` with a fresh salt. `Password` holds at most
/// [`MAX_PASSWORD_BYTES`] under [`RULES`], so nothing of it is truncated.
pub fn hash(password: &Password, cost: u32) -> Result<PasswordHash, ::bcrypt::BcryptError> {
    let mut salt = [0u8; 16];
    crate::crypto::random_bytes(&mut salt);
    // At 72 bytes bcrypt drops only its own NUL terminator, which the crate's
    // non-truncating variant counts and refuses.
    ::bcrypt::hash_with_salt(password.expose(), cost, salt)
        .map(|h| PasswordHash::new(h.to_string()))
}

/// Whether `password` matches `hash`. A password longer than bcrypt reads never
/// matches (bcrypt would compare its first 72 bytes only), but its first 72 bytes
/// are still verified, so the answer takes the same time.
pub fn verify(password: &Password, hash: &PasswordHash) -> bool {
    let bytes = password.expose().as_bytes();
    let fits = bytes.len() <= MAX_PASSWORD_BYTES;
    let matched = ::bcrypt::verify(&bytes[..bytes.len().min(MAX_PASSWORD_BYTES)], hash.expose())
        .unwrap_or(false);
    matched && fits
}

/// The cost a bcrypt hash names, if it is one.
pub fn cost_of(hash: &PasswordHash) -> Option<u32> {
    if !is_bcrypt(hash) {
        return None;
    }
    hash.expose().get(4..6)?.parse().ok()
}

/// A bcrypt hash string that names `cost` and that no password matches.
///
/// bcrypt verify reads the cost and salt from the string, runs the full key schedule
/// at that cost, and only then compares with the stored digest. So any string naming
/// `cost` costs exactly one real verify, whatever its digest. This one is the cost-4
/// digest of a random secret nobody knows, relabelled with `cost`: at `cost` no
/// password yields it (as likely as guessing a 184-bit digest). Making it takes a
/// millisecond, where hashing at cost 12 would hold up every start by a quarter of a
/// second.
pub fn dummy(cost: u32) -> Result<PasswordHash, ::bcrypt::BcryptError> {
    if !COSTS.contains(&cost) {
        return Err(::bcrypt::BcryptError::CostNotAllowed(cost));
    }
    let mut salt = [0u8; 16];
    crate::crypto::random_bytes(&mut salt);
    let mut secret = [0u8; 32];
    crate::crypto::random_bytes(&mut secret);
    let cheap = ::bcrypt::hash_with_salt(secret, 4, salt)?.to_string();
    Ok(PasswordHash::new(cheap.replacen(
        "$04$",
        &format!("${cost:02}$"),
        1,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_a_full_verify_at_its_cost_and_matches_nothing() {
        let dummy = dummy(10).unwrap();
        let real = ::bcrypt::hash("password", 10).unwrap();
        let time = |hash: &str| {
            let started = std::time::Instant::now();
            let matched = ::bcrypt::verify("password", hash).unwrap();
            (matched, started.elapsed())
        };
        // Interleaved, the fastest of three each: load on the machine slows both alike.
        let mut dummy_best = std::time::Duration::MAX;
        let mut real_best = std::time::Duration::MAX;
        for _ in 0..3 {
            let (matched, took) = time(dummy.expose());
            assert!(!matched);
            dummy_best = dummy_best.min(took);
            let (matched, took) = time(&real);
            assert!(matched);
            real_best = real_best.min(took);
        }
        // Cost 10 against cost 4 is 64 times the work: a relabelled digest that bcrypt
        // verified at cost 4 would be far below half.
        assert!(
            dummy_best * 2 > real_best,
            "{dummy_best:?} vs {real_best:?}"
        );
    }

    #[test]
    fn the_dummy_hash_names_its_cost_and_only_allowed_costs_are_made() {
        assert!(dummy(5).unwrap().expose().starts_with("$2b$05$"));
        assert!(dummy(3).is_err());
        assert!(dummy(32).is_err());
    }

    #[test]
    fn bcrypt_hashes_are_recognised_by_their_prefix() {
        let hash = dummy(4).unwrap();
        assert!(is_bcrypt(&hash));
        assert_eq!(cost_of(&hash), Some(4));
        assert_eq!(cost_of(&dummy(11).unwrap()), Some(11));
        assert!(!is_bcrypt(&PasswordHash::new(
            "$argon2id$v=19$m=19456".into()
        )));
        assert!(!is_bcrypt(&PasswordHash::new(String::new())));
    }
}
