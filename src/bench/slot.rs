//! The slots: each drives one RPC in a closed loop until the run's clock says stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prost::Message;
use prost::bytes::Bytes;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;

use super::codec::{GET_JWKS, HEALTH_CHECK, LOGIN, REGISTER, VERIFY, call};
use super::plan::Rpc;
use super::prepare::login;
use super::report::Tally;
use crate::proto::auth_service_client::AuthServiceClient;
use crate::proto::{RefreshRequest, RegisterRequest};

/// The shared clock and request budget of a run.
pub(super) struct Clock {
    pub measure_from: Instant,
    pub deadline: Option<Instant>,
    pub budget: Option<AtomicU64>,
}

impl Clock {
    /// Whether another request may start; takes one from the budget.
    fn go(&self) -> bool {
        if let Some(deadline) = self.deadline {
            return Instant::now() < deadline;
        }
        self.budget.as_ref().is_some_and(|b| {
            b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }
}

/// What the slots share: the data made before the run.
pub(super) struct Data {
    pub run: String,
    pub password: String,
    pub users: Vec<String>,
    /// An encoded LoginRequest per user.
    pub logins: Vec<Bytes>,
    /// An encoded VerifyRequest per distinct token.
    pub tokens: Vec<Bytes>,
    pub next: AtomicU64,
}

/// One slot: sends `rpc` until the clock says stop.
pub(super) async fn slot(
    rpc: Rpc,
    index: usize,
    channel: Channel,
    clock: Arc<Clock>,
    data: Arc<Data>,
    mut chain: Option<String>,
) -> Tally {
    let mut auth = AuthServiceClient::new(channel.clone());
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    let health_check = Bytes::from(
        HealthCheckRequest {
            service: String::new(),
        }
        .encode_to_vec(),
    );
    let mut tally = Tally::default();
    let mut sent: u64 = 0;
    while clock.go() {
        sent += 1;
        let started = Instant::now();
        let request = async {
            let n = data.next.fetch_add(1, Ordering::Relaxed) as usize;
            match rpc {
                Rpc::Health => call(&mut grpc, HEALTH_CHECK, health_check.clone()).await,
                Rpc::Jwks => call(&mut grpc, GET_JWKS, Bytes::new()).await,
                Rpc::Verify => {
                    call(
                        &mut grpc,
                        VERIFY,
                        data.tokens[n % data.tokens.len()].clone(),
                    )
                    .await
                }
                Rpc::Login => {
                    call(&mut grpc, LOGIN, data.logins[n % data.logins.len()].clone()).await
                }
                Rpc::Register => {
                    let body = RegisterRequest {
                        email: format!("bench-{}-s{index}-{sent}@example.com", data.run),
                        password: data.password.clone(),
                    };
                    call(&mut grpc, REGISTER, Bytes::from(body.encode_to_vec())).await
                }
                Rpc::Refresh => {
                    let refresh_token = chain.take().unwrap_or_default();
                    let answer = auth
                        .refresh(RefreshRequest { refresh_token })
                        .await
                        .map(|r| r.into_inner().tokens);
                    match answer {
                        Ok(Some(pair)) => {
                            chain = Some(pair.refresh_token);
                            Ok(())
                        }
                        Ok(None) => Err(tonic::Status::internal("no tokens in the answer")),
                        Err(status) => Err(status),
                    }
                }
            }
        };
        // A request still in flight at the deadline is dropped, not counted.
        let answer: Result<(), tonic::Status> = match clock.deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), request).await {
                Ok(answer) => answer,
                Err(_) => break,
            },
            None => request.await,
        };
        let elapsed = started.elapsed();
        // Counted: what completed inside the measured window.
        if Instant::now() >= clock.measure_from {
            match &answer {
                Ok(()) => tally
                    .ok
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
                Err(status) => tally.error(status),
            }
        }
        // A broken refresh chain starts a new session (not counted) and goes on.
        if rpc == Rpc::Refresh && chain.is_none() {
            match login(&channel, &data, index).await {
                Ok(pair) => chain = Some(pair.refresh_token),
                Err(_) => break,
            }
        }
    }
    tally
}
