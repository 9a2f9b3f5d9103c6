//! The load tool (`tessera bench`) against a real tessera: it makes its own data,
//! counts only OK answers as successes, and sorts the rest by code and reason. These
//! tests check what it counts, never how fast anything is.

use std::process::Command;
use std::time::Duration;

use tessera::bench::{Plan, Rpc, Stop, parse_mix, run};

use crate::harness::{Backend, TestServer, spawn_with};

async fn server(tweak: impl FnOnce(&mut tessera::config::Config)) -> TestServer {
    spawn_with(Backend::Sqlite, tweak).await
}

fn plan(server: &TestServer, mix: &str, requests: u64) -> Plan {
    let mut plan = Plan::new(format!("http://{}", server.addr), parse_mix(mix).unwrap());
    plan.connections = 2;
    plan.in_flight = 4;
    plan.stop = Stop::Requests(requests);
    plan.users = 2;
    plan.tokens = 5;
    plan
}

#[tokio::test]
async fn verify_cycles_through_its_own_distinct_tokens_and_counts_every_answer() {
    let server = server(|_| {}).await;
    let report = run(&plan(&server, "verify", 200)).await.unwrap();
    assert_eq!(report.tokens, 5);
    let verify = report.rpc(Rpc::Verify).unwrap();
    assert_eq!((verify.ok, verify.errors), (200, 0));
    assert_eq!(verify.slots, 8);
    let l = verify.latency_us;
    assert!(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p99_9);
    assert!(l.p99_9 <= l.max);
    assert!(report.errors.is_empty());
}

#[tokio::test]
async fn refresh_spends_each_slot_s_chain_so_no_token_is_reused() {
    let server = server(|_| {}).await;
    let report = run(&plan(&server, "refresh", 60)).await.unwrap();
    let refresh = report.rpc(Rpc::Refresh).unwrap();
    // A refresh token presented twice would answer REFRESH_TOKEN_REUSED.
    assert_eq!((refresh.ok, refresh.errors), (60, 0), "{:?}", report.errors);
}

#[tokio::test]
async fn register_uses_a_new_email_for_every_request() {
    let server = server(|_| {}).await;
    let report = run(&plan(&server, "register", 12)).await.unwrap();
    let register = report.rpc(Rpc::Register).unwrap();
    assert_eq!(
        (register.ok, register.errors),
        (12, 0),
        "{:?}",
        report.errors
    );
}

#[tokio::test]
async fn refused_answers_are_counted_by_code_and_reason_not_as_successes() {
    // One bcrypt at a time and no queue: most of eight concurrent logins are refused.
    let server = server(|config| {
        config.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 8 };
        config.hashing.concurrency = 1;
        config.hashing.queue = 0;
    })
    .await;
    let mut plan = plan(&server, "login", 40);
    plan.users = 1;
    let report = run(&plan).await.unwrap();
    let login = report.rpc(Rpc::Login).unwrap();
    assert_eq!(login.ok + login.errors, 40);
    assert!(login.ok >= 1 && login.errors >= 1, "{login:?}");
    let overloaded: u64 = report
        .errors
        .iter()
        .filter(|e| {
            e.rpc == Rpc::Login && e.code == "ResourceExhausted" && e.reason == "OVERLOADED"
        })
        .map(|e| e.count)
        .sum();
    assert_eq!(overloaded, login.errors, "{:?}", report.errors);
}

#[tokio::test]
async fn a_mix_keeps_each_rpc_in_flight_and_reports_them_apart() {
    let server = server(|_| {}).await;
    let mut plan = plan(&server, "verify=3,health=1", 0);
    plan.stop = Stop::After(Duration::from_millis(500));
    plan.warmup = Duration::from_millis(100);
    let report = run(&plan).await.unwrap();
    let verify = report.rpc(Rpc::Verify).unwrap();
    let health = report.rpc(Rpc::Health).unwrap();
    assert_eq!((verify.slots, health.slots), (6, 2));
    assert!(verify.ok > 0 && health.ok > 0);
    assert!((report.seconds - 0.5).abs() < 1e-9);
}

/// Runs `tessera bench ARGS` off the runtime, so the in-process server keeps serving.
async fn run_bench(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.arg("bench").args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_subcommand_prints_json_and_names_a_bad_flag() {
    let server = server(|_| {}).await;
    let url = format!("http://{}", server.addr);
    let out = run_bench(&["--url", &url, "--rpc", "jwks", "-n", "20", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["rpcs"][0]["rpc"], "jwks");
    assert_eq!(json["rpcs"][0]["ok"], 20);
    for key in ["p50", "p90", "p99", "p99_9", "max"] {
        assert!(json["rpcs"][0]["latency_us"][key].is_u64(), "{key}");
    }

    let out = run_bench(&["--url", &url, "--rpc", "teleport"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--rpc") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
