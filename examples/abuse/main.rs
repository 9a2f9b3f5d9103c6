//! Replays, against a running tessera, the hostile-client probes of the hardening
//! review, and prints one verdict a probe: `held` when tessera refused or withstood
//! it as it should, `BROKEN` with what was seen otherwise. Exits 1 if any broke.
//!
//! `scripts/abuse.sh` starts a throwaway server with the settings these probes
//! expect and runs this beside the probes that need the server's files or process
//! (permissions, damaged state, shutdown, operator commands):
//!
//! ```text
//! scripts/abuse.sh
//! ```
//!
//! Run by hand against a server on 127.0.0.1 only: it registers accounts, spends
//! login budgets and holds connections open.

mod accounts;
mod h2;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// What the probes need to know about the server they probe.
#[derive(Parser, Clone)]
struct Target {
    /// The server's gRPC address (loopback only).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: std::net::SocketAddr,
    /// The server's data folder (SQLite): rows are counted there, read-only.
    #[arg(long)]
    data_dir: PathBuf,
    /// The RS256 key the server signs with (PKCS#8 PEM), to forge tokens it trusts.
    #[arg(long)]
    signing_key: PathBuf,
    /// The server's TESSERA_HANDSHAKE_TIMEOUT, in seconds.
    #[arg(long, default_value_t = 1)]
    handshake_timeout: u64,
    /// The server's TESSERA_IDLE_TIMEOUT, in seconds.
    #[arg(long, default_value_t = 2)]
    idle_timeout: u64,
    /// The server's TESSERA_ISSUER.
    #[arg(long, default_value = "tessera")]
    issuer: String,
    /// The server's TESSERA_AUDIENCE.
    #[arg(long, default_value = "tessera")]
    audience: String,
}

impl Target {
    fn handshake(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout)
    }
    fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// One probe's outcome.
pub struct Verdict {
    /// The item of the review it replays.
    item: &'static str,
    probe: &'static str,
    held: bool,
    seen: String,
}

impl Verdict {
    fn new(item: &'static str, probe: &'static str, held: bool, seen: impl Into<String>) -> Self {
        Self {
            item,
            probe,
            held,
            seen: seen.into(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let target = Target::parse();
    if !target.addr.ip().is_loopback() {
        eprintln!("abuse: probes run against a loopback address only");
        return ExitCode::from(2);
    }
    let mut verdicts = Vec::new();
    verdicts.extend(h2::probes(&target).await);
    verdicts.extend(accounts::probes(&target).await);
    verdicts.extend(tokens::probes(&target).await);
    let mut broken = 0;
    for v in &verdicts {
        let mark = if v.held { "held  " } else { "BROKEN" };
        println!("{mark} {:>4}  {:<58} {}", v.item, v.probe, v.seen);
        broken += usize::from(!v.held);
    }
    println!(
        "{} probes, {} held, {broken} broken",
        verdicts.len(),
        verdicts.len() - broken
    );
    if broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
