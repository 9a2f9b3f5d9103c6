//! `tessera bench --calibrate`: the machine's own floors (one raw bcrypt verify,
//! RS256 sign and verify on one core), measured without a server.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::plan::LoadError;

/// The machine's own floors, measured on the calling thread: what the server's
/// figures are compared against in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The bcrypt cost measured.
    pub bcrypt_cost: u32,
    /// Median milliseconds of one bcrypt verify at that cost.
    pub bcrypt_verify_ms: f64,
    /// Access tokens signed per second on one core (claims, JSON, RS256).
    pub rs256_sign_per_sec: f64,
    /// Access tokens verified per second on one core, with the cache off.
    pub rs256_verify_per_sec: f64,
}

impl Calibration {
    /// The figures as text.
    pub fn to_text(&self) -> String {
        format!(
            "bcrypt verify at cost {}: {:.1} ms (so {:.2}/s per core)\n\
             RS256 access token signed: {:.0}/s per core\n\
             RS256 access token verified (no cache): {:.0}/s per core\n",
            self.bcrypt_cost,
            self.bcrypt_verify_ms,
            1000.0 / self.bcrypt_verify_ms,
            self.rs256_sign_per_sec,
            self.rs256_verify_per_sec
        )
    }
}

/// Measures one bcrypt verify at `cost` (median of `rounds`), and the RS256 sign and
/// verify rates over about a second each. Blocks the calling thread.
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
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            let _ = bcrypt::verify("calibration-password", &hash);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let bcrypt_verify_ms = times[times.len() / 2];

    let (key, _) = SigningKey::generate().map_err(|e| failed("key")(e.to_string()))?;
    let issuer = TokenIssuer::new("tessera".into(), "tessera".into(), Duration::from_secs(900));
    let roles = ["user".to_owned()];
    let subject = Subject {
        user_id: "00000000-0000-0000-0000-000000000000",
        session_id: "00000000-0000-0000-0000-000000000001",
        email: "calibration@example.com",
        roles: &roles,
    };
    let now = crate::clock::unix_now();
    let mut tokens = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let (token, _) = issuer
            .issue(&key, &subject, now)
            .map_err(|e| failed("sign")(e.to_string()))?;
        tokens.push(token);
    }
    let rs256_sign_per_sec = tokens.len() as f64 / started.elapsed().as_secs_f64();

    let mut set = KeySet::new();
    key.add_to(&mut set);
    let verifier = TokenVerifier::new(set, "tessera", "tessera", 30).with_cache(0);
    let mut verified = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for token in &tokens {
            if verifier.verify(token, now).is_ok() {
                verified += 1;
            }
            if started.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
    }
    let rs256_verify_per_sec = verified as f64 / started.elapsed().as_secs_f64();
    Ok(Calibration {
        bcrypt_cost: cost,
        bcrypt_verify_ms,
        rs256_sign_per_sec,
        rs256_verify_per_sec,
    })
}
