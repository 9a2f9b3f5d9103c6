//! `tessera bench --watchers N`: how long a revocation takes to reach every one of N
//! WatchRevocations streams.
//!
//! The streams are opened over `--connections` HTTP/2 connections and each waits for
//! its snapshot. Then, round after round, one session is logged in, and the clock
//! starts just before its Logout is sent; each stream notes when the event naming
//! that session arrives. A round ends when all N have it; its figures are the time
//! to the first stream, the median one and the last.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use super::plan::{LoadError, Plan};
use super::prepare::{connect, wait_ready};
use crate::proto::auth_service_client::AuthServiceClient;
use crate::proto::{
    LoginRequest, LogoutRequest, RegisterRequest, VerifyRequest, WatchRevocationsRequest,
};

/// How long one round may wait for the last stream before the run fails.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// What one run measured, in milliseconds from the Logout call.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub url: String,
    pub watchers: usize,
    pub connections: usize,
    pub rounds: usize,
    /// Medians over the rounds of each round's first, median and last arrival.
    pub first_ms: f64,
    pub median_ms: f64,
    pub last_ms: f64,
    /// The slowest round's last arrival.
    pub last_max_ms: f64,
}

impl std::fmt::Display for FanoutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} · {} WatchRevocations streams on {} connection(s) · {} revocations",
            self.url, self.watchers, self.connections, self.rounds
        )?;
        writeln!(
            f,
            "to the first {:.3} ms · to the median {:.3} ms · to the last {:.3} ms (slowest round {:.3} ms)",
            self.first_ms, self.median_ms, self.last_ms, self.last_max_ms
        )
    }
}

fn failed(step: &'static str, status: &tonic::Status) -> LoadError {
    LoadError::Prepare {
        step,
        status: format!("{:?}: {}", status.code(), status.message()),
    }
}

/// Opens `watchers` streams, each sending (its index, the session ids) of every
/// live event it receives; returns once all have their snapshot.
async fn open_streams(
    channels: &[Channel],
    watchers: usize,
    arrivals: &mpsc::UnboundedSender<(Instant, Vec<String>)>,
) -> Result<(), LoadError> {
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<Result<(), tonic::Status>>();
    for i in 0..watchers {
        let mut client = AuthServiceClient::new(channels[i % channels.len()].clone());
        let (arrivals, ready_tx) = (arrivals.clone(), ready_tx.clone());
        tokio::spawn(async move {
            let mut stream = match client.watch_revocations(WatchRevocationsRequest {}).await {
                Ok(answer) => answer.into_inner(),
                Err(status) => {
                    let _ = ready_tx.send(Err(status));
                    return;
                }
            };
            let mut snapshot_seen = false;
            while let Ok(Some(event)) = stream.message().await {
                if event.snapshot {
                    if !snapshot_seen {
                        snapshot_seen = true;
                        let _ = ready_tx.send(Ok(()));
                    }
                    continue;
                }
                if !event.sessions.is_empty() {
                    let ids = event.sessions.into_iter().map(|s| s.session_id).collect();
                    if arrivals.send((Instant::now(), ids)).is_err() {
                        return;
                    }
                }
            }
        });
    }
    for _ in 0..watchers {
        match ready.recv().await {
            Some(Ok(())) => {}
            Some(Err(status)) => return Err(failed("watch_revocations", &status)),
            None => break,
        }
    }
    Ok(())
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the fan-out measurement: `rounds` revocations to `watchers` streams.
pub async fn run(plan: &Plan, watchers: usize, rounds: usize) -> Result<FanoutReport, LoadError> {
    let channels = connect(plan).await?;
    wait_ready(&channels[0], plan.wait_ready).await?;
    let mut client = AuthServiceClient::new(channels[0].clone());
    let mut run = [0u8; 6];
    crate::crypto::random_bytes(&mut run);
    let run: String = run.iter().map(|b| format!("{b:02x}")).collect();
    let (email, password) = (
        format!("bench-{run}-watch@example.com"),
        format!("bench-password-{run}"),
    );
    client
        .register(RegisterRequest {
            email: email.clone(),
            password: password.clone(),
        })
        .await
        .map_err(|s| failed("register", &s))?;

    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    open_streams(&channels, watchers, &arrivals_tx).await?;

    let (mut firsts, mut medians, mut lasts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let pair = client
            .login(LoginRequest {
                email: email.clone(),
                password: password.clone(),
            })
            .await
            .map_err(|s| failed("login", &s))?
            .into_inner()
            .tokens
            .ok_or_else(|| LoadError::Prepare {
                step: "login",
                status: "no tokens in the answer".into(),
            })?;
        let sid = client
            .verify(VerifyRequest {
                access_token: pair.access_token,
            })
            .await
            .map_err(|s| failed("verify", &s))?
            .into_inner()
            .claims
            .map(|c| c.session_id)
            .unwrap_or_default();
        let started = Instant::now();
        client
            .logout(LogoutRequest {
                refresh_token: pair.refresh_token,
                all_sessions: false,
            })
            .await
            .map_err(|s| failed("logout", &s))?;
        let mut delays: Vec<f64> = Vec::with_capacity(watchers);
        let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
        while delays.len() < watchers {
            let Ok(Some((at, ids))) = tokio::time::timeout_at(deadline, arrivals.recv()).await
            else {
                return Err(LoadError::Prepare {
                    step: "watch_revocations",
                    status: format!(
                        "{} of {watchers} streams had the revocation after {ROUND_TIMEOUT:?}",
                        delays.len()
                    ),
                });
            };
            if ids.contains(&sid) {
                delays.push(at.duration_since(started).as_secs_f64() * 1000.0);
            }
        }
        delays.sort_by(f64::total_cmp);
        firsts.push(delays[0]);
        medians.push(median(&delays));
        lasts.push(delays[delays.len() - 1]);
    }
    for v in [&mut firsts, &mut medians, &mut lasts] {
        v.sort_by(f64::total_cmp);
    }
    Ok(FanoutReport {
        url: plan.url.clone(),
        watchers,
        connections: channels.len(),
        rounds,
        first_ms: median(&firsts),
        median_ms: median(&medians),
        last_ms: median(&lasts),
        last_max_ms: lasts.last().copied().unwrap_or(0.0),
    })
}
