//! Tracing set-up. The level comes from `RUST_LOG` (default `info`, with the database
//! driver's own notices at `warn`); the format from
//! `TESSERA_LOG_FORMAT`. Text logs are coloured only when stderr is a terminal, so a
//! log file or a container's log collector gets no ANSI escapes. Nothing in tessera
//! logs a password, hash or token: spans use `skip_all` and name their fields.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. Call once, from `main`.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
