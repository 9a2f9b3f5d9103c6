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
//!
//! `plan.rs` says what to run, `prepare.rs` makes the data before the clock starts,
//! `slot.rs` drives one slot's closed loop, `codec.rs` sends pre-encoded bodies,
//! `report.rs` sorts and prints what was measured, `calibrate.rs` measures the
//! machine's own floors, `fanout.rs` times a revocation's way to many
//! WatchRevocations streams (`--watchers`), `cli.rs` reads the flags.

mod calibrate;
mod cli;
mod codec;
mod fanout;
mod plan;
mod prepare;
mod report;
mod slot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

pub use calibrate::{Calibration, calibrate};
pub use cli::BenchArgs;
pub use fanout::{FanoutReport, run as fanout};
pub use plan::{LoadError, Plan, Rpc, Stop, parse_mix};
pub use report::{ErrorCount, Latency, Report, RpcReport};

use prepare::{connect, prepare, refresh_chains, wait_ready};
use report::Tally;
use slot::{Clock, slot};

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
