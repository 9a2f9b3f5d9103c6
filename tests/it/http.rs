//! The HTTP endpoints through the real server and a real HTTP client: the JWKS and
//! discovery documents, the probes, and forward auth.

use std::time::Duration;

use http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use tessera::auth::RoleEdit;
use tessera::token::AccessClaims;

use crate::harness::{self, Backend, TestServer, email, on_both_backends};
use crate::http_client::{self, Reply};

on_both_backends!(
    the_jwks_over_http_verifies_a_token_with_a_standard_library,
    forward_auth_allows_a_valid_token_and_refuses_every_other,
);

async fn with_http(backend: Backend) -> TestServer {
    harness::spawn_with(backend, |c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await
}

async fn with_http_stepped(backend: Backend) -> TestServer {
    harness::spawn_stepped(backend, |c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Reply {
    http_client::get(server.http_addr.expect("HTTP listener"), path, headers).await
}

async fn the_jwks_over_http_verifies_a_token_with_a_standard_library(backend: Backend) {
    let server = with_http(backend).await;
    let jwks = get(&server, "/.well-known/jwks.json", &[]).await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.header("content-type"), "application/json");
    let max_age: i64 = jwks
        .header("cache-control")
        .strip_prefix("public, max-age=")
        .expect("a max-age")
        .parse()
        .unwrap();
    assert!((1..=300).contains(&max_age), "max-age {max_age}");

    // The same keys GetJwks gives.
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    let grpc: Vec<String> = server.jwks().await.into_iter().map(|k| k.kid).collect();
    let http: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(http, grpc);

    // A token tessera issued verifies with jsonwebtoken and nothing but that JWKS.
    let (_, pair) = server.login_as(&email("jwks-http")).await;
    let kid = decode_header(&pair.access_token).unwrap().kid.unwrap();
    let jwk = keys.iter().find(|k| k["kid"] == kid.as_str()).unwrap();
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[server.config.issuer.as_str()]);
    validation.set_audience(&[server.config.audience.as_str()]);
    let claims = decode::<AccessClaims>(&pair.access_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims.sid, harness::session_of(&pair.access_token));

    // An unchanged set answers a conditional request with 304 and no body.
    let etag = jwks.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "a strong ETag");
    let again = get(
        &server,
        "/.well-known/jwks.json",
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), etag);
    let stale = get(
        &server,
        "/.well-known/jwks.json",
        &[("if-none-match", "\"something-else\"")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);
}

#[tokio::test]
async fn a_rotation_changes_the_etag_and_a_retiring_key_shortens_max_age() {
    let server = harness::spawn_stepped(Backend::Sqlite, |c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
        c.sync_interval = Duration::from_millis(200);
    })
    .await;
    let before = get(&server, "/.well-known/jwks.json", &[]).await;
    // A rotation effective now: the old key retires, published until its last
    // token expired (access TTL + leeway), and the set changes then.
    let (_, at) =
        tessera::admin::rotate_key(&server.config.store, server.config.tokens(), Duration::ZERO)
            .await
            .unwrap();
    let two_keys = || async {
        let reply = get(&server, "/.well-known/jwks.json", &[]).await;
        reply.json()["keys"].as_array().unwrap().len() == 2
    };
    assert!(harness::eventually(Duration::from_secs(5), two_keys).await);
    let after = get(&server, "/.well-known/jwks.json", &[]).await;
    assert_ne!(after.header("etag"), before.header("etag"));
    // 61 s before the retiring key leaves the set, the answer may be cached 61 s.
    let publish_for = (server.config.access_ttl + server.config.verify_leeway).as_secs() as i64;
    let target = at + publish_for + 1 - 61;
    server
        .clock
        .advance(Duration::from_secs((target - server.clock.now()) as u64));
    let late = get(&server, "/.well-known/jwks.json", &[]).await;
    assert_eq!(late.header("cache-control"), "public, max-age=61");
}

#[tokio::test]
async fn discovery_names_the_jwks_under_the_issuer_url_or_the_host_asked() {
    let plain = with_http(Backend::Sqlite).await;
    let doc = get(
        &plain,
        "/.well-known/openid-configuration",
        &[("host", "auth.internal:8080")],
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert_eq!(doc["issuer"], "tessera");
    assert_eq!(
        doc["jwks_uri"],
        "http://auth.internal:8080/.well-known/jwks.json"
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    let poisoned = get(
        &plain,
        "/.well-known/openid-configuration",
        &[("host", "evil.example/x?")],
    )
    .await;
    assert_eq!(poisoned.status, StatusCode::BAD_REQUEST);

    let url = harness::spawn_with(Backend::Sqlite, |c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
        c.issuer = "https://auth.example.com/".into();
    })
    .await;
    let doc = get(&url, "/.well-known/openid-configuration", &[])
        .await
        .json();
    assert_eq!(doc["issuer"], "https://auth.example.com/");
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
}

#[tokio::test]
async fn the_probes_answer_and_no_listener_is_opened_unless_asked() {
    let server = with_http(Backend::Sqlite).await;
    let live = get(&server, "/healthz", &[]).await;
    assert_eq!(live.status, StatusCode::OK);
    let ready = get(&server, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(
        get(&server, "/nope", &[]).await.status,
        StatusCode::NOT_FOUND
    );

    let default = harness::spawn(Backend::Sqlite).await;
    assert!(default.http_addr.is_none(), "off by default");
}

async fn forward_auth_allows_a_valid_token_and_refuses_every_other(backend: Backend) {
    let server = with_http_stepped(backend).await;
    let address = email("forward");
    let (user, pair) = server.login_as(&address).await;
    let bearer = format!("Bearer {}", pair.access_token);

    let allowed = get(&server, "/auth", &[("authorization", bearer.as_str())]).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("x-auth-subject"), user.id);
    assert_eq!(allowed.header("x-auth-roles"), "user");
    assert_eq!(
        allowed.header("x-auth-session"),
        harness::session_of(&pair.access_token)
    );
    assert_eq!(allowed.header("cache-control"), "no-store");

    // No token: a challenge without an error code (RFC 6750 §3.1).
    let none = get(&server, "/auth", &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), "Bearer realm=\"tessera\"");
    assert_eq!(none.header("x-auth-reason"), "TOKEN_INVALID");

    let forged = get(&server, "/auth", &[("authorization", "Bearer not.a.token")]).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(
        forged
            .header("www-authenticate")
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(forged.header("x-auth-reason"), "TOKEN_INVALID");

    // A role the token lacks: 403; the role it has: 200.
    let admin_only = get(
        &server,
        "/auth?role=admin",
        &[("authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(admin_only.status, StatusCode::FORBIDDEN);
    assert!(
        admin_only
            .header("www-authenticate")
            .contains("error=\"insufficient_scope\"")
    );
    assert_eq!(admin_only.header("x-auth-reason"), "PERMISSION_DENIED");
    let by_header = get(
        &server,
        "/auth",
        &[
            ("authorization", bearer.as_str()),
            ("x-auth-required-role", "user"),
        ],
    )
    .await;
    assert_eq!(by_header.status, StatusCode::OK);
    tessera::admin::change_role(&server.config.store, &address, "admin", RoleEdit::Grant)
        .await
        .unwrap();
    let admin = server.refresh(&pair.refresh_token).await.unwrap();
    let admin_bearer = format!("Bearer {}", admin.access_token);
    let as_admin = get(
        &server,
        "/auth?role=admin",
        &[("authorization", admin_bearer.as_str())],
    )
    .await;
    assert_eq!(as_admin.status, StatusCode::OK);
    assert_eq!(as_admin.header("x-auth-roles"), "user,admin");

    // Revoked: the logout reaches forward auth at once.
    server.logout(&admin.refresh_token, false).await.unwrap();
    let revoked = get(
        &server,
        "/auth",
        &[("authorization", admin_bearer.as_str())],
    )
    .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.header("x-auth-reason"), "TOKEN_REVOKED");

    // Expired.
    let (_, other) = server.login_as(&email("forward-expiry")).await;
    server
        .clock
        .advance(server.config.access_ttl + server.config.verify_leeway + Duration::from_secs(1));
    let expired = get(
        &server,
        "/auth",
        &[("authorization", &format!("Bearer {}", other.access_token))],
    )
    .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.header("x-auth-reason"), "TOKEN_EXPIRED");
}

/// The value of the sample `name{labels}` (labels as written, in order) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_count_rpcs_by_method_code_and_reason_and_show_what_the_server_holds() {
    let server = with_http(Backend::Sqlite).await;
    let (_, pair) = server.login_as(&email("metrics")).await;
    server.verify(&pair.access_token).await.unwrap();
    server.verify(&pair.access_token).await.unwrap();
    assert!(server.verify("not.a.token").await.is_err());
    // A method nobody serves is counted, under a label that cannot grow.
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let nope: Result<tonic::Response<()>, tonic::Status> = grpc
        .unary(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/tessera.auth.v1.AuthService/Nope"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    assert_eq!(nope.unwrap_err().code(), tonic::Code::Unimplemented);
    let mut stream = server.watch_from_nothing().await;
    let (_, other) = server.login_as(&email("metrics-out")).await;
    server.logout(&other.refresh_token, false).await.unwrap();
    harness::next_revoked(&mut stream).await;

    let reply = get(&server, "/metrics", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .starts_with("application/openmetrics-text")
    );
    let text = reply.body;
    let verify = r#"service="tessera.auth.v1.AuthService",method="Verify""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"tessera_grpc_requests_total{{{verify},code="OK",reason=""}}"#)
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"tessera_grpc_requests_total{{{verify},code="UNAUTHENTICATED",reason="TOKEN_INVALID"}}"#
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"tessera_grpc_request_duration_seconds_count{{{verify}}}"#)
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tessera_grpc_requests_total{service="unknown",method="unknown",code="UNIMPLEMENTED",reason="UNIMPLEMENTED"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // The first Verify checked the signature, the second was a cache hit.
    assert_eq!(sample(&text, "tessera_verify_cache_hits_total"), Some(1.0));
    assert!(sample(&text, "tessera_verify_cache_misses_total").unwrap() >= 2.0);
    assert_eq!(sample(&text, "tessera_revoked_sessions"), Some(1.0));
    assert_eq!(sample(&text, "tessera_watch_streams"), Some(1.0));
    assert_eq!(sample(&text, "tessera_hash_jobs"), Some(0.0));
    assert!(sample(&text, "tessera_signing_key_age_seconds").is_some());
    assert!(sample(&text, "tessera_next_key_activation_timestamp_seconds").is_none());

    drop(stream);
    let closed = || async {
        let text = get(&server, "/metrics", &[]).await.body;
        sample(&text, "tessera_watch_streams") == Some(0.0)
    };
    assert!(harness::eventually(Duration::from_secs(5), closed).await);
}
