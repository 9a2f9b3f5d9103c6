//! The gRPC face of the use cases: [`service`] converts proto <-> domain and delegates;
//! [`status`] is the one place that builds a `tonic::Status`.

pub mod service;
pub mod status;

pub use service::{AuthGrpc, Counters};
