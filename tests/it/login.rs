use std::time::{Duration, Instant};

use tessera::proto::LoginRequest;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{self, Backend, PASSWORD, assert_error, email, on_both_backends};

async fn login_returns_a_bearer_pair_with_lifetimes_and_the_user(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("login");
    let registered = server.register(&email).await;
    let res = server.login(&email.to_uppercase(), PASSWORD).await.unwrap();
    let tokens = res.tokens.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 15 * 60);
    assert_eq!(tokens.refresh_expires_in, 7 * 24 * 3600);
    assert_eq!(tokens.access_token.split('.').count(), 3);
    assert!(
        tokens.refresh_token.len() >= 43,
        "at least 256 bits, base64url"
    );
    assert_eq!(res.user.unwrap(), registered);
}

async fn wrong_password_and_unknown_email_get_the_same_answer(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("same");
    server.register(&email).await;
    let wrong = assert_error(
        server.login(&email, "not the password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let unknown = assert_error(
        server.login(&harness::email("nobody"), PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(wrong.message(), unknown.message());
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn unknown_email_and_wrong_password_take_the_same_time(backend: Backend) {
    // A cost where one verify dominates the request.
    let bcrypt = tessera::password::Algorithm::Bcrypt { cost: 9 };
    take_the_same_time(backend, bcrypt).await;
}

/// An unknown email and a wrong password, timed alternately under `algorithm`: the
/// medians within a factor of two.
pub async fn take_the_same_time(backend: Backend, algorithm: tessera::password::Algorithm) {
    // Budgets out of the way.
    let server = harness::spawn_with(backend, |c| {
        c.hashing.algorithm = algorithm;
        c.login_attempts_per_minute = 1_000_000;
        c.login_attempts_per_address_per_minute = 1_000_000;
        // Every attempt must reach the hashing: none may be refused for the budget.
        c.login_attempts_per_email_per_minute = 1_000_000;
    })
    .await;
    let email = email("timing");
    server.register(&email).await;
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so whatever else the machine does weighs on both series alike.
    for i in 0..30 {
        let start = Instant::now();
        let _ = server.login(&email, "not the password").await.unwrap_err();
        wrong.push(start.elapsed());
        let start = Instant::now();
        let _ = server
            .login(&format!("ghost{i}@example.com"), "not the password")
            .await
            .unwrap_err();
        unknown.push(start.elapsed());
    }
    let (wrong, unknown) = (median(wrong), median(unknown));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown email {unknown:?} vs wrong password {wrong:?}"
    );
}

async fn failures_past_the_email_budget_are_rate_limited_even_with_the_right_password(
    backend: Backend,
) {
    let server = harness::spawn_with(backend, |c| c.login_attempts_per_minute = 3).await;
    let email = email("budget");
    server.register(&email).await;
    for _ in 0..3 {
        assert_error(
            server.login(&email, "wrong password").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    let status = assert_error(
        server.login(&email, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    let retry = status.get_details_retry_info().expect("a RetryInfo");
    let delay = retry.retry_delay.expect("a retry delay");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(60),
        "{delay:?}"
    );
    // Another email is not affected.
    let other = harness::email("other");
    server.register(&other).await;
    assert!(server.login(&other, PASSWORD).await.is_ok());
}

async fn the_email_budget_applies_to_unknown_emails_too(backend: Backend) {
    let server = harness::spawn_with(backend, |c| c.login_attempts_per_minute = 2).await;
    let ghost = email("ghost");
    for _ in 0..2 {
        assert_error(
            server.login(&ghost, PASSWORD).await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        server.login(&ghost, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
}

async fn a_successful_login_resets_the_email_budget(backend: Backend) {
    let server = harness::spawn_with(backend, |c| c.login_attempts_per_minute = 3).await;
    let email = email("reset");
    server.register(&email).await;
    for _ in 0..2 {
        let _ = server.login(&email, "wrong password").await.unwrap_err();
    }
    server.login(&email, PASSWORD).await.unwrap();
    // Three fresh failures are allowed again before throttling.
    for _ in 0..3 {
        assert_error(
            server.login(&email, "wrong password").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        server.login(&email, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
}

async fn failures_past_the_address_budget_are_rate_limited_across_emails(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.login_attempts_per_minute = 100;
        c.login_attempts_per_address_per_minute = 4;
    })
    .await;
    let victim = email("victim");
    server.register(&victim).await;
    for i in 0..4 {
        let spray = format!("spray{i}@example.com");
        assert_error(
            server.login(&spray, PASSWORD).await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        server.login(&victim, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
}

async fn failures_from_one_address_do_not_lock_the_owner_out_elsewhere(backend: Backend) {
    let server = harness::spawn(backend).await;
    let victim = email("owner");
    server.register(&victim).await;
    for _ in 0..5 {
        assert_error(
            server.login(&victim, "wrong password").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    // The sixth failure from that address is throttled, even with the right password.
    assert_error(
        server.login(&victim, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    // The owner, from another address, logs in.
    server
        .login_from("127.0.0.2", &victim, PASSWORD)
        .await
        .expect("the owner is not locked out");
}

async fn the_email_ceiling_stops_guessing_one_account_from_many_addresses(backend: Backend) {
    let server = harness::spawn_with(backend, |c| c.login_attempts_per_email_per_minute = 3).await;
    let victim = email("ceiling");
    server.register(&victim).await;
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        assert_error(
            server.login_from(ip, &victim, "wrong password").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        server.login_from("127.0.0.5", &victim, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
}

async fn a_throttled_client_writes_nothing(backend: Backend) {
    let server =
        harness::spawn_with(backend, |c| c.login_attempts_per_address_per_minute = 2).await;
    for i in 0..2 {
        assert_error(
            server
                .login(&format!("spray{i}@example.com"), PASSWORD)
                .await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    let rows = server.attempt_rows().await;
    for _ in 0..20 {
        assert_error(
            server.login(&email("spray"), PASSWORD).await,
            Code::ResourceExhausted,
            "RATE_LIMITED",
        );
    }
    assert_eq!(
        server.attempt_rows().await,
        rows,
        "refused logins wrote rows"
    );
}

async fn a_full_hashing_queue_answers_resource_exhausted_instead_of_queueing(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 10 };
        c.hashing.concurrency = 1;
        c.hashing.queue = 1;
        c.login_attempts_per_minute = 1_000;
        c.login_attempts_per_address_per_minute = 1_000;
    })
    .await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let mut client = server.client();
            tokio::spawn(async move {
                client
                    .login(LoginRequest {
                        email: format!("load{i}@example.com"),
                        password: PASSWORD.into(),
                    })
                    .await
            })
        })
        .collect();
    let mut overloaded = 0;
    for task in tasks {
        if let Err(status) = task.await.unwrap()
            && status.code() == Code::ResourceExhausted
        {
            assert_error::<()>(Err(status), Code::ResourceExhausted, "OVERLOADED");
            overloaded += 1;
        }
    }
    assert!(
        overloaded >= 1,
        "8 logins on 1 slot + 1 queue place: some must be refused"
    );
}

async fn a_password_over_one_kib_is_refused_before_hashing(backend: Backend) {
    let server = harness::spawn(backend).await;
    let status = assert_error(
        server.login(&email("big"), &"x".repeat(1025)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(harness::bad_request_field(&status), "password");
}

async fn a_72_byte_password_works_and_a_longer_one_sharing_its_prefix_does_not(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("edge");
    let password = "p".repeat(72);
    server
        .client()
        .register(tessera::proto::RegisterRequest {
            email: email.clone(),
            password: password.clone(),
        })
        .await
        .unwrap();
    assert!(server.login(&email, &password).await.is_ok());
    assert_error(
        server.login(&email, &format!("{password}extra")).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
}

on_both_backends!(
    a_login_its_client_abandons_still_settles_the_failed_login_budget,
    login_returns_a_bearer_pair_with_lifetimes_and_the_user,
    wrong_password_and_unknown_email_get_the_same_answer,
    unknown_email_and_wrong_password_take_the_same_time,
    failures_past_the_email_budget_are_rate_limited_even_with_the_right_password,
    the_email_budget_applies_to_unknown_emails_too,
    a_successful_login_resets_the_email_budget,
    failures_past_the_address_budget_are_rate_limited_across_emails,
    a_full_hashing_queue_answers_resource_exhausted_instead_of_queueing,
    a_password_over_one_kib_is_refused_before_hashing,
    a_72_byte_password_works_and_a_longer_one_sharing_its_prefix_does_not,
    failures_from_one_address_do_not_lock_the_owner_out_elsewhere,
    the_email_ceiling_stops_guessing_one_account_from_many_addresses,
    a_throttled_client_writes_nothing,
);

/// A client that gives up on its logins mid-way must not spend the user's budget:
/// each abandoned login still runs to its end on the server and settles it.
async fn a_login_its_client_abandons_still_settles_the_failed_login_budget(backend: Backend) {
    let server = harness::spawn_with(backend, |config| {
        // Slow enough hashing that the client gives up while its login hashes.
        config.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 10 };
        config.login_attempts_per_minute = 2;
    })
    .await;
    let email = email("abandoned");
    server.register(&email).await;
    let mut abandoned = 0;
    for _ in 0..4 {
        let mut client = server.client();
        let request = LoginRequest {
            email: email.clone(),
            password: PASSWORD.into(),
        };
        match tokio::time::timeout(Duration::from_millis(20), client.login(request)).await {
            Err(_) => abandoned += 1,
            // The budget is spent while the abandoned ones still hash (a slow machine):
            // refused at once, before any hashing, so it spends nothing.
            Ok(answer) => {
                assert_error(answer, Code::ResourceExhausted, "RATE_LIMITED");
            }
        }
        // Each login arrives after the one before was admitted.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Two abandoned logins spend the whole budget unless they settle.
    assert!(abandoned >= 2, "only {abandoned} logins were abandoned");
    let settled = harness::eventually(Duration::from_secs(10), || async {
        server.login(&email, PASSWORD).await.is_ok()
    })
    .await;
    assert!(settled, "abandoned logins left the email throttled");
}
