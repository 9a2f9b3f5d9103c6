//! ChangePassword through the real server: who may, what it ends, what it keeps.

use std::time::Duration;

use tessera::proto::{ChangePasswordRequest, ChangePasswordResponse};
use tonic::{Code, Status};

use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, on_both_backends};

const NEW: &str = "a brand new passphrase";

fn by_access(token: &str, current: &str, new: &str) -> ChangePasswordRequest {
    ChangePasswordRequest {
        access_token: token.into(),
        current_password: current.into(),
        new_password: new.into(),
        ..Default::default()
    }
}

fn by_refresh(token: &str, current: &str, new: &str) -> ChangePasswordRequest {
    ChangePasswordRequest {
        refresh_token: token.into(),
        current_password: current.into(),
        new_password: new.into(),
        ..Default::default()
    }
}

async fn change(
    server: &TestServer,
    request: ChangePasswordRequest,
) -> Result<ChangePasswordResponse, Status> {
    server
        .client()
        .change_password(request)
        .await
        .map(|r| r.into_inner())
}

async fn a_change_keeps_the_callers_session_and_ends_every_other(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("change");
    let (_, mine) = server.login_as(&email).await;
    let other = server.new_session(&email).await;
    let third = server.new_session(&email).await;
    let (_, stranger) = server.login_as(&harness::email("stranger")).await;

    let answer = change(&server, by_access(&mine.access_token, PASSWORD, NEW))
        .await
        .unwrap();
    assert_eq!(
        answer.kept_session_id,
        harness::session_of(&mine.access_token)
    );
    assert_eq!(answer.revoked_sessions, 2);

    // The old password is gone, the new one logs in.
    assert_error(
        server.login(&email, PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    server.login(&email, NEW).await.unwrap();
    // The other sessions are over, access and refresh tokens alike.
    for pair in [&other, &third] {
        assert_error(
            server.verify(&pair.access_token).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
        assert_error(
            server.refresh(&pair.refresh_token).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
    }
    // The caller's session goes on; another user is untouched.
    server.verify(&mine.access_token).await.unwrap();
    server.refresh(&mine.refresh_token).await.unwrap();
    server.verify(&stranger.access_token).await.unwrap();
}

async fn a_refresh_token_can_show_who_the_caller_is(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("by-refresh");
    let (_, mine) = server.login_as(&email).await;
    let other = server.new_session(&email).await;
    let answer = change(&server, by_refresh(&mine.refresh_token, PASSWORD, NEW))
        .await
        .unwrap();
    assert_eq!(
        answer.kept_session_id,
        harness::session_of(&mine.access_token)
    );
    assert_eq!(answer.revoked_sessions, 1);
    server.refresh(&mine.refresh_token).await.unwrap();
    assert_error(
        server.refresh(&other.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

async fn a_wrong_current_password_changes_nothing_and_is_throttled_as_a_login(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.login_attempts_per_minute = 2;
    })
    .await;
    let email = email("guess");
    let (_, mine) = server.login_as(&email).await;
    let other = server.new_session(&email).await;
    for _ in 0..2 {
        assert_error(
            change(
                &server,
                by_access(&mine.access_token, "not the password", NEW),
            )
            .await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    // The budget of the email is spent: even the right password waits now.
    assert_error(
        change(&server, by_access(&mine.access_token, PASSWORD, NEW)).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    assert_error(
        server.login(&email, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    // Nothing changed.
    server.verify(&other.access_token).await.unwrap();
    server.refresh(&other.refresh_token).await.unwrap();
}

async fn the_new_password_must_differ_and_meet_the_rules(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("rules");
    let (_, mine) = server.login_as(&email).await;
    let status = assert_error(
        change(&server, by_access(&mine.access_token, PASSWORD, PASSWORD)).await,
        Code::InvalidArgument,
        "PASSWORD_UNCHANGED",
    );
    assert_eq!(harness::bad_request_field(&status), "new_password");
    let status = assert_error(
        change(&server, by_access(&mine.access_token, PASSWORD, "short")).await,
        Code::InvalidArgument,
        "WEAK_PASSWORD",
    );
    assert_eq!(harness::bad_request_field(&status), "new_password");
    server.login(&email, PASSWORD).await.unwrap();
}

async fn the_caller_must_show_exactly_one_live_token(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("tokens");
    let (_, first) = server.login_as(&email).await;
    let both = ChangePasswordRequest {
        access_token: first.access_token.clone(),
        refresh_token: first.refresh_token.clone(),
        current_password: PASSWORD.into(),
        new_password: NEW.into(),
    };
    for request in [both, by_access("", PASSWORD, NEW)] {
        let status = assert_error(
            change(&server, request).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(harness::bad_request_field(&status), "access_token");
    }
    assert_error(
        change(&server, by_access("not.a.token", PASSWORD, NEW)).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    // A spent refresh token is reuse: its session ends, as in Refresh.
    let next = server.refresh(&first.refresh_token).await.unwrap();
    assert_error(
        change(&server, by_refresh(&first.refresh_token, PASSWORD, NEW)).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    // Its session's access tokens are revoked, so they cannot change it either.
    assert_error(
        change(&server, by_access(&next.access_token, PASSWORD, NEW)).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    server.login(&email, PASSWORD).await.unwrap();
}

async fn live_verifiers_see_the_other_sessions_end(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.watch_heartbeat = Duration::from_secs(3600);
    })
    .await;
    let email = email("watched");
    let (_, mine) = server.login_as(&email).await;
    let other = server.new_session(&email).await;
    let mut stream = server.watch_from_nothing().await;
    change(&server, by_access(&mine.access_token, PASSWORD, NEW))
        .await
        .unwrap();
    assert_eq!(
        harness::next_revoked(&mut stream).await,
        vec![harness::session_of(&other.access_token)]
    );
}

on_both_backends!(
    a_change_keeps_the_callers_session_and_ends_every_other,
    a_refresh_token_can_show_who_the_caller_is,
    a_wrong_current_password_changes_nothing_and_is_throttled_as_a_login,
    the_new_password_must_differ_and_meet_the_rules,
    the_caller_must_show_exactly_one_live_token,
    live_verifiers_see_the_other_sessions_end,
);
