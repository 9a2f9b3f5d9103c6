//! The `tessera` binary: parse the command line and run it (see `cli.rs`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A .env file is read if present; variables already set win.
    let _ = dotenvy::dotenv();
    cli::run(cli::Cli::parse())
}
