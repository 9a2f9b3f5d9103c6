use tessera::proto::{LogoutRequest, RefreshRequest};
use tonic::Code;

use crate::harness::{self, PASSWORD, assert_error, email};
use crate::refresh::verify;

fn logout(token: &str, all_sessions: bool) -> LogoutRequest {
    LogoutRequest {
        refresh_token: token.into(),
        all_sessions,
    }
}

#[tokio::test]
async fn logout_revokes_the_session_its_refresh_token_and_its_access_tokens() {
    let server = harness::spawn().await;
    let email = email("bye");
    let (_, pair) = server.login_as(&email).await;
    let other = server
        .login(&email, PASSWORD)
        .await
        .unwrap()
        .tokens
        .unwrap();
    server
        .client()
        .logout(logout(&pair.refresh_token, false))
        .await
        .unwrap();

    assert_error(
        verify(&server, &pair.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert_error(
        server
            .client()
            .refresh(RefreshRequest {
                refresh_token: pair.refresh_token.clone(),
            })
            .await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    // The user's other session lives on.
    assert!(verify(&server, &other.access_token).await.is_ok());
}

#[tokio::test]
async fn logout_of_all_sessions_revokes_every_session_of_the_user() {
    let server = harness::spawn().await;
    let email = email("all");
    let (_, a) = server.login_as(&email).await;
    let b = server
        .login(&email, PASSWORD)
        .await
        .unwrap()
        .tokens
        .unwrap();
    let (_, stranger) = server.login_as(&harness::email("stranger")).await;
    server
        .client()
        .logout(logout(&b.refresh_token, true))
        .await
        .unwrap();
    for token in [&a.access_token, &b.access_token] {
        assert_error(
            verify(&server, token).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
    }
    assert!(verify(&server, &stranger.access_token).await.is_ok());
}

#[tokio::test]
async fn logout_with_an_unknown_or_already_revoked_token_is_ok() {
    let server = harness::spawn().await;
    server
        .client()
        .logout(logout("never-issued", false))
        .await
        .unwrap();
    let (_, pair) = server.login_as(&email("twice")).await;
    server
        .client()
        .logout(logout(&pair.refresh_token, false))
        .await
        .unwrap();
    server
        .client()
        .logout(logout(&pair.refresh_token, false))
        .await
        .unwrap();
    server
        .client()
        .logout(logout(&pair.refresh_token, true))
        .await
        .unwrap();
}

#[tokio::test]
async fn logout_without_a_refresh_token_is_invalid_argument() {
    let server = harness::spawn().await;
    let status = assert_error(
        server.client().logout(logout("", false)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(harness::bad_request_field(&status), "refresh_token");
}
