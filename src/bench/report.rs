//! What a run measured: per-RPC counts, exact latency percentiles, errors by code
//! and reason; as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use tonic_types::StatusExt;

use super::plan::Rpc;

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
    pub(super) fn of(mut samples: Vec<u32>) -> Self {
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
pub(super) struct Tally {
    pub ok: Vec<u32>,
    pub errors: BTreeMap<(String, String), u64>,
}

impl Tally {
    pub fn error(&mut self, status: &tonic::Status) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
