//! Probes through the API as any client may call it: the login and registration
//! budgets, email spellings, a spent refresh token, and requests the decoder refuses.
//! Each address is a loopback address of its own (127.0.0.x), as distinct clients.

use std::net::IpAddr;

use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::{
    LoginRequest, LoginResponse, LogoutRequest, RefreshRequest, RegisterRequest, RegisterResponse,
};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tonic_types::StatusExt;

use crate::{Target, Verdict};

const PASSWORD: &str = "correct horse battery";

pub async fn probes(target: &Target) -> Vec<Verdict> {
    let run = format!("{:x}", std::process::id());
    let victim = format!("victim-{run}@abuse.test");
    let mut verdicts = Vec::new();
    let ok = register(target, "127.0.0.9", &victim).await;
    if let Err(s) = ok {
        return vec![Verdict::new("3", "register the victim", false, reason(&s))];
    }
    verdicts.push(sixth_failure(target, &victim).await);
    verdicts.push(not_locked_out(target, &victim).await);
    verdicts.push(refused_logins_write_nothing(target, &run).await);
    verdicts.push(register_budget(target, &run).await);
    verdicts.extend(emails(target, &run).await);
    verdicts.push(spent_logout(target, &victim).await);
    verdicts.extend(malformed(target).await);
    verdicts
}

async fn channel(target: &Target, from: &str) -> Result<Channel, Status> {
    let local: IpAddr = from.parse().expect("a loopback address");
    Endpoint::from_shared(target.url())
        .expect("a URL")
        .local_address(Some(local))
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))
}

async fn client(target: &Target, from: &str) -> Result<AuthServiceClient<Channel>, Status> {
    Ok(AuthServiceClient::new(channel(target, from).await?))
}

async fn register(target: &Target, from: &str, email: &str) -> Result<(), Status> {
    client(target, from)
        .await?
        .register(RegisterRequest {
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .map(|_| ())
}

async fn login(
    target: &Target,
    from: &str,
    email: &str,
    password: &str,
) -> Result<LoginResponse, Status> {
    client(target, from)
        .await?
        .login(LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The ErrorInfo reason of a refusal, or the code when there is none.
fn reason(status: &Status) -> String {
    status.get_details_error_info().map_or_else(
        || format!("{:?} without ErrorInfo", status.code()),
        |i| i.reason,
    )
}

fn outcome<T>(result: &Result<T, Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(s) => reason(s),
    }
}

/// Item 3 (the contract's row): the sixth failure from one address is RATE_LIMITED
/// with RetryInfo.
async fn sixth_failure(target: &Target, victim: &str) -> Verdict {
    let mut last = Ok(LoginResponse::default());
    for _ in 0..6 {
        last = login(target, "127.0.0.2", victim, "wrong password").await;
    }
    let retry = last
        .as_ref()
        .err()
        .and_then(|s| s.get_details_retry_info())
        .is_some();
    let seen = format!("{}, RetryInfo {retry}", outcome(&last));
    let held = matches!(&last, Err(s) if reason(s) == "RATE_LIMITED") && retry;
    Verdict::new(
        "3",
        "sixth failure from one address is RATE_LIMITED",
        held,
        seen,
    )
}

/// Item 4: failures from one address do not lock the victim out elsewhere.
async fn not_locked_out(target: &Target, victim: &str) -> Verdict {
    let result = login(target, "127.0.0.4", victim, PASSWORD).await;
    Verdict::new(
        "4",
        "victim logs in from elsewhere after another's failures",
        result.is_ok(),
        outcome(&result),
    )
}

/// Item 3: once an address's budget is spent, its logins are refused by a read and
/// add no rows.
async fn refused_logins_write_nothing(target: &Target, run: &str) -> Verdict {
    let probe = "refused logins from a spent address write nothing";
    let from = "127.0.0.3";
    // Spend the per-address budget with unknown emails.
    let mut spent = false;
    for i in 0..1000 {
        let result = login(target, from, &format!("nobody-{run}-{i}@abuse.test"), "x").await;
        if matches!(&result, Err(s) if reason(s) == "RATE_LIMITED") {
            spent = true;
            break;
        }
    }
    if !spent {
        return Verdict::new("3", probe, false, "1000 failures and no RATE_LIMITED");
    }
    let Ok(before) = attempt_rows(target).await else {
        return Verdict::new("3", probe, false, "cannot read the data folder's database");
    };
    let mut refused = 0;
    for i in 0..300 {
        let email = format!("random-{run}-{i}@abuse.test");
        let result = login(target, from, &email, "x").await;
        refused += usize::from(matches!(&result, Err(s) if reason(s) == "RATE_LIMITED"));
    }
    let after = attempt_rows(target).await.unwrap_or(i64::MAX);
    Verdict::new(
        "3",
        probe,
        refused == 300 && after == before,
        format!("{refused}/300 RATE_LIMITED; login_attempts rows {before} -> {after}"),
    )
}

/// Item 5: registrations from one address are budgeted.
async fn register_budget(target: &Target, run: &str) -> Verdict {
    let mut answers = Vec::new();
    for i in 0..11 {
        answers.push(outcome(
            &register(target, "127.0.0.5", &format!("new-{run}-{i}@abuse.test")).await,
        ));
    }
    let last = answers.last().cloned().unwrap_or_default();
    Verdict::new(
        "5",
        "eleventh registration from one address is RATE_LIMITED",
        last == "RATE_LIMITED" && answers[..10].iter().all(|a| a == "OK"),
        format!("answers: {}", answers.join(" ")),
    )
}

/// Item 6: spellings of one mailbox are one account; invisible characters are refused.
async fn emails(target: &Target, run: &str) -> Vec<Verdict> {
    let from = "127.0.0.6";
    let plain = format!("jos\u{e9}-{run}@abuse.test");
    let first = outcome(&register(target, from, &plain).await);
    let mut verdicts = Vec::new();
    for (probe, spelling, expected) in [
        (
            "decomposed accent is the same account",
            format!("jose\u{301}-{run}@abuse.test"),
            "EMAIL_TAKEN",
        ),
        (
            "fullwidth letters are the same account",
            format!("\u{ff4a}\u{ff4f}\u{ff53}\u{e9}-{run}@\u{ff41}buse.test"),
            "EMAIL_TAKEN",
        ),
        (
            "a zero-width space is refused",
            format!("jo\u{200b}s\u{e9}-{run}@abuse.test"),
            "INVALID_EMAIL",
        ),
    ] {
        let answer = outcome(&register(target, from, &spelling).await);
        verdicts.push(Verdict::new(
            "6",
            probe,
            first == "OK" && answer == expected,
            format!("plain {first}, this spelling {answer}"),
        ));
    }
    verdicts
}

/// Item 7: a spent refresh token cannot log anyone out; it counts as reuse.
async fn spent_logout(target: &Target, victim: &str) -> Verdict {
    let probe = "Logout(spent token, all_sessions) is reuse, not a logout";
    let Ok(mut c) = client(target, "127.0.0.4").await else {
        return Verdict::new("7", probe, false, "no connection");
    };
    let Ok(first) = login(target, "127.0.0.4", victim, PASSWORD).await else {
        return Verdict::new("7", probe, false, "cannot log the victim in");
    };
    let spent = first.tokens.map(|t| t.refresh_token).unwrap_or_default();
    let rotated = c
        .refresh(RefreshRequest {
            refresh_token: spent.clone(),
        })
        .await;
    let logout = c
        .logout(LogoutRequest {
            refresh_token: spent,
            all_sessions: true,
        })
        .await;
    let answer = outcome(&logout);
    Verdict::new(
        "7",
        probe,
        rotated.is_ok() && answer == "REFRESH_TOKEN_REUSED",
        format!("refresh {}, logout {answer}", outcome(&rotated)),
    )
}

/// Item 13: what does not decode, and a second message in a one-message call, are
/// INVALID_ARGUMENT / MALFORMED_REQUEST with none of the decoder's words.
async fn malformed(target: &Target) -> Vec<Verdict> {
    let Ok(ch) = channel(target, "127.0.0.7").await else {
        return vec![Verdict::new(
            "13",
            "malformed requests",
            false,
            "no connection",
        )];
    };
    // A Duration's field 1 is a varint where LoginRequest's is a string.
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    let garbled = async {
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static("/tessera.auth.v1.AuthService/Login");
        let codec = ProstCodec::<prost_types::Duration, LoginResponse>::default();
        grpc.unary(
            tonic::Request::new(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
            path,
            codec,
        )
        .await
    }
    .await;
    let mut grpc = tonic::client::Grpc::new(ch);
    let twice = async {
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static("/tessera.auth.v1.AuthService/Register");
        let codec = ProstCodec::<RegisterRequest, RegisterResponse>::default();
        let one = RegisterRequest {
            email: "twice@abuse.test".into(),
            password: PASSWORD.into(),
        };
        grpc.client_streaming(
            tonic::Request::new(tokio_stream::iter([one.clone(), one])),
            path,
            codec,
        )
        .await
    }
    .await;
    [
        ("a body that does not decode", garbled.map(|_| ())),
        ("a second message in a unary call", twice.map(|_| ())),
    ]
    .into_iter()
    .map(|(probe, result)| {
        let held = matches!(&result, Err(s) if s.code() == Code::InvalidArgument
                && reason(s) == "MALFORMED_REQUEST" && !s.message().contains("decode"));
        let seen = match &result {
            Ok(()) => "OK".to_owned(),
            Err(s) => format!("{:?} {} {:?}", s.code(), reason(s), s.message()),
        };
        Verdict::new("13", probe, held, seen)
    })
    .collect()
}

/// How many failed-login windows the server's SQLite database holds (read-only).
async fn attempt_rows(target: &Target) -> Result<i64, sqlx::Error> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(target.data_dir.join("tessera.db"))
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts")
        .fetch_one(&pool)
        .await;
    pool.close().await;
    n
}
