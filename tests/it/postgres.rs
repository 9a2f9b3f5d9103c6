//! The claims that depend on the database, run end to end on PostgreSQL. Skipped (and
//! said so) when `TESSERA_TEST_DATABASE_URL` is not set; `.ci/run` sets it.

use tessera::proto::RegisterRequest;
use tonic::Code;

use crate::harness::{self, PASSWORD, assert_error, email};

#[tokio::test]
async fn on_postgres_twenty_concurrent_registrations_of_one_email_give_exactly_one_ok() {
    let Some(server) = harness::spawn_postgres("postgres registration race", |_| {}).await else {
        return;
    };
    let email = email("pgrace");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut client = server.client();
            let email = if i % 2 == 0 {
                email.to_uppercase()
            } else {
                format!(" {email} ")
            };
            tokio::spawn(async move {
                client
                    .register(RegisterRequest {
                        email,
                        password: PASSWORD.into(),
                    })
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_error::<()>(Err(status), Code::AlreadyExists, "EMAIL_TAKEN");
            }
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn on_postgres_ten_concurrent_refreshes_give_exactly_one_ok_and_reuse_revokes() {
    let Some(server) = harness::spawn_postgres("postgres refresh race", |_| {}).await else {
        return;
    };
    let (_, pair) = server.login_as(&email("pgrot")).await;
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
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_error::<()>(Err(status), Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
            }
        }
    }
    assert_eq!(ok, 1);
    assert_error(
        server.verify(&pair.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

#[tokio::test]
async fn on_postgres_logout_revokes_only_that_session() {
    let Some(server) = harness::spawn_postgres("postgres logout", |_| {}).await else {
        return;
    };
    let email = email("pgout");
    let (_, live) = server.login_as(&email).await;
    let gone = server.new_session(&email).await;
    server.logout(&gone.refresh_token, false).await.unwrap();
    assert_error(
        server.verify(&gone.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert!(server.verify(&live.access_token).await.is_ok());
    assert!(server.refresh(&live.refresh_token).await.is_ok());
}
