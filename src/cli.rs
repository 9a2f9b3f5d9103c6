//! The command line: the clap tree, and running each command on one runtime with
//! its exit code. `main.rs` only parses and calls [`run`].

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tessera::admin::{self, AdminError, RoleChange, RoleEdit};
use tessera::bench::BenchArgs;
use tessera::config::{
    ConfigError, LogFormat, ServeArgs, StoreArgs, StoreConfig, TokenArgs, TokenConfig, defaults,
};
use tessera::healthcheck::HealthcheckArgs;

mod serve;

/// tessera: a gRPC authentication service.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve tessera.auth.v1.AuthService, gRPC health and reflection.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit (for deploy pipelines; safe while
    /// instances serve and when several run at once).
    Migrate(StoreArgs),
    /// Manage the signing keys every instance shares.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Load a running tessera and report requests/s and latency percentiles
    /// (see docs/PERFORMANCE.md). A flag given twice takes its last value.
    #[command(args_override_self = true)]
    Bench(Box<BenchArgs>),
    /// Ask a running tessera whether it serves: exit 0 when SERVING, 1 otherwise,
    /// one line either way (a container's HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
    /// Manage users' roles (operator-side, on the same database as serve).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Give a user a role. Tokens carry it from the user's next login or refresh.
    GrantRole {
        #[command(flatten)]
        store: StoreArgs,
        /// The user's email.
        email: String,
        /// The role: 1 to 64 of a-z, 0-9, '-', '_', '.' and ':'.
        role: String,
    },
    /// Take a role from a user. Tokens lose it from the user's next login or refresh;
    /// access tokens issued before keep it until they expire.
    RevokeRole {
        #[command(flatten)]
        store: StoreArgs,
        /// The user's email.
        email: String,
        /// The role.
        role: String,
        /// Leave the user's sessions alive: their tokens keep the role until they
        /// expire (by default the sessions end, so the role is gone at once).
        #[arg(long)]
        keep_sessions: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Stage a new signing key: published in the JWKS at once, signing after the
    /// activation delay, so every verifier has it before the first token under it.
    /// Running servers pick it up without restart.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        tokens: TokenArgs,
        /// How long the new key is published before it signs.
        #[arg(long, default_value = defaults::KEY_ACTIVATION_DELAY, conflicts_with = "now")]
        delay: String,
        /// Sign with the new key at once (after a leak): verifiers that do not have it
        /// yet fetch it on the first token they do not know.
        #[arg(long)]
        now: bool,
    },
    /// Withdraw a key at once (after a leak): it is no longer published or trusted,
    /// and tokens it signed stop verifying. The key that signs now cannot be
    /// withdrawn: run `keys rotate --now` first.
    Withdraw {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        tokens: TokenArgs,
        /// The key's kid, as `keys list` shows it.
        kid: String,
    },
    /// List the stored keys: kid, state (staged, signing, retiring, expired) and times.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        tokens: TokenArgs,
    },
}

/// Exit code for a setting that cannot be used (as for clap's own usage errors).
const EXIT_CONFIG: u8 = 2;

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::serve(*args),
        Command::Bench(args) => bench(&args),
        Command::Healthcheck(args) => tessera::healthcheck::run(&args),
        Command::Migrate(store) => operator(|| StoreConfig::from_args(store), migrate),
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    store,
                    tokens,
                    delay,
                    now,
                },
        } => operator(
            || {
                let delay = if now {
                    Duration::ZERO
                } else {
                    humantime::parse_duration(delay.trim()).map_err(|_| {
                        ConfigError::new("--delay", "expected a duration like 10m or 0s")
                    })?
                };
                Ok((
                    StoreConfig::from_args(store)?,
                    TokenConfig::from_args(&tokens)?,
                    delay,
                ))
            },
            rotate,
        ),
        Command::Keys {
            command: KeysCommand::Withdraw { store, tokens, kid },
        } => operator(
            || {
                Ok((
                    StoreConfig::from_args(store)?,
                    TokenConfig::from_args(&tokens)?,
                    kid,
                ))
            },
            withdraw,
        ),
        Command::Keys {
            command: KeysCommand::List { store, tokens },
        } => operator(
            || {
                Ok((
                    StoreConfig::from_args(store)?,
                    TokenConfig::from_args(&tokens)?,
                ))
            },
            list,
        ),
        Command::Users { command } => {
            let (store, email, role, edit) = match command {
                UsersCommand::GrantRole { store, email, role } => {
                    (store, email, role, RoleEdit::Grant)
                }
                UsersCommand::RevokeRole {
                    store,
                    email,
                    role,
                    keep_sessions,
                } => (store, email, role, RoleEdit::Revoke { keep_sessions }),
            };
            operator(
                || Ok((StoreConfig::from_args(store)?, email, role, edit)),
                change_role,
            )
        }
    }
}

/// Prints `error` as the one line a failed command leaves, and returns `code`.
fn fail(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("tessera: {error}");
    ExitCode::from(code)
}

/// Runs `work` to completion on the one multi-threaded runtime.
fn block_on<T>(work: impl Future<Output = T>) -> Result<T, ExitCode> {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => Ok(runtime.block_on(work)),
        Err(e) => Err(fail(&format!("cannot start the runtime: {e}"), 1)),
    }
}

/// Runs `work` on a runtime of one thread: the load tool's. On tokio's
/// multi-threaded runtime, with thousands of requests in flight on one core, the
/// tasks that overflowed a worker's local queue were polled once every 61 ticks and
/// waited seconds while the rest went on (at 500 connections × 16: p50 7 ms, p99
/// 2 s); one thread's queue serves them in turn (p50 267 ms, p99 881 ms, as Little's
/// law expects), and with few connections it sends more, having no worker to wake.
/// One tool drives one core; run several for more.
fn block_on_one_thread<T>(work: impl Future<Output = T>) -> Result<T, ExitCode> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Ok(runtime.block_on(work)),
        Err(e) => Err(fail(&format!("cannot start the runtime: {e}"), 1)),
    }
}

/// Runs an operator subcommand: validate its settings, then run it.
fn operator<C, F>(
    settings: impl FnOnce() -> Result<C, ConfigError>,
    command: fn(C) -> F,
) -> ExitCode
where
    F: Future<Output = Result<(), AdminError>>,
{
    let settings = match settings() {
        Ok(settings) => settings,
        Err(e) => return fail(&e, EXIT_CONFIG),
    };
    let _ = tessera::telemetry::init(LogFormat::Text, None);
    match block_on(command(settings)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e, e.exit_code()),
        Err(code) => code,
    }
}

async fn migrate(store: StoreConfig) -> Result<(), AdminError> {
    let applied = admin::migrate(&store).await?;
    println!("applied {applied} migration(s); the database is up to date");
    Ok(())
}

async fn rotate(
    (store, tokens, delay): (StoreConfig, TokenConfig, Duration),
) -> Result<(), AdminError> {
    let (kid, activates_at) = admin::rotate_key(&store, tokens, delay).await?;
    println!(
        "staged {kid}: published now, signing from {}",
        rfc3339(activates_at)
    );
    Ok(())
}

async fn withdraw(
    (store, tokens, kid): (StoreConfig, TokenConfig, String),
) -> Result<(), AdminError> {
    admin::withdraw_key(&store, tokens, &kid).await?;
    println!("withdrew {}: no longer published or trusted", kid.trim());
    Ok(())
}

async fn list((store, tokens): (StoreConfig, TokenConfig)) -> Result<(), AdminError> {
    let keys = admin::list_keys(&store, tokens).await?;
    println!(
        "{:<44}  {:<8}  {:<20}  {:<20}",
        "KID", "STATE", "CREATED", "ACTIVATES"
    );
    for key in keys {
        println!(
            "{:<44}  {:<8}  {:<20}  {:<20}",
            key.kid,
            key.state.as_str(),
            rfc3339(key.created_at),
            rfc3339(key.activates_at)
        );
    }
    Ok(())
}

async fn change_role(
    (store, email, role, edit): (StoreConfig, String, String, RoleEdit),
) -> Result<(), AdminError> {
    let role_name = role.trim();
    let grant = edit == RoleEdit::Grant;
    match admin::change_role(&store, &email, &role, edit).await? {
        RoleChange::Changed { .. } if grant => println!("granted {role_name}"),
        RoleChange::Changed { sessions_ended } => {
            println!("revoked {role_name}; ended {sessions_ended} session(s)");
        }
        RoleChange::Unchanged if grant => println!("the user has {role_name} already"),
        RoleChange::Unchanged => println!("the user does not have {role_name}"),
        RoleChange::NoSuchUser => {
            return Err(ConfigError::new("EMAIL", "no user has this email").into());
        }
    }
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(unix.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}

fn bench(args: &BenchArgs) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display, code: u8| {
        eprintln!("tessera bench: {e}");
        ExitCode::from(code)
    };
    if args.calibrate {
        return match tessera::bench::calibrate(args.cost, 5) {
            Ok(c) if args.json => print_json(&c),
            Ok(c) => {
                print!("{}", c.to_text());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e, 1),
        };
    }
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => return fail(&e, EXIT_CONFIG),
    };
    if let Some(watchers) = args.watchers {
        if watchers == 0 {
            return fail(&"--watchers: at least 1", EXIT_CONFIG);
        }
        let rounds = args
            .requests
            .map_or(10, |n| n.try_into().unwrap_or(usize::MAX));
        return match block_on_one_thread(tessera::bench::fanout(&plan, watchers, rounds)) {
            Ok(Ok(report)) if args.json => print_json(&report),
            Ok(Ok(report)) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Ok(Err(e)) => fail(&e, 1),
            Err(code) => code,
        };
    }
    match block_on_one_thread(tessera::bench::run(&plan)) {
        Ok(Ok(report)) if args.json => print_json(&report),
        Ok(Ok(report)) => {
            print!("{}", report.to_text());
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => fail(&e, 1),
        Err(code) => code,
    }
}

fn print_json(value: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string(value) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tessera bench: {e}");
            ExitCode::FAILURE
        }
    }
}
