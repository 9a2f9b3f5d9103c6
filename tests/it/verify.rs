use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tessera::token::AccessClaims;
use tessera::token::keys::SigningKey;
use tonic::Code;

use crate::harness::{self, Backend, TestServer, assert_error, email, on_both_backends};

pub(crate) fn claims_of(token: &str) -> AccessClaims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub(crate) fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

pub(crate) fn rs256(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    header
}

/// Signs `claims` with the server's own key (as only tessera could).
pub(crate) fn sign_as_server(
    server: &TestServer,
    header: &Header,
    claims: &AccessClaims,
) -> String {
    let key = EncodingKey::from_rsa_pem(&server.signing_key_pem()).unwrap();
    jsonwebtoken::encode(header, claims, &key).unwrap()
}

async fn a_valid_access_token_verifies_with_all_its_claims(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("claims");
    let (user, pair) = server.login_as(&email).await;
    let claims = server.verify(&pair.access_token).await.unwrap();
    assert_eq!(claims.subject, user.id);
    assert_eq!(claims.email, email);
    assert_eq!(claims.roles, vec!["user".to_string()]);
    assert_eq!(claims.issuer, "tessera");
    assert_eq!(claims.audience, vec!["tessera".to_string()]);
    assert!(!claims.session_id.is_empty());
    assert!(!claims.token_id.is_empty());
    let (iat, exp) = (
        claims.issued_at.unwrap().seconds,
        claims.expires_at.unwrap().seconds,
    );
    assert_eq!(exp - iat, 15 * 60);
}

async fn the_access_token_header_is_rs256_jwt_with_the_key_thumbprint_as_kid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("hdr")).await;
    let header = jsonwebtoken::decode_header(&pair.access_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let key = SigningKey::from_pem(&server.signing_key_pem()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    let claims = claims_of(&pair.access_token);
    assert!(!claims.jti.is_empty() && !claims.sid.is_empty());
}

async fn an_expired_access_token_is_token_expired(backend: Backend) {
    let server = harness::spawn_stepped(backend, |c| {
        c.access_ttl = Duration::from_secs(60);
        c.verify_leeway = Duration::ZERO;
    })
    .await;
    let (_, pair) = server.login_as(&email("old")).await;
    server.clock.advance(Duration::from_secs(60));
    assert!(
        server.verify(&pair.access_token).await.is_ok(),
        "valid up to exp"
    );
    server.clock.advance(Duration::from_secs(1));
    assert_error(
        server.verify(&pair.access_token).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
}

async fn a_token_expired_within_the_leeway_still_verifies(backend: Backend) {
    let server = harness::spawn(backend).await; // 30 s leeway
    let (_, pair) = server.login_as(&email("skew")).await;
    let mut claims = claims_of(&pair.access_token);
    claims.exp = claims.iat - 10;
    let token = sign_as_server(&server, &rs256(&kid_of(&pair.access_token)), &claims);
    assert!(server.verify(&token).await.is_ok());
    claims.exp = claims.iat - 40;
    let token = sign_as_server(&server, &rs256(&kid_of(&pair.access_token)), &claims);
    assert_error(
        server.verify(&token).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
}

async fn a_tampered_signature_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("sig")).await;
    let mut parts: Vec<String> = pair.access_token.split('.').map(str::to_owned).collect();
    // Change the payload's roles, keep the signature.
    let mut claims = claims_of(&pair.access_token);
    claims.roles.push("admin".into());
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_error(
        server.verify(&parts.join(".")).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
}

async fn an_alg_none_token_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("none")).await;
    let header = format!(
        r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
        kid_of(&pair.access_token)
    );
    let payload = pair.access_token.split('.').nth(1).unwrap();
    for signature in ["", "AAAA"] {
        let token = format!(
            "{}.{payload}.{signature}",
            URL_SAFE_NO_PAD.encode(header.as_bytes())
        );
        assert_error(
            server.verify(&token).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
}

async fn an_hs256_token_signed_with_the_public_key_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("confuse")).await;
    let keys = server.jwks().await;
    let public = &keys[0];
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(public.kid.clone());
    let claims = claims_of(&pair.access_token);
    // The key-confusion attack: the public key material as the HMAC secret.
    let secrets = [
        public.n.clone().into_bytes(),
        format!("{}.{}", public.n, public.e).into_bytes(),
    ];
    for secret in &secrets {
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert_error(
            server.verify(&token).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
}

async fn a_token_signed_by_another_rsa_key_under_the_right_kid_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("forge")).await;
    let (_, other_pem) = SigningKey::generate().unwrap();
    let forged = jsonwebtoken::encode(
        &rs256(&kid_of(&pair.access_token)),
        &claims_of(&pair.access_token),
        &EncodingKey::from_rsa_pem(other_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_error(
        server.verify(&forged).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
}

async fn an_unknown_kid_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("kid")).await;
    let token = sign_as_server(
        &server,
        &rs256("no-such-key"),
        &claims_of(&pair.access_token),
    );
    assert_error(
        server.verify(&token).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    let no_kid = sign_as_server(
        &server,
        &Header::new(Algorithm::RS256),
        &claims_of(&pair.access_token),
    );
    assert_error(
        server.verify(&no_kid).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
}

async fn a_wrong_issuer_or_audience_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("iss")).await;
    let header = rs256(&kid_of(&pair.access_token));
    let mut wrong_iss = claims_of(&pair.access_token);
    wrong_iss.iss = "someone-else".into();
    let mut wrong_aud = claims_of(&pair.access_token);
    wrong_aud.aud = vec!["another-api".into()];
    for claims in [wrong_iss, wrong_aud] {
        let token = sign_as_server(&server, &header, &claims);
        assert_error(
            server.verify(&token).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
}

async fn a_crit_header_an_iat_ahead_or_an_endless_exp_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("edges")).await;
    let kid = kid_of(&pair.access_token);
    let claims = claims_of(&pair.access_token);
    // Each is signed with the server's own key: only the rule can refuse it.
    let mut crit = rs256(&kid);
    crit.crit = Some(vec!["exp".into()]);
    let mut ahead = claims.clone();
    ahead.iat += 365 * 24 * 3600;
    ahead.exp = ahead.iat + 900;
    let mut endless = claims.clone();
    endless.exp = i64::MAX;
    let mut a_day_and_a_second = claims.clone();
    a_day_and_a_second.exp = claims.iat + 24 * 3600 + 1;
    let tokens = [
        sign_as_server(&server, &crit, &claims),
        sign_as_server(&server, &rs256(&kid), &ahead),
        sign_as_server(&server, &rs256(&kid), &endless),
        sign_as_server(&server, &rs256(&kid), &a_day_and_a_second),
    ];
    for token in &tokens {
        assert_error(
            server.verify(token).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
    // The same claims under a plain header verify: the header was the fault.
    assert!(
        server
            .verify(&sign_as_server(&server, &rs256(&kid), &claims))
            .await
            .is_ok()
    );
}

async fn garbage_is_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    for garbage in [
        "",
        "garbage",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9..",
        &"x".repeat(10_000),
    ] {
        assert_error(
            server.verify(garbage).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
}

on_both_backends!(
    a_valid_access_token_verifies_with_all_its_claims,
    a_crit_header_an_iat_ahead_or_an_endless_exp_is_token_invalid,
    the_access_token_header_is_rs256_jwt_with_the_key_thumbprint_as_kid,
    an_expired_access_token_is_token_expired,
    a_token_expired_within_the_leeway_still_verifies,
    a_tampered_signature_is_token_invalid,
    an_alg_none_token_is_token_invalid,
    an_hs256_token_signed_with_the_public_key_is_token_invalid,
    a_token_signed_by_another_rsa_key_under_the_right_kid_is_token_invalid,
    an_unknown_kid_is_token_invalid,
    a_wrong_issuer_or_audience_is_token_invalid,
    garbage_is_token_invalid,
);
