//! One trace span per RPC, when traces are exported (`TESSERA_OTLP_ENDPOINT`): named
//! for the method (bounded by [`Methods`]), a child of the caller's span when the
//! request carries W3C `traceparent` metadata, and ended with the status code and
//! ErrorInfo reason. Its attributes are the method, the code and the reason: never a
//! token, an email or any other metadata.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Code;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::grpc::Methods;

/// The span of one RPC to `path`, whose request has `headers`.
pub(super) fn rpc_span(methods: &Methods, path: &str, headers: &HeaderMap) -> Span {
    let (service, method) = methods.split(path);
    let span = tracing::info_span!(
        "rpc",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        error.type = Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Metadata(headers));
    // Fails only when no tracing layer is installed: the span is then a no-op.
    let _ = span.set_parent(parent);
    span
}

/// Ends `span` with the outcome: `code` and, for an error, its ErrorInfo `reason`.
pub(super) fn record(span: &Span, code: &str, reason: &str) {
    span.record("rpc.grpc.status_code", code.parse::<i64>().unwrap_or(2));
    if code == "0" {
        return;
    }
    if !reason.is_empty() {
        span.record("error.type", reason);
    }
    // A server's span is an error only when the server failed, not when the
    // caller's request was refused (OpenTelemetry's gRPC conventions).
    let failed = matches!(
        Code::from_bytes(code.as_bytes()),
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    );
    if failed {
        span.record("otel.status_code", "ERROR");
    }
}

/// Reads `traceparent` and `tracestate` from the request's metadata.
struct Metadata<'a>(&'a HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
