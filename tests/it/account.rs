//! DeleteAccount through the real server, and the life of an account from
//! registration to deletion and a new registration of its email.

use std::time::Duration;

use tessera::proto::{ChangePasswordRequest, DeleteAccountRequest, DeleteAccountResponse};
use tonic::{Code, Status};

use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, on_both_backends};

async fn delete(
    server: &TestServer,
    access_token: &str,
    password: &str,
) -> Result<DeleteAccountResponse, Status> {
    server
        .client()
        .delete_account(DeleteAccountRequest {
            access_token: access_token.into(),
            current_password: password.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn deleting_needs_the_password_and_ends_every_session(backend: Backend) {
    let server = harness::spawn(backend).await;
    let address = email("leaving");
    let (user, mine) = server.login_as(&address).await;
    let other = server.new_session(&address).await;

    assert_error(
        delete(&server, &mine.access_token, "not the password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert!(server.verify(&other.access_token).await.is_ok());

    let answer = delete(&server, &mine.access_token, PASSWORD).await.unwrap();
    assert_eq!(answer.revoked_sessions, 2);
    for pair in [&mine, &other] {
        harness::assert_revoked(&server, &pair.access_token).await;
        // The refresh tokens went with the account.
        assert_error(
            server.refresh(&pair.refresh_token).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }
    assert_error(
        server.login(&address, PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // A token of the deleted account cannot delete or change anything any more.
    assert_error(
        delete(&server, &other.access_token, PASSWORD).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    let password_hashes = harness::count(
        &server.config,
        "SELECT COUNT(*) FROM users WHERE password_hash <> ''",
    )
    .await;
    let reborn = server.register(&address).await;
    assert_ne!(reborn.id, user.id);
    let after = harness::count(
        &server.config,
        "SELECT COUNT(*) FROM users WHERE password_hash <> ''",
    )
    .await;
    assert_eq!(after, password_hashes + 1);
}

async fn the_email_stays_taken_for_the_reuse_delay_and_the_revocations_survive_a_restart(
    backend: Backend,
) {
    let server = harness::spawn_stepped(backend, |c| {
        c.email_reuse_delay = Duration::from_secs(3600);
    })
    .await;
    let address = email("tombstone");
    let (_, pair) = server.login_as(&address).await;
    delete(&server, &pair.access_token, PASSWORD).await.unwrap();

    let register = |server: &TestServer| {
        let mut client = server.client();
        let address = address.clone();
        async move {
            client
                .register(tessera::proto::RegisterRequest {
                    email: address,
                    password: PASSWORD.into(),
                })
                .await
        }
    };
    assert_error(register(&server).await, Code::AlreadyExists, "EMAIL_TAKEN");
    // The tombstone keeps the revocations: a restarted server refuses the tokens too.
    let server = server.restart().await;
    harness::assert_revoked(&server, &pair.access_token).await;
    server.clock.advance(Duration::from_secs(3599));
    assert_error(register(&server).await, Code::AlreadyExists, "EMAIL_TAKEN");
    server.clock.advance(Duration::from_secs(1));
    assert!(register(&server).await.is_ok());
}

async fn live_verifiers_see_the_deletion(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.watch_heartbeat = Duration::from_secs(3600);
    })
    .await;
    let address = email("watched-leaving");
    let (_, mine) = server.login_as(&address).await;
    let mut stream = server.watch_from_nothing().await;
    delete(&server, &mine.access_token, PASSWORD).await.unwrap();
    assert_eq!(
        harness::next_revoked(&mut stream).await,
        vec![harness::session_of(&mine.access_token)]
    );
}

/// The story: register, change the password (the other sessions end),
/// reset it, delete the account, and register the email again once the tombstone
/// delay has passed.
async fn an_account_from_registration_to_deletion_and_back(backend: Backend) {
    let server = harness::spawn_stepped(backend, |c| {
        c.email_reuse_delay = Duration::from_secs(600);
    })
    .await;
    let admin = crate::admin::Admin::of(&server).await;
    let address = email("story");
    let (first_user, mine) = server.login_as(&address).await;
    let other = server.new_session(&address).await;
    let changed = "a new passphrase for the story";
    server
        .client()
        .change_password(ChangePasswordRequest {
            refresh_token: mine.refresh_token.clone(),
            current_password: PASSWORD.into(),
            new_password: changed.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    harness::assert_revoked(&server, &other.access_token).await;
    assert!(server.verify(&mine.access_token).await.is_ok());

    // Forgotten after all: an admin's reset token sets another, and ends every session.
    let request = admin.ask(tessera::proto::CreatePasswordResetTokenRequest {
        email: address.clone(),
    });
    let token = admin
        .client()
        .create_password_reset_token(request)
        .await
        .unwrap()
        .into_inner()
        .token;
    let reset = "the reset passphrase";
    let revoked = server
        .client()
        .reset_password(tessera::proto::ResetPasswordRequest {
            token,
            new_password: reset.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .revoked_sessions;
    assert_eq!(revoked, 1);
    harness::assert_revoked(&server, &mine.access_token).await;
    assert_error(
        server.login(&address, changed).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let last = server.login(&address, reset).await.unwrap().tokens.unwrap();

    // The old password no longer deletes; the current one does, by refresh token too.
    let by_refresh = |password: &str| {
        let mut client = server.client();
        let request = DeleteAccountRequest {
            refresh_token: last.refresh_token.clone(),
            current_password: password.into(),
            ..Default::default()
        };
        async move { client.delete_account(request).await }
    };
    assert_error(
        by_refresh(changed).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(
        by_refresh(reset)
            .await
            .unwrap()
            .into_inner()
            .revoked_sessions,
        1
    );

    // The email waits out the tombstone delay, then belongs to someone new.
    let register = || {
        let mut client = server.client();
        let request = tessera::proto::RegisterRequest {
            email: address.clone(),
            password: PASSWORD.into(),
        };
        async move { client.register(request).await }
    };
    assert_error(register().await, Code::AlreadyExists, "EMAIL_TAKEN");
    server.clock.advance(Duration::from_secs(600));
    let second_user = register().await.unwrap().into_inner().user.unwrap();
    assert_ne!(second_user.id, first_user.id);
    assert!(server.login(&address, PASSWORD).await.is_ok());
    assert_error(
        server.login(&address, reset).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
}

on_both_backends!(
    deleting_needs_the_password_and_ends_every_session,
    the_email_stays_taken_for_the_reuse_delay_and_the_revocations_survive_a_restart,
    live_verifiers_see_the_deletion,
    an_account_from_registration_to_deletion_and_back,
);
