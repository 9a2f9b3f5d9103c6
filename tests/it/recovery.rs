//! Password reset and email verification through the real server: single-use
//! tokens from the admin API, spent through AuthService.

use std::time::{Duration, Instant};

use tessera::proto::{
    CreateEmailVerificationTokenRequest, CreatePasswordResetTokenRequest, CreateTokenResponse,
    ResetPasswordRequest, VerifyEmailRequest,
};
use tonic::{Code, Status};

use crate::admin::Admin;
use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, on_both_backends};

const NEW: &str = "a reset passphrase";

async fn reset_token(admin: &Admin, address: &str) -> Result<CreateTokenResponse, Status> {
    let request = admin.ask(CreatePasswordResetTokenRequest {
        email: address.into(),
    });
    Ok(admin
        .client()
        .create_password_reset_token(request)
        .await?
        .into_inner())
}

async fn reset(server: &TestServer, token: &str, new: &str) -> Result<u32, Status> {
    let answer = server
        .client()
        .reset_password(ResetPasswordRequest {
            token: token.into(),
            new_password: new.into(),
        })
        .await?;
    Ok(answer.into_inner().revoked_sessions)
}

async fn a_reset_token_sets_the_password_once_and_ends_every_session(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("forgot");
    let (_, first) = server.login_as(&address).await;
    let second = server.new_session(&address).await;
    let earlier = reset_token(&admin, &address).await.unwrap();
    let token = reset_token(&admin, &address).await.unwrap();
    assert_ne!(earlier.token, token.token);

    // A weak password is refused and leaves the token unspent.
    assert_error(
        reset(&server, &token.token, "short").await,
        Code::InvalidArgument,
        "WEAK_PASSWORD",
    );
    assert_eq!(reset(&server, &token.token, NEW).await.unwrap(), 2);
    for pair in [&first, &second] {
        harness::assert_revoked(&server, &pair.access_token).await;
    }
    assert_error(
        server.login(&address, PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert!(server.login(&address, NEW).await.is_ok());

    // Spent, and the user's other reset token with it.
    for used in [&token.token, &earlier.token] {
        assert_error(
            reset(&server, used, "yet another passphrase").await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
    assert!(server.login(&address, NEW).await.is_ok());
    // Only the SHA-256 is stored.
    let stored = harness::count(
        &server.config,
        "SELECT COUNT(*) FROM one_time_tokens WHERE length(token_hash) = 32",
    )
    .await;
    assert_eq!(stored, 2);
}

async fn an_unknown_email_gets_a_token_that_resets_nothing(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let ghost = reset_token(&admin, &email("ghost")).await.unwrap();
    assert_eq!(ghost.token.len(), 43);
    assert!(ghost.expires_at.is_some());
    assert_error(
        reset(&server, &ghost.token, NEW).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert_error(
        reset(&server, "", NEW).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_error(
        reset_token(&admin, "not an email").await,
        Code::InvalidArgument,
        "INVALID_EMAIL",
    );
    let (_, pair) = server.login_as(&email("plain-user")).await;
    let user = Admin::with_token(&server, &pair.access_token).await;
    assert_error(
        reset_token(&user, &email("anyone")).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

async fn a_reset_token_for_a_stranger_takes_the_same_time(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("timed");
    server.register(&address).await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so whatever else the machine does weighs on both alike.
    for i in 0..30 {
        let started = Instant::now();
        reset_token(&admin, &address).await.unwrap();
        known.push(started.elapsed());
        let started = Instant::now();
        reset_token(&admin, &format!("stranger{i}@example.com"))
            .await
            .unwrap();
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[15], unknown[15]);
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {unknown:?} vs known {known:?}"
    );
}

async fn a_reset_token_expires_after_its_lifetime(backend: Backend) {
    let server = harness::spawn_stepped(backend, |_| {}).await;
    let admin = Admin::of(&server).await;
    let address = email("late");
    server.register(&address).await;
    let token = reset_token(&admin, &address).await.unwrap();
    let lifetime = token.expires_at.unwrap().seconds - server.clock.now();
    assert_eq!(lifetime, 15 * 60, "the default lifetime");
    server.clock.advance(Duration::from_secs(15 * 60));
    assert_error(
        reset(&server, &token.token, NEW).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert!(server.login(&address, PASSWORD).await.is_ok());
}

async fn a_verified_email_reaches_tokens_at_the_next_refresh(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("verify-me");
    let (user, pair) = server.login_as(&address).await;
    assert!(!user.email_verified);
    assert!(
        !server
            .verify(&pair.access_token)
            .await
            .unwrap()
            .email_verified
    );

    let request = admin.ask(CreateEmailVerificationTokenRequest {
        email: address.clone(),
    });
    let token = admin
        .client()
        .create_email_verification_token(request)
        .await
        .unwrap()
        .into_inner();
    let lifetime = token.expires_at.unwrap().seconds - tessera::clock::unix_now();
    assert!(
        (24 * 3600 - 5..=24 * 3600).contains(&lifetime),
        "{lifetime}"
    );
    // A verification token is not a reset token.
    assert_error(
        reset(&server, &token.token, NEW).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    let verify_email = |token: String| {
        let mut client = server.client();
        async move { client.verify_email(VerifyEmailRequest { token }).await }
    };
    verify_email(token.token.clone()).await.unwrap();
    assert!(admin.get(&user.id).await.unwrap().email_verified);
    assert!(
        !server
            .verify(&pair.access_token)
            .await
            .unwrap()
            .email_verified
    );
    let refreshed = server.refresh(&pair.refresh_token).await.unwrap();
    let claims = server.verify(&refreshed.access_token).await.unwrap();
    assert!(claims.email_verified);
    let login = server.login(&address, PASSWORD).await.unwrap();
    assert!(login.user.unwrap().email_verified);
    assert_error(
        verify_email(token.token).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
}

on_both_backends!(
    a_reset_token_sets_the_password_once_and_ends_every_session,
    an_unknown_email_gets_a_token_that_resets_nothing,
    a_reset_token_for_a_stranger_takes_the_same_time,
    a_reset_token_expires_after_its_lifetime,
    a_verified_email_reaches_tokens_at_the_next_refresh,
);
