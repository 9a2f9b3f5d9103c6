//! `tessera bench` flags, validated into a [`Plan`].

use super::plan::{LoadError, Plan, Stop, parse_mix};

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
    /// Measure this machine's floors instead (bcrypt verify at --cost, argon2id at the
    /// default cost, RS256 sign and verify on one core); no server is needed.
    #[arg(long)]
    pub calibrate: bool,
    /// Measure instead how long a revocation takes to reach this many
    /// WatchRevocations streams (spread over --connections); --requests sets how
    /// many revocations (default 10).
    #[arg(long)]
    pub watchers: Option<usize>,
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
