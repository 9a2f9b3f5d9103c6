//! `GET /metrics`: Prometheus metrics in the OpenMetrics text format, through the
//! Prometheus project's own client library.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tessera_grpc_requests_total` | counter | `service`, `method`, `code`, `reason` (the ErrorInfo reason, empty for OK) |
//! | `tessera_grpc_request_duration_seconds` | histogram | `service`, `method` |
//! | `tessera_hash_jobs` | gauge | password hashes running or waiting for a thread |
//! | `tessera_sign_jobs` | gauge | token signatures running or waiting for a thread |
//! | `tessera_verify_cache_hits_total`, `tessera_verify_cache_misses_total` | counter | |
//! | `tessera_verify_cache_entries` | gauge | |
//! | `tessera_revoked_sessions` | gauge | sessions in the revoked-session set |
//! | `tessera_watch_streams` | gauge | open WatchRevocations streams |
//! | `tessera_signing_key_age_seconds` | gauge | since the signing key started signing |
//! | `tessera_next_key_activation_timestamp_seconds` | gauge | when a staged key starts signing (absent when none is staged) |
//!
//! Labels are bounded: a method the server does not serve counts as
//! `service="unknown", method="unknown"`, and reasons come from tessera's one list.
//! A duration runs from the request to the response's headers: for a unary call
//! its whole handling, for WatchRevocations the opening of the stream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Shared;
use crate::auth::Auth;
use crate::grpc::Methods;
use crate::store::Store;

/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    service: String,
    method: String,
    code: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    service: String,
    method: String,
}

/// The server's metrics: what the RPCs did, and what the server holds now.
pub struct Metrics {
    registry: Registry,
    requests: Family<Outcome, Counter>,
    durations: Family<Method, Histogram>,
    /// The paths the server serves.
    methods: Arc<Methods>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics over `auth`, labelled by `methods`; `watching` counts the open
    /// streams.
    pub fn new<S: Store>(
        auth: Arc<Auth<S>>,
        watching: impl Fn() -> usize + Send + Sync + 'static,
        methods: Arc<Methods>,
    ) -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<Outcome, Counter>::default();
        registry.register(
            "grpc_requests",
            "gRPC requests by method, status code and ErrorInfo reason",
            requests.clone(),
        );
        let durations = Family::<Method, Histogram>::new_with_constructor(|| {
            // 100 µs to about 6.5 s.
            Histogram::new(exponential_buckets(0.0001, 2.0, 17))
        });
        registry.register(
            "grpc_request_duration_seconds",
            "gRPC request duration, from the request to the response headers",
            durations.clone(),
        );
        registry.register_collector(Box::new(Live {
            auth,
            watching: Box::new(watching),
        }));
        Self {
            registry,
            requests,
            durations,
            methods,
        }
    }

    /// Counts one request to `path` that answered `code` (`"0"` for OK) with
    /// `reason`, after `elapsed`.
    pub fn observe(&self, path: &str, code: &str, reason: &str, elapsed: Duration) {
        let (service, method) = self.methods.split(path);
        let method = Method {
            service: service.to_owned(),
            method: method.to_owned(),
        };
        self.durations
            .get_or_create(&method)
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&Outcome {
                service: method.service,
                method: method.method,
                code: code_name(code).to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The name of a gRPC status code as its number is written in `grpc-status`.
fn code_name(code: &str) -> &'static str {
    match code {
        "0" => "OK",
        "1" => "CANCELLED",
        "2" => "UNKNOWN",
        "3" => "INVALID_ARGUMENT",
        "4" => "DEADLINE_EXCEEDED",
        "5" => "NOT_FOUND",
        "6" => "ALREADY_EXISTS",
        "7" => "PERMISSION_DENIED",
        "8" => "RESOURCE_EXHAUSTED",
        "9" => "FAILED_PRECONDITION",
        "10" => "ABORTED",
        "11" => "OUT_OF_RANGE",
        "12" => "UNIMPLEMENTED",
        "13" => "INTERNAL",
        "14" => "UNAVAILABLE",
        "15" => "DATA_LOSS",
        "16" => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// What the server holds, read at each scrape.
struct Live<S: Store> {
    auth: Arc<Auth<S>>,
    watching: Box<dyn Fn() -> usize + Send + Sync>,
}

impl<S: Store> fmt::Debug for Live<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<S: Store> Collector for Live<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let now = self.auth.clock().now();
        let gauges = self.auth.gauges();
        let schedule = self.auth.key_schedule();
        let e = &mut encoder;
        gauge(
            e,
            "hash_jobs",
            "password hashes running or waiting for a thread",
            count(gauges.hashing),
        )?;
        gauge(
            e,
            "sign_jobs",
            "token signatures running or waiting for a thread",
            count(gauges.signing),
        )?;
        counter(
            e,
            "verify_cache_hits",
            "verifications answered from the verified-token cache",
            gauges.cache.hits,
        )?;
        counter(
            e,
            "verify_cache_misses",
            "verifications that checked the signature",
            gauges.cache.misses,
        )?;
        gauge(
            e,
            "verify_cache_entries",
            "tokens in the verified-token cache",
            count(gauges.cache.entries),
        )?;
        gauge(
            e,
            "revoked_sessions",
            "sessions in the revoked-session set",
            count(gauges.revoked_sessions),
        )?;
        gauge(
            e,
            "watch_streams",
            "open WatchRevocations streams",
            count((self.watching)()),
        )?;
        if let Some(since) = schedule.signing_since {
            gauge(
                e,
                "signing_key_age_seconds",
                "seconds since the signing key started signing",
                (now - since).max(0),
            )?;
        }
        if let Some(at) = schedule.next_activation {
            gauge(
                e,
                "next_key_activation_timestamp_seconds",
                "when the staged key starts signing (Unix time)",
                at,
            )?;
        }
        Ok(())
    }
}

/// `GET /metrics`
pub(super) async fn metrics<S: Store>(State(shared): State<Arc<Shared<S>>>) -> Response {
    match shared.metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grpc_code_has_its_name() {
        assert_eq!(code_name("0"), "OK");
        assert_eq!(code_name("16"), "UNAUTHENTICATED");
        assert_eq!(code_name("99"), "UNKNOWN");
    }
}
