//! Before the clock starts: connect, wait for SERVING, register the users, collect
//! the Verify tokens and the Refresh slots' sessions.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prost::Message;
use prost::bytes::Bytes;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use super::plan::{LoadError, Plan, Rpc};
use super::slot::Data;
use crate::proto::auth_service_client::AuthServiceClient;
use crate::proto::{LoginRequest, RefreshRequest, RegisterRequest, TokenPair, VerifyRequest};

pub(super) async fn connect(plan: &Plan) -> Result<Vec<Channel>, LoadError> {
    let endpoint = Endpoint::from_shared(plan.url.clone())
        .map_err(|e| LoadError::Setting("--url", e.to_string()))?
        .tcp_nodelay(true);
    let deadline = Instant::now() + plan.wait_ready;
    let mut channels = Vec::with_capacity(plan.connections);
    while channels.len() < plan.connections {
        match endpoint.connect().await {
            Ok(channel) => channels.push(channel),
            // The server may still be starting: retry until the readiness deadline.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => {
                return Err(LoadError::Connect {
                    url: plan.url.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(channels)
}

/// Asks Health/Check until SERVING; how long that took.
pub(super) async fn wait_ready(
    channel: &Channel,
    timeout: Duration,
) -> Result<Duration, LoadError> {
    let started = Instant::now();
    let mut health = HealthClient::new(channel.clone());
    loop {
        let answer = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await;
        if answer.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            return Err(LoadError::NotReady(timeout));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

const PASSWORD_PREFIX: &str = "bench-password-";

/// Registers the users and collects the Verify tokens.
pub(super) async fn prepare(
    plan: &Plan,
    channel: &Channel,
    slots: &[Rpc],
) -> Result<Data, LoadError> {
    let mut run_id = [0u8; 6];
    crate::crypto::random_bytes(&mut run_id);
    let run: String = run_id.iter().map(|b| format!("{b:02x}")).collect();
    let password = format!("{PASSWORD_PREFIX}{run}");
    let needs_users = slots
        .iter()
        .any(|r| matches!(r, Rpc::Verify | Rpc::Login | Rpc::Refresh));
    let mut data = Data {
        users: Vec::new(),
        logins: Vec::new(),
        tokens: Vec::new(),
        next: AtomicU64::new(0),
        run,
        password,
    };
    if !needs_users {
        return Ok(data);
    }
    let client = AuthServiceClient::new(channel.clone());
    // At least a user per Login slot: the failed-login budget holds an attempt while it
    // runs, so many concurrent logins of one email would be throttled.
    let logins = slots.iter().filter(|r| **r == Rpc::Login).count();
    let mut registering = tokio::task::JoinSet::new();
    for i in 0..plan.users.max(logins).max(1) {
        let client = client.clone();
        let email = format!("bench-{}-user{i}@example.com", data.run);
        let password = data.password.clone();
        registering.spawn(async move {
            patiently(|| {
                let request = RegisterRequest {
                    email: email.clone(),
                    password: password.clone(),
                };
                let mut client = client.clone();
                async move { client.register(request).await }
            })
            .await
            .map(|_| email)
        });
    }
    while let Some(joined) = registering.join_next().await {
        match joined {
            Ok(Ok(email)) => data.users.push(email),
            Ok(Err(status)) => return Err(prepare_failed("register", &status)),
            Err(e) => {
                return Err(LoadError::Prepare {
                    step: "register",
                    status: e.to_string(),
                });
            }
        }
    }
    data.users.sort();
    data.logins = data
        .users
        .iter()
        .map(|email| {
            Bytes::from(
                LoginRequest {
                    email: email.clone(),
                    password: data.password.clone(),
                }
                .encode_to_vec(),
            )
        })
        .collect();
    if slots.contains(&Rpc::Verify) {
        data.tokens = verify_tokens(&client, &data, plan.tokens.max(1))
            .await?
            .into_iter()
            .map(|access_token| Bytes::from(VerifyRequest { access_token }.encode_to_vec()))
            .collect();
    }
    Ok(data)
}

/// `want` distinct access tokens: one login per user, then refreshes along each
/// user's session (concurrently across users) until there are enough.
async fn verify_tokens(
    client: &AuthServiceClient<Channel>,
    data: &Data,
    want: usize,
) -> Result<Vec<String>, LoadError> {
    let chains = data.users.len().min(want);
    let per_chain = want.div_ceil(chains);
    let mut tasks = tokio::task::JoinSet::new();
    for email in data.users.iter().take(chains) {
        let mut client = client.clone();
        let (email, password) = (email.clone(), data.password.clone());
        tasks.spawn(async move {
            let mut pair = login_patiently(&client, &email, &password).await?;
            let mut tokens = vec![pair.access_token.clone()];
            while tokens.len() < per_chain {
                pair = tokens_of(
                    client
                        .refresh(RefreshRequest {
                            refresh_token: pair.refresh_token,
                        })
                        .await
                        .map(|r| r.into_inner().tokens),
                    "refresh",
                )?;
                tokens.push(pair.access_token.clone());
            }
            Ok::<_, LoadError>(tokens)
        });
    }
    let mut tokens = Vec::with_capacity(want);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(chain) => tokens.extend(chain?),
            Err(e) => {
                return Err(LoadError::Prepare {
                    step: "refresh",
                    status: e.to_string(),
                });
            }
        }
    }
    tokens.truncate(want);
    Ok(tokens)
}

fn tokens_of(
    answer: Result<Option<TokenPair>, tonic::Status>,
    step: &'static str,
) -> Result<TokenPair, LoadError> {
    answer
        .map_err(|status| prepare_failed(step, &status))?
        .ok_or(LoadError::Prepare {
            step,
            status: "no tokens in the answer".into(),
        })
}

fn prepare_failed(step: &'static str, status: &tonic::Status) -> LoadError {
    LoadError::Prepare {
        step,
        status: format!("{:?}: {}", status.code(), status.message()),
    }
}

/// For each Refresh slot, the refresh token of a session of its own (logged in
/// concurrently); `None` for the other slots.
pub(super) async fn refresh_chains(
    channels: &[Channel],
    data: &Arc<Data>,
    slots: &[Rpc],
) -> Result<Vec<Option<String>>, LoadError> {
    let mut logins = tokio::task::JoinSet::new();
    for (i, rpc) in slots.iter().enumerate() {
        if *rpc == Rpc::Refresh {
            let (channel, data) = (channels[i % channels.len()].clone(), data.clone());
            logins.spawn(async move { (i, login(&channel, &data, i).await) });
        }
    }
    let mut chains = vec![None; slots.len()];
    while let Some(joined) = logins.join_next().await {
        match joined {
            Ok((i, pair)) => chains[i] = Some(pair?.refresh_token),
            Err(e) => {
                return Err(LoadError::Prepare {
                    step: "login",
                    status: e.to_string(),
                });
            }
        }
    }
    Ok(chains)
}

/// Logs in user `i % users`: a new session.
pub(super) async fn login(
    channel: &Channel,
    data: &Data,
    i: usize,
) -> Result<TokenPair, LoadError> {
    let email = &data.users[i % data.users.len()];
    let client = AuthServiceClient::new(channel.clone());
    login_patiently(&client, email, &data.password).await
}

/// Logs `email` in, waiting out OVERLOADED.
async fn login_patiently(
    client: &AuthServiceClient<Channel>,
    email: &str,
    password: &str,
) -> Result<TokenPair, LoadError> {
    let answer = patiently(|| {
        let request = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let mut client = client.clone();
        async move { client.login(request).await }
    })
    .await
    .map(|r| r.into_inner().tokens);
    tokens_of(answer, "login")
}

/// Runs a preparation call again while the server refuses it as OVERLOADED (its
/// hashing queue is full): preparing is not measured, so it waits its turn.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    loop {
        match call().await {
            Err(status)
                if status.code() == tonic::Code::ResourceExhausted
                    && status.get_details_error_info().is_some_and(|info| {
                        info.reason == crate::reason::Reason::Overloaded.as_str()
                    }) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}
