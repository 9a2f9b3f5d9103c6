//! Tracing set-up. The level comes from `RUST_LOG` (default `info`, with the database
//! driver's own notices at `warn`); the format from
//! `TESSERA_LOG_FORMAT`. Text logs are coloured only when stderr is a terminal, so a
//! log file or a container's log collector gets no ANSI escapes. Nothing in tessera
//! logs a password, hash or token: spans use `skip_all` and name their fields.
//!
//! With `TESSERA_OTLP_ENDPOINT`, tessera's own spans (one per RPC, made in
//! `server/trace.rs`, and the handlers' spans inside it) are also exported as
//! OpenTelemetry traces (`otlp.rs`), whatever `RUST_LOG` says.

mod otlp;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, OtlpEndpoint};

/// What was installed; [`Telemetry::shutdown`] sends the spans still queued.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// The trace exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to TESSERA_OTLP_ENDPOINT: {0}")]
pub struct TelemetryError(String);

/// Installs the global subscriber, writing logs to stderr and, with `otlp`, spans
/// to that collector. Call once; with `otlp`, from within the tokio runtime the
/// exports will run on.
pub fn init(format: LogFormat, otlp: Option<&OtlpEndpoint>) -> Result<Telemetry, TelemetryError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let logs = match format {
        LogFormat::Text => logs.with_filter(filter).boxed(),
        LogFormat::Json => logs.json().flatten_event(true).with_filter(filter).boxed(),
    };
    let traces = otlp.map(otlp::provider).transpose()?;
    let spans = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("tessera"))
            .with_filter(Targets::new().with_target("tessera", Level::INFO))
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
    Ok(Telemetry { traces })
}

impl Telemetry {
    /// Exports the spans still queued (waiting at most the exporter's timeout),
    /// then stops the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.traces {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "traces not all exported at shutdown");
            }
        }
    }
}
