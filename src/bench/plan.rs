//! What to run: the RPCs and their mix, connections, in-flight requests, when to
//! stop; and why a run could not start.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

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
    pub(super) fn slots(&self) -> Vec<Rpc> {
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
}
