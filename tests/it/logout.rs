use tonic::Code;

use crate::harness::{self, Backend, assert_error, email, on_both_backends};

async fn logout_revokes_the_session_its_refresh_token_and_its_access_tokens(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("bye");
    let (_, pair) = server.login_as(&email).await;
    let other = server.new_session(&email).await;
    server.logout(&pair.refresh_token, false).await.unwrap();

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
    // The user's other session lives on.
    assert!(server.verify(&other.access_token).await.is_ok());
}

async fn logout_of_all_sessions_revokes_every_session_of_the_user(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("all");
    let (_, a) = server.login_as(&email).await;
    let b = server.new_session(&email).await;
    let (_, stranger) = server.login_as(&harness::email("stranger")).await;
    server.logout(&b.refresh_token, true).await.unwrap();
    for token in [&a.access_token, &b.access_token] {
        assert_error(
            server.verify(token).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
    }
    assert_error(
        server.refresh(&a.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert!(server.verify(&stranger.access_token).await.is_ok());
}

async fn logout_with_an_unknown_or_already_revoked_token_is_ok(backend: Backend) {
    let server = harness::spawn(backend).await;
    server.logout("never-issued", false).await.unwrap();
    let (_, pair) = server.login_as(&email("twice")).await;
    server.logout(&pair.refresh_token, false).await.unwrap();
    server.logout(&pair.refresh_token, false).await.unwrap();
    server.logout(&pair.refresh_token, true).await.unwrap();
}

async fn a_spent_refresh_token_is_reuse_and_cannot_log_out_everywhere(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("spent");
    let (_, first) = server.login_as(&email).await;
    let other = server.new_session(&email).await;
    let next = server.refresh(&first.refresh_token).await.unwrap();

    assert_error(
        server.logout(&first.refresh_token, true).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    // The spent token's session is revoked as reuse; the user's other session lives.
    assert_error(
        server.verify(&next.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert!(server.verify(&other.access_token).await.is_ok());
}

async fn logging_out_everywhere_with_an_ended_sessions_token_changes_nothing(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("ended");
    let (_, first) = server.login_as(&email).await;
    server.logout(&first.refresh_token, false).await.unwrap();
    let other = server.new_session(&email).await;
    server.logout(&first.refresh_token, true).await.unwrap();
    assert!(server.verify(&other.access_token).await.is_ok());
}

async fn logout_without_a_refresh_token_is_invalid_argument(backend: Backend) {
    let server = harness::spawn(backend).await;
    let status = assert_error(
        server.logout("", false).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(harness::bad_request_field(&status), "refresh_token");
}

on_both_backends!(
    logout_revokes_the_session_its_refresh_token_and_its_access_tokens,
    logout_of_all_sessions_revokes_every_session_of_the_user,
    logout_with_an_unknown_or_already_revoked_token_is_ok,
    logout_without_a_refresh_token_is_invalid_argument,
    a_spent_refresh_token_is_reuse_and_cannot_log_out_everywhere,
    logging_out_everywhere_with_an_ended_sessions_token_changes_nothing,
);
