use tessera::proto::RegisterRequest;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{
    self, Backend, PASSWORD, TestServer, assert_error, bad_request_field, email, on_both_backends,
};

fn request(email: &str, password: &str) -> RegisterRequest {
    RegisterRequest {
        email: email.into(),
        password: password.into(),
    }
}

async fn register_returns_the_user_with_a_normalized_email_and_the_user_role(backend: Backend) {
    let server = harness::spawn(backend).await;
    let user = server
        .client()
        .register(request("  Ada.Lovelace@Example.COM ", PASSWORD))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(uuid_like(&user.id), "{}", user.id);
    assert_eq!(user.email, "ada.lovelace@example.com");
    assert_eq!(user.roles, vec!["user".to_string()]);
    assert!(user.created_at.unwrap().seconds > 0);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

async fn missing_malformed_or_overlong_emails_are_invalid_email_on_the_email_field(
    backend: Backend,
) {
    let server = harness::spawn(backend).await;
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in ["", "not-an-email", "a@b", long.as_str()] {
        let status = assert_error(
            server.client().register(request(bad, PASSWORD)).await,
            Code::InvalidArgument,
            "INVALID_EMAIL",
        );
        assert_eq!(bad_request_field(&status), "email", "{bad}");
    }
}

async fn short_missing_or_over_72_byte_passwords_are_weak_password_on_the_password_field(
    backend: Backend,
) {
    let server = harness::spawn(backend).await;
    let over_72_bytes = "é".repeat(40); // 40 characters, 80 bytes
    for bad in [
        "",
        "1234567",
        "a".repeat(73).as_str(),
        over_72_bytes.as_str(),
        "x".repeat(2000).as_str(),
    ] {
        let status = assert_error(
            server.client().register(request(&email("weak"), bad)).await,
            Code::InvalidArgument,
            "WEAK_PASSWORD",
        );
        assert_eq!(bad_request_field(&status), "password");
    }
}

async fn an_email_registered_already_however_cased_or_padded_is_email_taken(backend: Backend) {
    let server = harness::spawn(backend).await;
    server.register("grace@example.com").await;
    for again in [
        "grace@example.com",
        " GRACE@example.com\t",
        "Grace@Example.Com",
    ] {
        assert_error(
            server.client().register(request(again, PASSWORD)).await,
            Code::AlreadyExists,
            "EMAIL_TAKEN",
        );
    }
}

async fn twenty_concurrent_registrations_of_one_email_give_exactly_one_ok(backend: Backend) {
    registration_race(&harness::spawn(backend).await).await;
}

/// 20 concurrent registrations of one email, variously cased and padded: exactly one
/// OK, the rest EMAIL_TAKEN. Shared with the PostgreSQL run.
pub async fn registration_race(server: &TestServer) {
    let email = email("race");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut client = server.client();
            // Vary case and padding: the normalized email is what must be unique.
            let email = if i % 2 == 0 {
                email.to_uppercase()
            } else {
                format!(" {email} ")
            };
            tokio::spawn(async move { client.register(request(&email, PASSWORD)).await })
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

async fn registrations_past_the_address_budget_are_rate_limited_and_store_nothing(
    backend: Backend,
) {
    let server = harness::spawn_with(backend, |c| c.registrations_per_address_per_minute = 3).await;
    let taken = email("taken");
    server.register(&taken).await;
    server.register(&email("second")).await;
    // A taken email costs a hash too: it counts.
    assert_error(
        server.client().register(request(&taken, PASSWORD)).await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    let late = email("late");
    let status = assert_error(
        server.client().register(request(&late, PASSWORD)).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    assert!(status.get_details_retry_info().is_some());
    assert_error(
        server.login(&late, PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // Input that is refused before any hashing does not spend the budget of others.
    assert_error(
        server
            .client()
            .register(request("not-an-email", PASSWORD))
            .await,
        Code::InvalidArgument,
        "INVALID_EMAIL",
    );
}

async fn a_flood_of_registrations_leaves_logins_their_share_of_hashing(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 10 };
        c.hashing.concurrency = 1;
        c.hashing.queue = 3;
    })
    .await;
    let user = email("existing");
    server.register(&user).await;
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut client = server.client();
        let address = email("flood");
        flood.spawn(async move { client.register(request(&address, PASSWORD)).await });
    }
    // Once one registration is turned away, the hashing room registrations may take
    // is full: a login now must still find room.
    let mut overloaded = 0;
    while let Some(answer) = flood.join_next().await {
        if answer.unwrap().is_err() {
            overloaded += 1;
            break;
        }
    }
    assert!(overloaded > 0, "the flood filled the registrations' share");
    server
        .login(&user, PASSWORD)
        .await
        .expect("a login is not OVERLOADED by registrations");
    while let Some(answer) = flood.join_next().await {
        if let Err(status) = answer.unwrap() {
            assert_error::<()>(Err(status), Code::ResourceExhausted, "OVERLOADED");
        }
    }
}

async fn spellings_of_one_mailbox_are_one_account(backend: Backend) {
    let server = harness::spawn(backend).await;
    server.register("jos\u{e9}@b\u{fc}cher.de").await;
    for other in ["jose\u{301}@B\u{dc}CHER.de", "JOS\u{c9}@xn--bcher-kva.de"] {
        assert_error(
            server.client().register(request(other, PASSWORD)).await,
            Code::AlreadyExists,
            "EMAIL_TAKEN",
        );
        server
            .login(other, PASSWORD)
            .await
            .expect("the same account");
    }
    let status = assert_error(
        server
            .client()
            .register(request("jos\u{e9}\u{200b}@b\u{fc}cher.de", PASSWORD))
            .await,
        Code::InvalidArgument,
        "INVALID_EMAIL",
    );
    assert_eq!(bad_request_field(&status), "email");
}

async fn stored_emails_are_renormalized_at_start_and_collisions_reported_not_merged(
    backend: Backend,
) {
    let server = harness::spawn(backend).await;
    let nfc = server.register("jos\u{e9}@example.com").await;
    let legacy = |id: &str, email: &str| {
        format!(
            "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at) \
             VALUES ('{id}', '{email}', '$2b$04$not-a-real-hash', 'user', 1, 1)"
        )
    };
    let (fullwidth, decomposed) = (
        tessera::domain::UserId::random().to_string(),
        tessera::domain::UserId::random().to_string(),
    );
    // Rows an earlier version stored: lower-cased only.
    let statements = vec![
        legacy(&fullwidth, "\u{ff41}\u{ff44}\u{ff41}@example.com"),
        legacy(&decomposed, "jose\u{301}@example.com"),
        "UPDATE email_form SET version = 1".to_string(),
    ];
    let config = server.config.clone();
    let server = server
        .restart_after(|| async move { harness::execute(&config, &statements).await })
        .await;
    // The fullwidth account was rewritten: its plain spelling now finds it.
    assert_error(
        server
            .client()
            .register(request("ada@example.com", PASSWORD))
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    // The decomposed one collides with the composed one: both are kept.
    let users = harness::count(&server.config, "SELECT COUNT(*) FROM users").await;
    assert_eq!(users, 3);
    let login = server
        .login("jos\u{e9}@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(login.user.unwrap().id, nfc.id);
    // Until the collision is resolved, the next start looks again.
    let form = harness::count(&server.config, "SELECT MAX(version) FROM email_form").await;
    assert_eq!(form, 1);
}

on_both_backends!(
    spellings_of_one_mailbox_are_one_account,
    stored_emails_are_renormalized_at_start_and_collisions_reported_not_merged,
    registrations_past_the_address_budget_are_rate_limited_and_store_nothing,
    a_flood_of_registrations_leaves_logins_their_share_of_hashing,
    register_returns_the_user_with_a_normalized_email_and_the_user_role,
    missing_malformed_or_overlong_emails_are_invalid_email_on_the_email_field,
    short_missing_or_over_72_byte_passwords_are_weak_password_on_the_password_field,
    an_email_registered_already_however_cased_or_padded_is_email_taken,
    twenty_concurrent_registrations_of_one_email_give_exactly_one_ok,
);
