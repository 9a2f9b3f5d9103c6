//! The HTTP endpoints (`TESSERA_HTTP_LISTEN`), beside the gRPC API and over the same
//! [`Auth`], for what cannot speak gRPC:
//!
//! | path | file | what |
//! |---|---|---|
//! | `GET /.well-known/jwks.json` | `discovery.rs` | the public keys (RFC 7517), with `ETag` and `Cache-Control` |
//! | `GET /.well-known/openid-configuration` | `discovery.rs` | issuer and `jwks_uri` |
//! | `GET /healthz`, `GET /readyz` | `probes.rs` | liveness, readiness |
//! | `GET /auth` | `forward_auth.rs` | forward auth for nginx, Traefik, Caddy |
//! | `GET /metrics` | `metrics.rs` | Prometheus metrics (OpenMetrics text) |
//!
//! `verdict.rs` is the one check of a bearer token for a proxy, shared with Envoy's
//! ext_authz (`grpc/ext_authz.rs`). Serving the connections is `server/http.rs`.

mod discovery;
mod forward_auth;
mod metrics;
mod probes;
pub mod verdict;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use discovery::{JWKS_PATH, MAX_AGE_SECS};
pub use forward_auth::REQUIRED_ROLE_HEADER;
pub use metrics::Metrics;
pub use probes::Readiness;

use crate::auth::Auth;
use crate::store::Store;

/// What the handlers share.
struct Shared<S: Store> {
    auth: Arc<Auth<S>>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    /// `TESSERA_ISSUER`.
    issuer: String,
}

/// The routes, over `auth`.
pub fn router<S: Store>(
    auth: Arc<Auth<S>>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    issuer: String,
) -> Router {
    let shared = Arc::new(Shared {
        auth,
        readiness,
        metrics,
        issuer,
    });
    Router::new()
        .route(JWKS_PATH, get(discovery::jwks::<S>))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration::<S>),
        )
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz::<S>))
        .route("/auth", get(forward_auth::auth::<S>))
        .route("/metrics", get(metrics::metrics::<S>))
        .with_state(shared)
}
