//! `tessera bench --calibrate`: the machine's own floors, measured without a server
//! on the calling thread: one raw bcrypt verify, one raw argon2id hash at the default
//! cost (the argon2 crate alone, its memory allocated once), and raw RSA-2048 PKCS#1 v1.5 SHA-256
//! signatures and checks with the key already loaded (aws-lc-rs alone, none of
//! tessera's code). tessera's own token paths are measured beside them, so each
//! reads as a ratio of the floor.

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, KeyPair as _};
use serde::Serialize;

use super::plan::LoadError;

/// The machine's own floors, and tessera's token paths against them.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The bcrypt cost measured.
    pub bcrypt_cost: u32,
    /// Median milliseconds of one bcrypt verify at that cost.
    pub bcrypt_verify_ms: f64,
    /// The argon2id cost measured (tessera's default), as `m=<KiB>,t=<passes>,p=<lanes>`.
    pub argon2id_cost: String,
    /// Median milliseconds of one raw argon2id hash at that cost.
    pub argon2id_hash_ms: f64,
    /// Floor: raw RSA-2048 signatures per second on one core, key loaded.
    pub rsa2048_sign_per_sec: f64,
    /// Floor: raw RSA-2048 signature checks per second on one core, key parsed.
    pub rsa2048_verify_per_sec: f64,
    /// tessera: access tokens issued per second on one core (claims, JSON, sign).
    pub token_issue_per_sec: f64,
    /// tessera: access tokens verified per second on one core, cache off.
    pub token_verify_per_sec: f64,
}

impl Calibration {
    /// The figures as text.
    pub fn to_text(&self) -> String {
        format!(
            "bcrypt verify at cost {}: {:.1} ms (so {:.2}/s per core)\n\
             argon2id hash at {}: {:.1} ms (so {:.2}/s per core)\n\
             floor: RSA-2048 sign (key loaded): {:.0}/s per core\n\
             floor: RSA-2048 verify (key parsed): {:.0}/s per core\n\
             tessera access token issued: {:.0}/s per core ({:.2} of the sign floor)\n\
             tessera access token verified (no cache): {:.0}/s per core ({:.2} of the verify floor)\n",
            self.bcrypt_cost,
            self.bcrypt_verify_ms,
            1000.0 / self.bcrypt_verify_ms,
            self.argon2id_cost,
            self.argon2id_hash_ms,
            1000.0 / self.argon2id_hash_ms,
            self.rsa2048_sign_per_sec,
            self.rsa2048_verify_per_sec,
            self.token_issue_per_sec,
            self.token_issue_per_sec / self.rsa2048_sign_per_sec,
            self.token_verify_per_sec,
            self.token_verify_per_sec / self.rsa2048_verify_per_sec,
        )
    }
}

/// The median of `rounds` timings of `f`, in milliseconds.
fn median_ms(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// How many times `f` runs per second, over about a second.
fn rate(mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        f();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Measures one bcrypt verify at `cost` and one argon2id hash at tessera's default
/// cost (medians of `rounds`), then the RSA-2048 floors
/// and tessera's token paths over about a second each. Blocks the calling thread.
pub fn calibrate(cost: u32, rounds: usize) -> Result<Calibration, LoadError> {
    use crate::token::issue::{Subject, TokenIssuer};
    use crate::token::keys::SigningKey;
    use crate::token::{KeySet, TokenVerifier};

    let failed = |what: &'static str| {
        move |e: String| LoadError::Prepare {
            step: what,
            status: e,
        }
    };
    let hash =
        bcrypt::hash("calibration-password", cost).map_err(|e| failed("bcrypt")(e.to_string()))?;
    let bcrypt_verify_ms = median_ms(rounds, || {
        let _ = bcrypt::verify("calibration-password", &hash);
    });
    let argon = crate::password::argon2id::Cost::DEFAULT;
    let params = argon2::Params::new(argon.memory_kib, argon.iterations, argon.parallelism, None)
        .map_err(|e| failed("argon2id")(e.to_string()))?;
    let argon2id = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut digest = [0u8; 32];
    // The computation alone: its memory allocated once, as tessera's hashing threads
    // keep theirs, so the floor is argon2's work and not the allocator's.
    let mut blocks = vec![argon2::Block::new(); argon2id.params().block_count()];
    let argon2id_hash_ms = median_ms(rounds, || {
        let _ = argon2id.hash_password_into_with_memory(
            b"calibration-password",
            b"calibration-salt",
            &mut digest,
            &mut blocks,
        );
    });

    let (key, pem) = SigningKey::generate().map_err(|e| failed("key")(e.to_string()))?;

    // The floors: aws-lc-rs alone, on a message the size of an access token.
    let der = pem::parse(&pem).map_err(|e| failed("key")(e.to_string()))?;
    let pair = signature::RsaKeyPair::from_pkcs8(der.contents())
        .map_err(|e| failed("key")(e.to_string()))?;
    let public = signature::ParsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public_key().as_ref(),
    )
    .map_err(|e| failed("key")(e.to_string()))?;
    let message = [b'x'; 400];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; pair.public_modulus_len()];
    let rsa2048_sign_per_sec = rate(|| {
        let _ = pair.sign(&signature::RSA_PKCS1_SHA256, &rng, &message, &mut sig);
    });
    let rsa2048_verify_per_sec = rate(|| {
        let _ = public.verify_sig(&message, &sig);
    });

    // tessera's own paths.
    let issuer = TokenIssuer::new("tessera".into(), "tessera".into(), Duration::from_secs(900));
    let roles = ["user".to_owned()];
    let subject = Subject {
        user_id: "00000000-0000-0000-0000-000000000000",
        session_id: "00000000-0000-0000-0000-000000000001",
        email: "calibration@example.com",
        roles: &roles,
        email_verified: false,
    };
    let now = crate::clock::unix_now();
    let mut tokens = Vec::new();
    let token_issue_per_sec = rate(|| {
        if let Ok((token, _)) = issuer.issue(&key, &subject, now) {
            tokens.push(token);
        }
    });
    if tokens.is_empty() {
        return Err(failed("sign")("no token was signed".into()));
    }
    let mut set = KeySet::new();
    key.add_to(&mut set);
    let verifier = TokenVerifier::new(set, "tessera", "tessera", 30).with_cache(0);
    verifier
        .verify(&tokens[0], now)
        .map_err(|e| failed("verify")(e.to_string()))?;
    let mut next = tokens.iter().cycle();
    let token_verify_per_sec = rate(|| {
        if let Some(token) = next.next() {
            let _ = verifier.verify(token, now);
        }
    });
    Ok(Calibration {
        bcrypt_cost: cost,
        bcrypt_verify_ms,
        argon2id_cost: format!(
            "m={},t={},p={}",
            argon.memory_kib, argon.iterations, argon.parallelism
        ),
        argon2id_hash_ms,
        rsa2048_sign_per_sec,
        rsa2048_verify_per_sec,
        token_issue_per_sec,
        token_verify_per_sec,
    })
}
