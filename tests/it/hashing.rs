//! Password hashing through the real server: argon2id hashes, long passwords, the
//! rehash of older hashes at login, and the same time for unknown emails.

use tessera::domain::Password;
use tessera::password::{Algorithm, argon2id, bcrypt};
use tonic::Code;

use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, on_both_backends};

/// Cheap enough for a debug build, and still argon2id.
const CHEAP: argon2id::Cost = argon2id::Cost {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

async fn argon2id_server(backend: Backend) -> TestServer {
    harness::spawn_with(backend, |c| {
        c.hashing.algorithm = Algorithm::Argon2id(CHEAP);
    })
    .await
}

/// The stored hash of the user with this email.
async fn stored_hash(server: &TestServer, address: &str) -> String {
    let sql = format!("SELECT password_hash FROM users WHERE email = '{address}'");
    harness::text(&server.config, &sql).await
}

async fn set_hash(server: &TestServer, address: &str, hash: &str) {
    let sql = format!("UPDATE users SET password_hash = '{hash}' WHERE email = '{address}'");
    harness::execute(&server.config, &[sql]).await;
}

async fn new_passwords_are_argon2id_and_may_be_long(backend: Backend) {
    let server = argon2id_server(backend).await;
    let address = email("argon");
    server.register(&address).await;
    assert!(
        stored_hash(&server, &address)
            .await
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$")
    );
    assert!(server.login(&address, PASSWORD).await.is_ok());

    // argon2id reads every byte: 100 bytes register, and the 72-byte prefix is not it.
    let long = "a long passphrase ".repeat(6);
    let other = email("long");
    server
        .client()
        .register(tessera::proto::RegisterRequest {
            email: other.clone(),
            password: long.clone(),
        })
        .await
        .unwrap();
    assert!(server.login(&other, &long).await.is_ok());
    assert_error(
        server.login(&other, &long[..72]).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // Over 1 KiB is refused, as at login.
    let huge = server
        .client()
        .register(tessera::proto::RegisterRequest {
            email: email("huge"),
            password: "x".repeat(1025),
        })
        .await;
    assert_error(huge, Code::InvalidArgument, "WEAK_PASSWORD");
}

async fn a_bcrypt_hash_is_rehashed_to_argon2id_at_the_next_login(backend: Backend) {
    let server = argon2id_server(backend).await;
    let address = email("upgrade");
    server.register(&address).await;
    let password = Password::new(PASSWORD.into(), bcrypt::RULES).unwrap();
    let old = bcrypt::hash(&password, 4).unwrap();
    set_hash(&server, &address, old.expose()).await;

    // A wrong password changes nothing.
    assert_error(
        server.login(&address, "not the password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(stored_hash(&server, &address).await, old.expose());

    assert!(server.login(&address, PASSWORD).await.is_ok());
    let new = stored_hash(&server, &address).await;
    assert!(new.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{new}");
    assert!(server.login(&address, PASSWORD).await.is_ok());
    assert_eq!(stored_hash(&server, &address).await, new, "rehashed once");
}

async fn a_raised_bcrypt_cost_or_argon2id_cost_is_applied_at_the_next_login(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.hashing.algorithm = Algorithm::Bcrypt { cost: 5 };
    })
    .await;
    let address = email("cost");
    server.register(&address).await;
    let password = Password::new(PASSWORD.into(), bcrypt::RULES).unwrap();
    set_hash(
        &server,
        &address,
        bcrypt::hash(&password, 4).unwrap().expose(),
    )
    .await;
    assert!(server.login(&address, PASSWORD).await.is_ok());
    assert!(stored_hash(&server, &address).await.starts_with("$2b$05$"));

    let server = argon2id_server(backend).await;
    let address = email("argon-cost");
    server.register(&address).await;
    let weaker = argon2id::Cost {
        memory_kib: 512,
        ..CHEAP
    };
    let old = argon2id::hash(&password, weaker).unwrap();
    set_hash(&server, &address, old.expose()).await;
    assert!(server.login(&address, PASSWORD).await.is_ok());
    assert!(
        stored_hash(&server, &address)
            .await
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$")
    );
}

async fn unknown_email_and_wrong_password_take_the_same_time_under_argon2id(backend: Backend) {
    // A cost where one hash dominates the request, as bcrypt cost 9 does.
    let cost = argon2id::Cost {
        memory_kib: 8 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    crate::login::take_the_same_time(backend, Algorithm::Argon2id(cost)).await;
}

on_both_backends!(
    new_passwords_are_argon2id_and_may_be_long,
    a_bcrypt_hash_is_rehashed_to_argon2id_at_the_next_login,
    a_raised_bcrypt_cost_or_argon2id_cost_is_applied_at_the_next_login,
    unknown_email_and_wrong_password_take_the_same_time_under_argon2id,
);
