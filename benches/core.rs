//! The server's hot paths, one at a time, on one core: issuing an access token, the
//! full verification beside a bare RS256 signature check, bcrypt at cost 4 and 12,
//! and making and hashing a refresh token.
//!
//! ```text
//! cargo bench --bench core
//! ```

use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera::token::issue::{Subject, TokenIssuer};
use tessera::token::keys::SigningKey;
use tessera::token::refresh::RefreshToken;
use tessera::token::{KeySet, RevokedSessions, TokenVerifier};

const NOW: i64 = 1_900_000_000;
const ROLES: [&str; 1] = ["user"];

fn subject<'a>(roles: &'a [String], session_id: &'a str) -> Subject<'a> {
    Subject {
        user_id: "0192a4c6-8f3e-7c1a-9b2d-4e5f6a7b8c9d",
        session_id,
        email: "someone@example.com",
        roles,
        email_verified: false,
    }
}

fn tokens(c: &mut Criterion) {
    let (key, pem) = SigningKey::generate().expect("a key");
    // The floor for signing: aws-lc-rs alone, the key loaded once.
    let der = pem::parse(&pem).expect("PEM");
    let pair = RsaKeyPair::from_pkcs8(der.contents()).expect("PKCS#8");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; pair.public_modulus_len()];
    c.bench_function("bare RSA-2048 sign (key loaded), 400 bytes", |b| {
        b.iter(|| {
            pair.sign(&RSA_PKCS1_SHA256, &rng, &[b'x'; 400], &mut sig)
                .expect("signed")
        })
    });
    let issuer = TokenIssuer::new("tessera".into(), "tessera".into(), Duration::from_secs(900));
    let roles: Vec<String> = ROLES.iter().map(|r| (*r).to_owned()).collect();
    let sid = "0192a4c6-0000-7c1a-9b2d-4e5f6a7b8c9d";

    c.bench_function("access token: issue (claims, JSON, RS256 sign)", |b| {
        b.iter(|| {
            issuer
                .issue(&key, &subject(&roles, sid), NOW)
                .expect("signed")
        })
    });

    let (token, _) = issuer
        .issue(&key, &subject(&roles, sid), NOW)
        .expect("signed");
    let mut set = KeySet::new();
    key.add_to(&mut set);
    // A revocation set of realistic size, not holding this token's session.
    let revoked = RevokedSessions::new();
    let ids: Vec<String> = (1..=10_000u128)
        .map(|i| uuid::Uuid::from_u128(i).to_string())
        .collect();
    revoked.insert_many(ids.iter().map(|id| (id.as_str(), NOW + 900)));
    let uncached = TokenVerifier::new(set.clone(), "tessera", "tessera", 30).with_cache(0);
    let cached = TokenVerifier::new(set, "tessera", "tessera", 30);

    let (n, e) = key.public_components();
    let (n, e) = (
        URL_SAFE_NO_PAD.decode(n).expect("base64url"),
        URL_SAFE_NO_PAD.decode(e).expect("base64url"),
    );
    let der = RsaPublicKeyComponents { n: &n, e: &e }
        .as_der()
        .expect("a public key");
    let public =
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_ref()).expect("a public key");
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");

    let mut group = c.benchmark_group("verify");
    group.bench_function("bare RS256 signature check (key parsed once)", |b| {
        b.iter(|| {
            public
                .verify_sig(signed.as_bytes(), &signature)
                .expect("valid")
        })
    });
    group.bench_function("full: signature + claims + revocation (cache off)", |b| {
        b.iter(|| {
            uncached
                .verify_unrevoked(&token, NOW, &revoked)
                .expect("valid")
        })
    });
    group.bench_function("full: a token seen before (cache hit) + revocation", |b| {
        b.iter(|| {
            cached
                .verify_unrevoked(&token, NOW, &revoked)
                .expect("valid")
        })
    });
    group.finish();
}

fn refresh_tokens(c: &mut Criterion) {
    c.bench_function("refresh token: generate (256 random bits)", |b| {
        b.iter(RefreshToken::generate)
    });
    let token = RefreshToken::generate();
    c.bench_function("refresh token: hash (SHA-256, as stored)", |b| {
        b.iter(|| token.hash())
    });
}

fn passwords(c: &mut Criterion) {
    let password = "correct horse battery staple";
    for cost in [4u32, 12] {
        let mut group = c.benchmark_group(format!("bcrypt cost {cost}"));
        if cost >= 10 {
            group
                .sample_size(10)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(5));
        }
        let hash = bcrypt::hash(password, cost).expect("hashed");
        group.bench_function("hash", |b| {
            b.iter(|| bcrypt::hash(password, cost).expect("hashed"))
        });
        group.bench_function("verify", |b| {
            b.iter(|| bcrypt::verify(password, &hash).expect("verified"))
        });
        group.finish();
    }
}

/// The revocation set at 1k, 10k, 100k and 1M sessions: a lookup of a session not
/// in it (what every Verify of a live token does), one of a session in it, and one
/// bulk insert of the whole set (what start-up and a large logout do).
fn revocations(c: &mut Criterion) {
    let mut group = c.benchmark_group("revoked set");
    group.sample_size(10);
    for size in [1_000u128, 10_000, 100_000, 1_000_000] {
        let ids: Vec<String> = (1..=size)
            .map(|i| uuid::Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_string())
            .collect();
        let set = RevokedSessions::new();
        set.insert_many(ids.iter().map(|id| (id.as_str(), NOW + 900)));
        let absent = uuid::Uuid::from_u128(u128::MAX).to_string();
        let present = &ids[ids.len() / 2];
        group.bench_function(format!("contains, absent, {size}"), |b| {
            b.iter(|| assert!(!set.contains(&absent)))
        });
        group.bench_function(format!("contains, present, {size}"), |b| {
            b.iter(|| assert!(set.contains(present)))
        });
        group.bench_function(format!("bulk insert of {size}"), |b| {
            b.iter(|| {
                let fresh = RevokedSessions::new();
                fresh.insert_many(ids.iter().map(|id| (id.as_str(), NOW + 900)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tokens, refresh_tokens, passwords, revocations);
criterion_main!(benches);
