//! What an RPC answered, read as its response headers leave: the status code and the
//! ErrorInfo reason (decoded only for errors). Counted for `/metrics` (only when the
//! HTTP endpoints are on, since nothing else reads the counts) and recorded on the
//! RPC's trace span.

use std::time::Instant;

use http::HeaderMap;
use tonic::Status;
use tonic_types::StatusExt;

use crate::http::Metrics;

/// The status code (`"0"` for OK) and ErrorInfo reason (empty for OK) of a response
/// with `headers`.
pub(super) fn outcome(headers: &HeaderMap) -> (&str, String) {
    // A unary success sends its status in the trailers: no status here means OK.
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0");
    let reason = if code == "0" {
        String::new()
    } else {
        Status::from_header_map(headers)
            .and_then(|status| status.get_details_error_info())
            .map(|info| info.reason)
            .unwrap_or_default()
    };
    (code, reason)
}

/// Counts one RPC to `path`, started at `started`, that answered `code` with
/// `reason`.
pub(super) fn record(metrics: &Metrics, path: &str, started: Instant, code: &str, reason: &str) {
    metrics.observe(path, code, reason, started.elapsed());
}
