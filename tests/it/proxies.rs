//! The client's address behind a trusted proxy, through the real server: the headers
//! count only from a trusted peer, and the per-address budget follows the client.

use tessera::config::TrustedProxies;
use tessera::proto::{ListSessionsRequest, LoginRequest};
use tonic::{Code, Request, Status};

use crate::admin::Admin;
use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, on_both_backends};

/// Logs in with `x-forwarded-for: forwarded`.
async fn login_via(
    server: &TestServer,
    forwarded: &str,
    address: &str,
    password: &str,
) -> Result<tessera::proto::LoginResponse, Status> {
    let mut request = Request::new(LoginRequest {
        email: address.into(),
        password: password.into(),
    });
    let value = forwarded.parse().unwrap();
    request.metadata_mut().insert("x-forwarded-for", value);
    server.client().login(request).await.map(|r| r.into_inner())
}

/// The client address recorded on the user's one session.
async fn session_address(admin: &Admin, user_id: &str) -> String {
    let request = admin.ask(ListSessionsRequest {
        user_id: user_id.into(),
        ..Default::default()
    });
    let sessions = admin.client().list_sessions(request).await.unwrap();
    sessions.into_inner().sessions[0].client_address.clone()
}

async fn a_trusted_proxy_names_the_client_and_anyone_else_is_ignored(backend: Backend) {
    let trusted = harness::spawn_with(backend, |c| {
        c.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    let admin = Admin::of(&trusted).await;
    let address = email("proxied");
    let user = trusted.register(&address).await;
    login_via(&trusted, "198.51.100.1, 203.0.113.7", &address, PASSWORD)
        .await
        .unwrap();
    assert_eq!(session_address(&admin, &user.id).await, "203.0.113.7");

    // Without trusted proxies the header is the client's word: ignored.
    let plain = harness::spawn(backend).await;
    let admin = Admin::of(&plain).await;
    let spoofer = email("spoofer");
    let user = plain.register(&spoofer).await;
    login_via(&plain, "203.0.113.7", &spoofer, PASSWORD)
        .await
        .unwrap();
    assert_eq!(session_address(&admin, &user.id).await, "127.0.0.1");
}

async fn the_per_address_budget_follows_the_forwarded_client(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.trusted_proxies = TrustedProxies::parse("127.0.0.0/8").unwrap();
        c.login_attempts_per_address_per_minute = 3;
        c.login_attempts_per_minute = 1_000_000;
        c.login_attempts_per_email_per_minute = 1_000_000;
    })
    .await;
    let victim = email("behind-proxy");
    server.register(&victim).await;
    for n in 0..3 {
        let attacker = format!("attacker{n}@example.com");
        assert_error(
            login_via(&server, "203.0.113.66", &attacker, "guess").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        login_via(&server, "203.0.113.66", &email("one-more"), "guess").await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    // Another client through the same proxy is not locked out.
    assert!(
        login_via(&server, "198.51.100.20", &victim, PASSWORD)
            .await
            .is_ok()
    );
}

on_both_backends!(
    a_trusted_proxy_names_the_client_and_anyone_else_is_ignored,
    the_per_address_budget_follows_the_forwarded_client,
);
