//! The `tessera` binary: parse the command line, set up tracing, run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera::config::{
    Config, ConfigError, LogFormat, ServeArgs, StoreArgs, StoreConfig, TokenArgs, TokenConfig,
    defaults,
};
use tessera::server::{self, ServeError};

/// tessera: a gRPC authentication service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    Bench(Box<tessera::load::BenchArgs>),
    /// Manage users' roles (operator-side, on the same database as serve).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
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
    },
}

#[derive(Subcommand)]
enum KeysCommand {
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

fn main() -> ExitCode {
    // A .env file is read if present; variables already set win.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Bench(args) => bench(&args),
        Command::Migrate(store) => admin(|| StoreConfig::from_args(store), migrate),
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    store,
                    tokens,
                    delay,
                    now,
                },
        } => admin(
            || {
                let delay = if now {
                    std::time::Duration::ZERO
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
        Command::Users {
            command: UsersCommand::GrantRole { store, email, role },
        } => admin(
            || Ok((StoreConfig::from_args(store)?, email, role, true)),
            change_role,
        ),
        Command::Users {
            command: UsersCommand::RevokeRole { store, email, role },
        } => admin(
            || Ok((StoreConfig::from_args(store)?, email, role, false)),
            change_role,
        ),
        Command::Keys {
            command: KeysCommand::List { store, tokens },
        } => admin(
            || {
                Ok((
                    StoreConfig::from_args(store)?,
                    TokenConfig::from_args(&tokens)?,
                ))
            },
            list,
        ),
    }
}

/// Runs an operator subcommand: validate its settings, then run it on a runtime.
fn admin<C, F>(settings: impl FnOnce() -> Result<C, ConfigError>, run: fn(C) -> F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), ServeError>>,
{
    let settings = match settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tessera::telemetry::init(LogFormat::Text);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    exit_code(runtime.block_on(run(settings)))
}

async fn migrate(store: StoreConfig) -> Result<(), ServeError> {
    let applied = tessera::admin::migrate(&store).await?;
    println!("applied {applied} migration(s); the database is up to date");
    Ok(())
}

async fn rotate(
    (store, tokens, delay): (StoreConfig, TokenConfig, std::time::Duration),
) -> Result<(), ServeError> {
    let (kid, activates_at) = tessera::admin::rotate_key(&store, tokens, delay).await?;
    println!(
        "staged {kid}: published now, signing from {}",
        rfc3339(activates_at)
    );
    Ok(())
}

async fn list((store, tokens): (StoreConfig, TokenConfig)) -> Result<(), ServeError> {
    let keys = tessera::admin::list_keys(&store, tokens).await?;
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
    (store, email, role, grant): (StoreConfig, String, String, bool),
) -> Result<(), ServeError> {
    use tessera::admin::RoleChange;
    match tessera::admin::change_role(&store, &email, &role, grant).await? {
        RoleChange::Changed if grant => println!("granted {}", role.trim()),
        RoleChange::Changed => println!("revoked {}", role.trim()),
        RoleChange::Unchanged if grant => println!("the user has {} already", role.trim()),
        RoleChange::Unchanged => println!("the user does not have {}", role.trim()),
        RoleChange::NoSuchUser => {
            return Err(ServeError::Config(tessera::config::ConfigError::new(
                "EMAIL",
                "no user has this email",
            )));
        }
    }
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}

fn exit_code(result: Result<(), ServeError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServeError::Config(e)) => {
            eprintln!("tessera: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &tessera::load::BenchArgs) -> ExitCode {
    if args.calibrate {
        return match tessera::load::calibrate(args.cost, 5) {
            Ok(c) if args.json => print_json(&c),
            Ok(c) => {
                print!("{}", c.to_text());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tessera bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("tessera bench: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tessera::load::run(&plan)) {
        Ok(report) if args.json => print_json(&report),
        Ok(report) => {
            print!("{}", report.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tessera bench: {e}");
            ExitCode::FAILURE
        }
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

fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tessera::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let server = server::prepare(config).await?;
        server.run(shutdown_signal()).await
    });
    exit_code(result)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
