//! Access-token verification on any string: never a panic, never an acceptance (no
//! input can carry a signature of the key generated here), and the cached verifier
//! answers exactly as the uncached one.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera::token::keys::SigningKey;
use tessera::token::{KeySet, TokenVerifier};

/// The seeds name this kid, so mutations reach the signature check.
const KID: &str = "fuzz";
const NOW: i64 = 1_800_000_000;

static VERIFIERS: LazyLock<(TokenVerifier, TokenVerifier)> = LazyLock::new(|| {
    let (key, _pem) = SigningKey::generate().expect("an RSA key");
    let (n, e) = key.public_components();
    let mut keys = KeySet::new();
    keys.insert_rsa_components(KID, n, e)
        .expect("its own components");
    let cached = TokenVerifier::new(keys, "tessera", "tessera-clients", 30);
    let uncached = cached.clone().with_cache(0);
    (cached, uncached)
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let (cached, uncached) = &*VERIFIERS;
    let first = cached.verify(token, NOW).map(|_| ());
    let second = uncached.verify(token, NOW).map(|_| ());
    assert!(first.is_err(), "a token no one signed was accepted");
    assert_eq!(first, second, "the cache changed the answer");
});
