//! `tessera serve`: the validated config, telemetry, the server until SIGINT or
//! SIGTERM, and the exit code.

use std::process::ExitCode;

use tessera::clock::Clock;
use tessera::config::{Config, ServeArgs};
use tessera::server::{self, ServeError};

use super::{EXIT_CONFIG, block_on, fail};

pub(super) fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => return fail(&e, EXIT_CONFIG),
    };
    let served = block_on(async {
        let telemetry = tessera::telemetry::init(config.log_format, config.otlp_endpoint.as_ref())?;
        let served = match server::prepare(config, Clock::system()).await {
            Ok(server) => server.run(shutdown_signal()).await,
            Err(e) => Err(e),
        };
        telemetry.shutdown().await;
        Ok::<_, tessera::telemetry::TelemetryError>(served)
    });
    match served {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(ServeError::Config(e)))) => fail(&e, EXIT_CONFIG),
        Ok(Ok(Err(e))) => fail(&e, 1),
        Ok(Err(e)) => fail(&e, EXIT_CONFIG),
        Err(code) => code,
    }
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
