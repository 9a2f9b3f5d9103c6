use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tessera::token::AccessClaims;

use std::time::Duration;

use crate::harness::{self, Backend, email, eventually, on_both_backends};

async fn get_jwks_keys_verify_an_issued_token_with_a_standard_jwt_library(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (user, pair) = server.login_as(&email("jwks")).await;
    let keys = server.jwks().await;
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(
        (jwk.kty.as_str(), jwk.r#use.as_str(), jwk.alg.as_str()),
        ("RSA", "sig", "RS256")
    );
    assert!(
        !jwk.n.contains('=') && !jwk.e.contains('='),
        "base64url without padding"
    );
    assert_eq!(jwk.e, "AQAB");

    let header = jsonwebtoken::decode_header(&pair.access_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(jwk.kid.as_str()));
    let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["tessera"]);
    validation.set_audience(&["tessera"]);
    let data = jsonwebtoken::decode::<AccessClaims>(&pair.access_token, &key, &validation).unwrap();
    assert_eq!(data.claims.sub, user.id);
}

async fn the_kid_is_the_rfc7638_thumbprint_of_the_published_key(backend: Backend) {
    let server = harness::spawn(backend).await;
    let keys = server.jwks().await;
    let jwk = &keys[0];
    // RFC 7638: SHA-256 over the required members in lexicographic order, no spaces.
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, jwk.e, jwk.n);
    let digest = tessera::crypto::sha256(canonical.as_bytes());
    use base64::Engine;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    assert_eq!(jwk.kid, expected);
}

async fn a_rotated_out_key_is_unpublished_and_deleted_once_its_tokens_have_expired(
    backend: Backend,
) {
    let server = harness::spawn_with(backend, |c| {
        c.access_ttl = Duration::from_secs(1);
        c.verify_leeway = Duration::ZERO;
        c.purge_interval = Duration::from_secs(1);
        c.sync_interval = Duration::from_millis(200);
    })
    .await;
    let old = server.jwks().await[0].kid.clone();
    let (new, _) =
        tessera::admin::rotate_key(&server.config.store, server.config.tokens(), Duration::ZERO)
            .await
            .unwrap();
    let only_new = eventually(Duration::from_secs(5), || async {
        let kids: Vec<_> = server.jwks().await.into_iter().map(|k| k.kid).collect();
        kids == vec![new.clone()]
    })
    .await;
    assert!(only_new, "{old} is still published");
    let deleted = eventually(Duration::from_secs(5), || async {
        let stored = tessera::admin::list_keys(&server.config.store, server.config.tokens())
            .await
            .unwrap();
        stored.len() == 1 && stored[0].kid == new
    })
    .await;
    assert!(deleted, "the purge did not delete {old}");
}

async fn keys_rotate_now_reaches_a_running_server_without_waiting_for_the_sync(backend: Backend) {
    // The periodic sync is an hour away: only the change feed can carry it.
    let server =
        harness::spawn_with(backend, |c| c.sync_interval = Duration::from_secs(3600)).await;
    let (new, _) =
        tessera::admin::rotate_key(&server.config.store, server.config.tokens(), Duration::ZERO)
            .await
            .unwrap();
    let started = std::time::Instant::now();
    // `--now` may activate one second on (it never shares the first key's second),
    // and the change feed then needs a poll: well within three seconds, against an
    // hour for the sync.
    let signing = eventually(Duration::from_secs(3), || async {
        let (_, pair) = server.login_as(&harness::email("kid")).await;
        let header = jsonwebtoken::decode_header(&pair.access_token).unwrap();
        header.kid.as_deref() == Some(new.as_str())
    })
    .await;
    assert!(
        signing,
        "not signing with {new} after {:?}",
        started.elapsed()
    );
}

on_both_backends!(
    keys_rotate_now_reaches_a_running_server_without_waiting_for_the_sync,
    a_rotated_out_key_is_unpublished_and_deleted_once_its_tokens_have_expired,
    get_jwks_keys_verify_an_issued_token_with_a_standard_jwt_library,
    the_kid_is_the_rfc7638_thumbprint_of_the_published_key,
);

/// Runs `openssl` with `args`; `None` when it is not installed.
fn openssl(args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    std::process::Command::new("openssl")
        .args(args)
        .output()
        .ok()
}

#[tokio::test]
async fn an_issued_token_verifies_with_openssl_a_second_rs256_implementation() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::ffi::OsStr;

    let server = harness::spawn(Backend::Sqlite).await;
    let (_, pair) = server.login_as(&email("openssl")).await;
    let token = pair.access_token;
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], server.jwks().await[0].kid.as_str());

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("key.pem"), server.signing_key_pem()).unwrap();
    std::fs::write(path("sig"), URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    std::fs::write(path("input"), input).unwrap();
    let mut forged = input.as_bytes().to_vec();
    *forged.last_mut().unwrap() ^= 1;
    std::fs::write(path("forged"), forged).unwrap();
    let Some(public) = openssl(&[
        OsStr::new("pkey"),
        OsStr::new("-in"),
        path("key.pem").as_os_str(),
        OsStr::new("-pubout"),
        OsStr::new("-out"),
        path("pub.pem").as_os_str(),
    ]) else {
        eprintln!("skipped: openssl is not installed");
        return;
    };
    assert!(public.status.success(), "{public:?}");
    let verify = |file: &str| {
        let out = openssl(&[
            OsStr::new("dgst"),
            OsStr::new("-sha256"),
            OsStr::new("-verify"),
            path("pub.pem").as_os_str(),
            OsStr::new("-signature"),
            path("sig").as_os_str(),
            path(file).as_os_str(),
        ])
        .unwrap();
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK")
    };
    assert!(verify("input"), "OpenSSL refused tessera's RS256 signature");
    assert!(!verify("forged"), "OpenSSL accepted a changed token");
}
