//! argon2id (RFC 9106), the default: memory-hard, and it reads the whole password.
//! Hashes are PHC strings (`$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<digest>`),
//! which name the algorithm and parameters, so a stored hash says how to check it.
//!
//! The defaults are OWASP's recommendation (m = 19 MiB, t = 2, p = 1). A password may
//! be as long as Login reads (1 KiB).
//!
//! **One block of memory per hashing thread.** argon2's own `hash_password` allocates
//! its `m` KiB for every hash and frees it after. glibc serves a block that size from
//! a thread's arena once it has freed one (its mmap threshold grows to match), and
//! the arenas kept what they had served: a server pinned to one core, with one
//! hashing thread, held 177 MiB after a few hundred registrations and logins. Here
//! each thread that hashes keeps one buffer of blocks, grown to the largest cost it
//! has computed, and hands it to argon2 for every hash
//! (`hash_password_into_with_memory`). So the memory hashing holds is the hashing
//! threads times the cost, and no hash pays for the allocation and zeroing of its
//! 19 MiB. The buffer holds a hash's working memory until the next hash overwrites
//! it, as the freed blocks did before in the allocator (neither was ever zeroed): it
//! is the process's own memory, and what it holds is derived from the password as the
//! stored hash is.

use std::cell::RefCell;

use argon2::password_hash::Output;
use argon2::{Argon2, Block, Params, Version};
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

/// The length of the digest tessera's hashes carry (argon2's default).
const DIGEST_BYTES: usize = 32;

thread_local! {
    /// This thread's argon2 memory, kept between hashes (see the module doc).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes `argon`'s digest of `password` and `salt` into `out`, in this thread's
/// kept memory.
fn compute(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), String> {
    let needed = argon.params().block_count();
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < needed {
            blocks.resize(needed, Block::new());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
            .map_err(|e| e.to_string())
    })
}

/// Hashes `password` at `cost` with a fresh 16-byte salt.
pub fn hash(password: &Password, cost: Cost) -> Result<PasswordHash, String> {
    let mut salt = [0u8; 16];
    crate::crypto::random_bytes(&mut salt);
    let mut digest = [0u8; DIGEST_BYTES];
    compute(
        &hasher(cost)?,
        password.expose().as_bytes(),
        &salt,
        &mut digest,
    )?;
    Ok(phc(cost, &salt, &digest))
}

/// Whether `password` matches `hash`, computed with the cost the hash names; the
/// digests are compared in constant time.
pub fn verify(password: &Password, hash: &PasswordHash) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash.expose()) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return false;
    }
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(argon2::Algorithm::Argon2id, version, params);
    let mut digest = vec![0u8; expected.len()];
    if compute(&argon, password.expose().as_bytes(), salt, &mut digest).is_err() {
        return false;
    }
    Output::new(&digest).is_ok_and(|digest| digest == expected)
}

/// The PHC string of an argon2id digest.
fn phc(cost: Cost, salt: &[u8], digest: &[u8]) -> PasswordHash {
    PasswordHash::new(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(digest),
    ))
}

/// An argon2id hash naming `cost` that no password matches: a random salt and a
/// random digest. argon2 computes the full hash at the named cost before it compares,
/// so verifying against it takes exactly as long as against a real one, and nothing
/// is computed to make it.
pub fn dummy(cost: Cost) -> Result<PasswordHash, String> {
    cost.check()?;
    let mut salt = [0u8; 16];
    crate::crypto::random_bytes(&mut salt);
    let mut digest = [0u8; DIGEST_BYTES];
    crate::crypto::random_bytes(&mut digest);
    Ok(phc(cost, &salt, &digest))
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
    fn hashes_agree_with_the_argon2_crate_s_own_phc_path_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
        let pw = password("correct horse");
        let ours = hash(&pw, CHEAP).unwrap();
        let parsed = argon2::PasswordHash::new(ours.expose()).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"other", &parsed)
                .is_err()
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let theirs = hasher(CHEAP)
            .unwrap()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let theirs = PasswordHash::new(theirs);
        assert!(verify(&pw, &theirs));
        assert!(!verify(&password("correct horsf"), &theirs));
        // Not argon2id, or damaged: never a match.
        let argon2i = theirs.expose().replace("$argon2id$", "$argon2i$");
        assert!(!verify(&pw, &PasswordHash::new(argon2i)));
        let cut = &theirs.expose()[..theirs.expose().len() - 4];
        assert!(!verify(&pw, &PasswordHash::new(cut.into())));
    }

    #[test]
    fn a_thread_keeps_one_buffer_the_size_of_the_largest_cost_it_computed() {
        std::thread::spawn(|| {
            let pw = password("correct horse");
            let kept = || BLOCKS.with_borrow(|b| (b.len(), b.as_ptr()));
            assert_eq!(kept().0, 0);
            let big = Cost {
                memory_kib: 2048,
                ..CHEAP
            };
            verify(&pw, &hash(&pw, big).unwrap());
            let (len, at) = kept();
            assert_eq!(len, 2048, "a block is 1 KiB");
            // Smaller and equal costs reuse it where it is.
            assert!(verify(&pw, &hash(&pw, CHEAP).unwrap()));
            assert!(verify(&pw, &hash(&pw, big).unwrap()));
            assert_eq!(kept(), (len, at));
        })
        .join()
        .unwrap();
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
