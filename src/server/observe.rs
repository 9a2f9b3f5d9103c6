//! Counting each RPC for `/metrics` as its response headers leave: the method, the
//! status code and the ErrorInfo reason (decoded only for errors), and the time
//! taken. Only when the HTTP endpoints are on, since nothing else reads the counts.

use std::time::Instant;

use http::HeaderMap;
use tonic::Status;
use tonic_types::StatusExt;

use crate::http::Metrics;

/// Records one RPC to `path`, started at `started`, whose response has `headers`.
pub(super) fn record(metrics: &Metrics, path: &str, started: Instant, headers: &HeaderMap) {
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
    metrics.observe(path, code, &reason, started.elapsed());
}
