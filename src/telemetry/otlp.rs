//! The OTLP/gRPC span exporter. The SDK's batch processor runs on a thread of its
//! own, outside the runtime, and the tonic exporter's I/O needs the runtime: each
//! export is handed to the runtime it was built on (`OnRuntime`), and awaited from
//! the batch thread. The queue is the SDK's: 2,048 spans (`OTEL_BSP_MAX_QUEUE_SIZE`),
//! beyond which spans are dropped rather than held.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tokio::runtime::Handle;

use super::TelemetryError;
use crate::config::OtlpEndpoint;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A tracer provider exporting to `endpoint` in batches. Called within the runtime.
pub(super) fn provider(endpoint: &OtlpEndpoint) -> Result<SdkTracerProvider, TelemetryError> {
    let runtime = Handle::try_current().map_err(|e| TelemetryError(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TelemetryError(e.to_string()))?;
    let resource = Resource::builder();
    // OTEL_SERVICE_NAME, read by the SDK, wins.
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        resource
    } else {
        resource.with_service_name("tessera")
    };
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(OnRuntime {
            inner: Arc::new(exporter),
            runtime,
        })
        .build())
}

/// An exporter whose exports run on `runtime`.
#[derive(Debug)]
struct OnRuntime<E> {
    inner: Arc<E>,
    runtime: Handle,
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let inner = self.inner.clone();
        let export = self.runtime.spawn(async move { inner.export(batch).await });
        async move {
            export
                .await
                .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string())))
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called while building the provider, before any export holds a clone.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}
