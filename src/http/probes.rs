//! Kubernetes-style probes: `GET /healthz` answers 200 while the process serves
//! HTTP at all (liveness), `GET /readyz` 200 only while the gRPC health service says
//! SERVING, that is, while the database answers and accepts writes (readiness);
//! otherwise 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use http::StatusCode;

use super::Shared;
use crate::store::Store;

/// Whether the server is ready, as its health task last found. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Sets whether the server is ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `GET /healthz`
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`
pub(super) async fn readyz<S: Store>(
    State(shared): State<Arc<Shared<S>>>,
) -> (StatusCode, &'static str) {
    if shared.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
