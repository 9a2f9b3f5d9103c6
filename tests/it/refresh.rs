use std::time::Duration;

use tonic::Code;

use crate::harness::{self, Backend, TestServer, assert_error, email, on_both_backends};

async fn refresh_returns_a_new_pair_and_spends_the_presented_token(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, first) = server.login_as(&email("rot")).await;
    let second = server.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.token_type, "Bearer");
    let third = server.refresh(&second.refresh_token).await.unwrap();
    assert!(server.verify(&third.access_token).await.is_ok());
}

async fn the_access_token_issued_before_a_refresh_still_verifies(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, first) = server.login_as(&email("keep")).await;
    let second = server.refresh(&first.refresh_token).await.unwrap();
    let old = server.verify(&first.access_token).await.unwrap();
    let new = server.verify(&second.access_token).await.unwrap();
    assert_eq!(old.session_id, new.session_id);
    assert_ne!(old.token_id, new.token_id);
}

async fn unknown_or_malformed_refresh_tokens_are_token_invalid(backend: Backend) {
    let server = harness::spawn(backend).await;
    for bad in [
        "",
        "nope",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "%%%",
    ] {
        assert_error(
            server.refresh(bad).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
}

async fn an_expired_refresh_token_is_token_expired(backend: Backend) {
    let server =
        harness::spawn_stepped(backend, |c| c.refresh_ttl = Duration::from_secs(3600)).await;
    let (_, pair) = server.login_as(&email("exp")).await;
    server.clock.advance(Duration::from_secs(3599));
    let next = server.refresh(&pair.refresh_token).await.unwrap();
    // Its lifetime to the second, and not one second more.
    server.clock.advance(Duration::from_secs(3600));
    assert_error(
        server.refresh(&next.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
}

async fn a_logged_out_sessions_refresh_token_is_token_revoked(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, pair) = server.login_as(&email("out")).await;
    server.logout(&pair.refresh_token, false).await.unwrap();
    assert_error(
        server.refresh(&pair.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

async fn replayed_refresh_token_revokes_the_whole_session(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, first) = server.login_as(&email("replay")).await;
    let second = server.refresh(&first.refresh_token).await.unwrap();

    assert_error(
        server.refresh(&first.refresh_token).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    // The session's newest refresh token is dead too...
    assert_error(
        server.refresh(&second.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    // ...and so are its access tokens, old and new.
    for access in [&first.access_token, &second.access_token] {
        assert_error(
            server.verify(access).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
    }
}

async fn reuse_revokes_only_that_session(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("two");
    let (_, a) = server.login_as(&email).await;
    let b = server.new_session(&email).await;
    server.refresh(&a.refresh_token).await.unwrap();
    let _ = server.refresh(&a.refresh_token).await.unwrap_err();
    assert!(server.verify(&b.access_token).await.is_ok());
    assert!(server.refresh(&b.refresh_token).await.is_ok());
}

async fn ten_concurrent_refreshes_of_one_token_give_exactly_one_ok_and_revoke_the_session(
    backend: Backend,
) {
    refresh_race(&harness::spawn(backend).await).await;
}

/// 10 concurrent refreshes of one token: exactly one OK, the rest REFRESH_TOKEN_REUSED,
/// and the session (the first and the winner's tokens) revoked. Shared with the
/// PostgreSQL run.
pub async fn refresh_race(server: &TestServer) {
    let (_, pair) = server.login_as(&email("race")).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let mut client = server.client();
            let token = pair.refresh_token.clone();
            tokio::spawn(async move {
                client
                    .refresh(tessera::proto::RefreshRequest {
                        refresh_token: token,
                    })
                    .await
                    .map(|r| r.into_inner().tokens.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(pair) => winners.push(pair),
            Err(status) => {
                assert_error::<()>(Err(status), Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
            }
        }
    }
    assert_eq!(winners.len(), 1);
    // Strict rotation: the racing copies count as reuse, so even the winner's new pair is revoked.
    let winner = &winners[0];
    assert_error(
        server.refresh(&winner.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    for access in [&winner.access_token, &pair.access_token] {
        assert_error(
            server.verify(access).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
    }
}

on_both_backends!(
    refresh_returns_a_new_pair_and_spends_the_presented_token,
    the_access_token_issued_before_a_refresh_still_verifies,
    unknown_or_malformed_refresh_tokens_are_token_invalid,
    an_expired_refresh_token_is_token_expired,
    a_logged_out_sessions_refresh_token_is_token_revoked,
    replayed_refresh_token_revokes_the_whole_session,
    reuse_revokes_only_that_session,
    ten_concurrent_refreshes_of_one_token_give_exactly_one_ok_and_revoke_the_session,
);

/// A server that forgives one refresh retry within 10 s.
async fn with_grace(backend: Backend) -> TestServer {
    harness::spawn_stepped(backend, |c| {
        c.refresh_reuse_grace = Duration::from_secs(10);
    })
    .await
}

async fn within_the_reuse_grace_a_retry_gets_the_same_successor_once(backend: Backend) {
    let server = with_grace(backend).await;
    let (_, first) = server.login_as(&email("retry")).await;
    let lost = server.refresh(&first.refresh_token).await.unwrap();
    server.clock.advance(Duration::from_secs(9));
    let again = server.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(
        again.refresh_token, lost.refresh_token,
        "the same successor"
    );
    assert!(server.verify(&again.access_token).await.is_ok());
    // A second retry is reuse: the session is revoked.
    assert_error(
        server.refresh(&first.refresh_token).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    assert_error(
        server.refresh(&lost.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

async fn a_retry_after_the_grace_or_after_the_successor_was_spent_is_reuse(backend: Backend) {
    let server = with_grace(backend).await;
    let (_, late) = server.login_as(&email("late")).await;
    server.refresh(&late.refresh_token).await.unwrap();
    server.clock.advance(Duration::from_secs(10));
    assert_error(
        server.refresh(&late.refresh_token).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );

    let (_, moved_on) = server.login_as(&email("moved")).await;
    let next = server.refresh(&moved_on.refresh_token).await.unwrap();
    server.refresh(&next.refresh_token).await.unwrap();
    assert_error(
        server.refresh(&moved_on.refresh_token).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
}

async fn a_retry_after_the_server_restarted_gets_the_same_successor(backend: Backend) {
    let server = with_grace(backend).await;
    let (_, first) = server.login_as(&email("crash")).await;
    // The rotation committed, the answer never reached the client, the server went
    // down: the client retries against the restarted server.
    let lost = server.refresh(&first.refresh_token).await.unwrap();
    let server = server.restart().await;
    let again = server.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(again.refresh_token, lost.refresh_token);
    server.refresh(&again.refresh_token).await.unwrap();
}

async fn without_a_grace_a_retry_is_reuse(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (_, first) = server.login_as(&email("strict")).await;
    server.refresh(&first.refresh_token).await.unwrap();
    assert_error(
        server.refresh(&first.refresh_token).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
}

on_both_backends!(
    within_the_reuse_grace_a_retry_gets_the_same_successor_once,
    a_retry_after_the_grace_or_after_the_successor_was_spent_is_reuse,
    a_retry_after_the_server_restarted_gets_the_same_successor,
    without_a_grace_a_retry_is_reuse,
);
