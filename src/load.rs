//! `tessera bench`: a load generator for a running tessera, in the spirit of pgbench
//! and redis-benchmark.
//!
//! It opens `connections` HTTP/2 connections and keeps `in_flight` requests going on
//! each (closed loop: a slot sends its next request when the last one answered). Each
//! slot drives one RPC; with several RPCs their weights are shares of the slots, so
//! `verify=3,login=1` keeps three Verify requests in flight for every Login.
//!
//! Before the clock starts it makes its own data: it registers `users` users, logs
//! them in, and refreshes their sessions until it holds `tokens` distinct access
//! tokens for Verify (`tokens = 1`: one token repeated). Each Refresh slot owns a
//! session and spends its chain of refresh tokens; each Register request uses a new
//! email.
//!
//! The tool keeps its own cost low so that it measures the server: request bodies are
//! encoded once before the clock starts, and answers are judged by their grpc-status
//! without decoding the body (Refresh excepted: it needs the next refresh token).
//!
//! Only answers with grpc-status OK count as successes. Others are counted by RPC,
//! status code and `ErrorInfo` reason. Latency percentiles are exact (every
//! successful request's time is kept and sorted), over successful requests only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use serde::Serialize;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use crate::proto::auth_service_client::AuthServiceClient;
use crate::proto::{LoginRequest, RefreshRequest, RegisterRequest, TokenPair, VerifyRequest};

/// An RPC the tool can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rpc {
    Verify,
    Login,
    Refresh,
    Register,
    Jwks,
    /// `grpc.health.v1.Health/Check`: the floor, an RPC that does nothing.
    Health,
}

impl Rpc {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rpc::Verify => "verify",
            Rpc::Login => "login",
            Rpc::Refresh => "refresh",
            Rpc::Register => "register",
            Rpc::Jwks => "jwks",
            Rpc::Health => "health",
        }
    }
}

impl FromStr for Rpc {
    type Err = LoadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "verify" => Rpc::Verify,
            "login" => Rpc::Login,
            "refresh" => Rpc::Refresh,
            "register" => Rpc::Register,
            "jwks" | "getjwks" => Rpc::Jwks,
            "health" | "check" => Rpc::Health,
            _ => {
                return Err(LoadError::Setting(
                    "--rpc",
                    "expected verify, login, refresh, register, jwks or health".into(),
                ));
            }
        })
    }
}

/// Parses `verify`, or `verify=3,login=1`: the RPCs and their shares of the slots.
pub fn parse_mix(raw: &str) -> Result<Vec<(Rpc, u32)>, LoadError> {
    let mut mix: Vec<(Rpc, u32)> = Vec::new();
    for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
        let rpc: Rpc = name.parse()?;
        let weight = weight
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|w| (1..=1000).contains(w))
            .ok_or_else(|| LoadError::Setting("--rpc", "a weight is 1 to 1000".into()))?;
        if mix.iter().any(|(r, _)| *r == rpc) {
            return Err(LoadError::Setting("--rpc", format!("{} twice", rpc.name())));
        }
        mix.push((rpc, weight));
    }
    if mix.is_empty() {
        return Err(LoadError::Setting("--rpc", "name at least one RPC".into()));
    }
    Ok(mix)
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long, measured after the warm-up.
    After(Duration),
    /// After this many requests in all (no warm-up).
    Requests(u64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// tessera's address, `http://host:port`.
    pub url: String,
    /// The RPCs and their shares of the slots.
    pub mix: Vec<(Rpc, u32)>,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Requests in flight on each connection.
    pub in_flight: usize,
    pub stop: Stop,
    /// Requests started before this much time has passed are not counted.
    pub warmup: Duration,
    /// Users to register for Login, Refresh and Verify (at least one per Login slot).
    pub users: usize,
    /// Distinct access tokens for Verify.
    pub tokens: usize,
    /// How long to wait for the server to answer SERVING first.
    pub wait_ready: Duration,
}

impl Plan {
    /// One RPC, with the tool's defaults otherwise.
    pub fn new(url: impl Into<String>, mix: Vec<(Rpc, u32)>) -> Self {
        Self {
            url: url.into(),
            mix,
            connections: 2,
            in_flight: 16,
            stop: Stop::After(Duration::from_secs(10)),
            warmup: Duration::from_secs(1),
            users: 8,
            tokens: 1000,
            wait_ready: Duration::from_secs(10),
        }
    }

    /// Each slot's RPC: the mix's weights spread over `connections × in_flight` slots.
    fn slots(&self) -> Vec<Rpc> {
        let pattern: Vec<Rpc> = self
            .mix
            .iter()
            .flat_map(|(rpc, w)| std::iter::repeat_n(*rpc, *w as usize))
            .collect();
        let total = (self.connections * self.in_flight).max(self.mix.len());
        (0..total).map(|i| pattern[i % pattern.len()]).collect()
    }
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}: {1}")]
    Setting(&'static str, String),
    #[error("cannot connect to {url}: {error}")]
    Connect { url: String, error: String },
    #[error("the server did not answer SERVING within {0:?}")]
    NotReady(Duration),
    #[error("preparing the data failed at {step}: {status}")]
    Prepare { step: &'static str, status: String },
}

/// One RPC's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RpcReport {
    pub rpc: Rpc,
    /// Slots that drove it.
    pub slots: usize,
    /// Answers with grpc-status OK.
    pub ok: u64,
    /// Every other answer.
    pub errors: u64,
    /// Successes per second.
    pub ok_per_sec: f64,
    /// Over successful requests, in microseconds.
    pub latency_us: Latency,
}

/// Latency percentiles in microseconds (0 when nothing succeeded).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
}

impl Latency {
    fn of(mut samples: Vec<u32>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = (q * samples.len() as f64).ceil() as usize;
            u64::from(samples[rank.clamp(1, samples.len()) - 1])
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p99_9: at(0.999),
            max: at(1.0),
        }
    }
}

/// Answers other than OK, by RPC, code and reason.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub rpc: Rpc,
    /// The gRPC status code's name, e.g. `ResourceExhausted`.
    pub code: String,
    /// The `ErrorInfo` reason, or empty when the answer carried none.
    pub reason: String,
    pub count: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub connections: usize,
    pub in_flight: usize,
    /// Seconds over which requests were counted.
    pub seconds: f64,
    /// How long the server took to answer SERVING after the tool started asking.
    pub ready_after_ms: f64,
    /// Distinct access tokens Verify cycled through.
    pub tokens: usize,
    pub rpcs: Vec<RpcReport>,
    pub errors: Vec<ErrorCount>,
}

impl Report {
    /// The successes of `rpc`, if it ran.
    pub fn rpc(&self, rpc: Rpc) -> Option<&RpcReport> {
        self.rpcs.iter().find(|r| r.rpc == rpc)
    }

    /// The report as a table.
    pub fn to_text(&self) -> String {
        let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · {} connection(s) × {} in flight · {:.1}s measured",
            self.url, self.connections, self.in_flight, self.seconds
        );
        let _ = writeln!(
            out,
            "{:<9} {:>6} {:>10} {:>8} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "rpc",
            "slots",
            "ok",
            "errors",
            "ok/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms"
        );
        for r in &self.rpcs {
            let l = &r.latency_us;
            let _ = writeln!(
                out,
                "{:<9} {:>6} {:>10} {:>8} {:>11.1} {:>8} {:>8} {:>8} {:>8} {:>8}",
                r.rpc.name(),
                r.slots,
                r.ok,
                r.errors,
                r.ok_per_sec,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p99_9),
                ms(l.max)
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "errors:");
            for e in &self.errors {
                let _ = writeln!(
                    out,
                    "  {:<9} {:<18} {:<24} {}",
                    e.rpc.name(),
                    e.code,
                    if e.reason.is_empty() { "-" } else { &e.reason },
                    e.count
                );
            }
        }
        out
    }
}

/// What a slot collected.
#[derive(Default)]
struct Tally {
    ok: Vec<u32>,
    errors: BTreeMap<(String, String), u64>,
}

impl Tally {
    fn error(&mut self, status: &tonic::Status) {
        let reason = status
            .get_details_error_info()
            .map(|info| info.reason)
            .unwrap_or_default();
        *self
            .errors
            .entry((format!("{:?}", status.code()), reason))
            .or_default() += 1;
    }
}

/// The shared clock and request budget of a run.
struct Clock {
    measure_from: Instant,
    deadline: Option<Instant>,
    budget: Option<AtomicU64>,
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
struct Data {
    run: String,
    password: String,
    users: Vec<String>,
    /// An encoded LoginRequest per user.
    logins: Vec<Bytes>,
    /// An encoded VerifyRequest per distinct token.
    tokens: Vec<Bytes>,
    next: AtomicU64,
}

/// Sends request bodies encoded in advance and reads nothing of the answer's body.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Self::Error> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// One unary call of `path` with an encoded `body`.
async fn call(
    grpc: &mut tonic::client::Grpc<Channel>,
    path: &'static str,
    body: Bytes,
) -> Result<(), tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(drop)
}

const VERIFY: &str = "/tessera.auth.v1.AuthService/Verify";
const LOGIN: &str = "/tessera.auth.v1.AuthService/Login";
const REGISTER: &str = "/tessera.auth.v1.AuthService/Register";
const GET_JWKS: &str = "/tessera.auth.v1.AuthService/GetJwks";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// Runs `plan` against the server and reports.
pub async fn run(plan: &Plan) -> Result<Report, LoadError> {
    if plan.connections == 0 || plan.in_flight == 0 {
        return Err(LoadError::Setting(
            "--connections",
            "connections and in-flight must be at least 1".into(),
        ));
    }
    let channels = connect(plan).await?;
    let ready_after = wait_ready(&channels[0], plan.wait_ready).await?;
    let slots = plan.slots();
    let data = Arc::new(prepare(plan, &channels[0], &slots).await?);

    // Refresh slots each own a session: one login per slot, before the clock starts.
    let chains = refresh_chains(&channels, &data, &slots).await?;

    let start = Instant::now();
    let (measure_from, deadline, budget) = match plan.stop {
        Stop::After(d) => (start + plan.warmup, Some(start + plan.warmup + d), None),
        Stop::Requests(n) => (start, None, Some(AtomicU64::new(n))),
    };
    let clock = Arc::new(Clock {
        measure_from,
        deadline,
        budget,
    });

    let mut tasks = tokio::task::JoinSet::new();
    for (i, (rpc, chain)) in slots.iter().copied().zip(chains).enumerate() {
        let channel = channels[i % channels.len()].clone();
        let (clock, data) = (clock.clone(), data.clone());
        tasks.spawn(async move { (rpc, slot(rpc, i, channel, clock, data, chain).await) });
    }
    let mut tallies: BTreeMap<Rpc, (usize, Tally)> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((rpc, tally)) = joined {
            let (count, all) = tallies.entry(rpc).or_default();
            *count += 1;
            all.ok.extend(tally.ok);
            for (key, n) in tally.errors {
                *all.errors.entry(key).or_default() += n;
            }
        }
    }
    let seconds = match plan.stop {
        Stop::After(d) => d.as_secs_f64(),
        Stop::Requests(_) => start.elapsed().as_secs_f64(),
    }
    .max(f64::EPSILON);

    let mut rpcs = Vec::new();
    let mut errors = Vec::new();
    for (rpc, (count, tally)) in tallies {
        let ok = tally.ok.len() as u64;
        let failed: u64 = tally.errors.values().sum();
        for ((code, reason), count) in tally.errors {
            errors.push(ErrorCount {
                rpc,
                code,
                reason,
                count,
            });
        }
        rpcs.push(RpcReport {
            rpc,
            slots: count,
            ok,
            errors: failed,
            ok_per_sec: ok as f64 / seconds,
            latency_us: Latency::of(tally.ok),
        });
    }
    Ok(Report {
        url: plan.url.clone(),
        connections: plan.connections,
        in_flight: plan.in_flight,
        seconds,
        ready_after_ms: ready_after.as_secs_f64() * 1000.0,
        tokens: data.tokens.len(),
        rpcs,
        errors,
    })
}

async fn connect(plan: &Plan) -> Result<Vec<Channel>, LoadError> {
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
async fn wait_ready(channel: &Channel, timeout: Duration) -> Result<Duration, LoadError> {
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
async fn prepare(plan: &Plan, channel: &Channel, slots: &[Rpc]) -> Result<Data, LoadError> {
    let mut run_id = [0u8; 6];
    crate::token::random_bytes(&mut run_id);
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
            let mut pair = tokens_of(
                patiently(|| {
                    let request = LoginRequest {
                        email: email.clone(),
                        password: password.clone(),
                    };
                    let mut client = client.clone();
                    async move { client.login(request).await }
                })
                .await
                .map(|r| r.into_inner().tokens),
                "login",
            )?;
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
async fn refresh_chains(
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
async fn login(channel: &Channel, data: &Data, i: usize) -> Result<TokenPair, LoadError> {
    let email = &data.users[i % data.users.len()];
    let client = AuthServiceClient::new(channel.clone());
    let answer = patiently(|| {
        let request = LoginRequest {
            email: email.clone(),
            password: data.password.clone(),
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

/// One slot: sends `rpc` until the clock says stop.
async fn slot(
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

/// The machine's own floors, measured on the calling thread: what the server's
/// figures are compared against in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The bcrypt cost measured.
    pub bcrypt_cost: u32,
    /// Median milliseconds of one bcrypt verify at that cost.
    pub bcrypt_verify_ms: f64,
    /// Access tokens signed per second on one core (claims, JSON, RS256).
    pub rs256_sign_per_sec: f64,
    /// Access tokens verified per second on one core, with the cache off.
    pub rs256_verify_per_sec: f64,
}

impl Calibration {
    /// The figures as text.
    pub fn to_text(&self) -> String {
        format!(
            "bcrypt verify at cost {}: {:.1} ms (so {:.2}/s per core)\n\
             RS256 access token signed: {:.0}/s per core\n\
             RS256 access token verified (no cache): {:.0}/s per core\n",
            self.bcrypt_cost,
            self.bcrypt_verify_ms,
            1000.0 / self.bcrypt_verify_ms,
            self.rs256_sign_per_sec,
            self.rs256_verify_per_sec
        )
    }
}

/// Measures one bcrypt verify at `cost` (median of `rounds`), and the RS256 sign and
/// verify rates over about a second each. Blocks the calling thread.
pub fn calibrate(cost: u32, rounds: usize) -> Result<Calibration, LoadError> {
    use crate::token::issue::{Subject, TokenIssuer};
    use crate::token::keys::SigningKey;
    use crate::token::{KeySet, TokenVerifier};

    let failed = |what: &'static str| {
        move |e: String| LoadError::Prepare {
            step: what,
            status: e,
        }
    };
    let hash =
        bcrypt::hash("calibration-password", cost).map_err(|e| failed("bcrypt")(e.to_string()))?;
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            let _ = bcrypt::verify("calibration-password", &hash);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let bcrypt_verify_ms = times[times.len() / 2];

    let (key, _) = SigningKey::generate().map_err(|e| failed("key")(e.to_string()))?;
    let issuer = TokenIssuer::new("tessera".into(), "tessera".into(), Duration::from_secs(900));
    let roles = ["user".to_owned()];
    let subject = Subject {
        user_id: "00000000-0000-0000-0000-000000000000",
        session_id: "00000000-0000-0000-0000-000000000001",
        email: "calibration@example.com",
        roles: &roles,
    };
    let now = crate::token::unix_now();
    let mut tokens = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let (token, _) = issuer
            .issue(&key, &subject, now)
            .map_err(|e| failed("sign")(e.to_string()))?;
        tokens.push(token);
    }
    let rs256_sign_per_sec = tokens.len() as f64 / started.elapsed().as_secs_f64();

    let mut set = KeySet::new();
    key.add_to(&mut set);
    let verifier = TokenVerifier::new(set, "tessera", "tessera", 30).with_cache(0);
    let mut verified = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for token in &tokens {
            if verifier.verify(token, now).is_ok() {
                verified += 1;
            }
            if started.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
    }
    let rs256_verify_per_sec = verified as f64 / started.elapsed().as_secs_f64();
    Ok(Calibration {
        bcrypt_cost: cost,
        bcrypt_verify_ms,
        rs256_sign_per_sec,
        rs256_verify_per_sec,
    })
}

/// `tessera bench` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// tessera's address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub url: String,
    /// The RPC to drive (verify, login, refresh, register, jwks, health), or a mix
    /// whose weights are shares of the in-flight requests: `verify=3,login=1`.
    #[arg(long, default_value = "verify")]
    pub rpc: String,
    /// HTTP/2 connections.
    #[arg(long, short = 'c', default_value = "2")]
    pub connections: usize,
    /// Requests in flight on each connection.
    #[arg(long, short = 'm', default_value = "16")]
    pub in_flight: usize,
    /// How long to measure, after the warm-up.
    #[arg(long, short = 'd', default_value = "10s")]
    pub duration: String,
    /// Stop after this many requests in all instead (no warm-up).
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Requests started within this long are not counted.
    #[arg(long, default_value = "1s")]
    pub warmup: String,
    /// Users registered for Login, Refresh and Verify (at least one per Login slot).
    #[arg(long, default_value = "8")]
    pub users: usize,
    /// Distinct access tokens Verify cycles through (1: one token repeated).
    #[arg(long, default_value = "1000")]
    pub tokens: usize,
    /// How long to wait for the server to answer SERVING.
    #[arg(long, default_value = "10s")]
    pub wait_ready: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Measure this machine's floors instead (bcrypt verify at --cost, RS256 sign and
    /// verify on one core); no server is needed.
    #[arg(long)]
    pub calibrate: bool,
    /// The bcrypt cost --calibrate measures.
    #[arg(long, default_value = "12")]
    pub cost: u32,
}

impl BenchArgs {
    /// The validated plan.
    pub fn plan(&self) -> Result<Plan, LoadError> {
        let duration = |flag: &'static str, raw: &str| {
            humantime::parse_duration(raw.trim())
                .map_err(|_| LoadError::Setting(flag, "expected a duration like 10s".into()))
        };
        let mut plan = Plan::new(self.url.clone(), parse_mix(&self.rpc)?);
        if self.connections == 0 || self.in_flight == 0 {
            return Err(LoadError::Setting(
                "--connections",
                "connections and in-flight must be at least 1".into(),
            ));
        }
        plan.connections = self.connections;
        plan.in_flight = self.in_flight;
        plan.stop = match self.requests {
            Some(0) => return Err(LoadError::Setting("--requests", "at least 1".into())),
            Some(n) => Stop::Requests(n),
            None => Stop::After(duration("--duration", &self.duration)?),
        };
        plan.warmup = duration("--warmup", &self.warmup)?;
        plan.users = self.users.max(1);
        plan.tokens = self.tokens.max(1);
        plan.wait_ready = duration("--wait-ready", &self.wait_ready)?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_names_rpcs_with_optional_weights() {
        assert_eq!(parse_mix("verify").unwrap(), vec![(Rpc::Verify, 1)]);
        assert_eq!(
            parse_mix("verify=3, login=1").unwrap(),
            vec![(Rpc::Verify, 3), (Rpc::Login, 1)]
        );
        assert!(parse_mix("verify,verify").is_err());
        assert!(parse_mix("verify=0").is_err());
        assert!(parse_mix("teleport").is_err());
        assert!(parse_mix("").is_err());
    }

    #[test]
    fn weights_are_shares_of_the_slots() {
        let mut plan = Plan::new("http://x", parse_mix("verify=3,login=1").unwrap());
        plan.connections = 2;
        plan.in_flight = 4;
        let slots = plan.slots();
        assert_eq!(slots.len(), 8);
        assert_eq!(slots.iter().filter(|r| **r == Rpc::Verify).count(), 6);
        assert_eq!(slots.iter().filter(|r| **r == Rpc::Login).count(), 2);
    }

    #[test]
    fn percentiles_are_exact_ranks() {
        let latency = Latency::of((1..=1000).collect());
        assert_eq!(latency.p50, 500);
        assert_eq!(latency.p90, 900);
        assert_eq!(latency.p99, 990);
        assert_eq!(latency.p99_9, 999);
        assert_eq!(latency.max, 1000);
        assert_eq!(Latency::of(vec![7]).p50, 7);
        assert_eq!(Latency::of(Vec::new()).max, 0);
    }
}
