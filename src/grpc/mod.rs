//! The gRPC face: thin handlers that convert and delegate, the conversions, and the
//! one mapping from errors to `tonic::Status`.
//!
//! - [`status`]: every `tonic::Status` tessera or its verifier builds (verifier feature too).
//! - [`convert`]: proto <-> domain, both ways (verifier feature too).
//! - `auth_service.rs`: `tessera.auth.v1.AuthService`, one handler per RPC.
//! - `admin_service.rs`: `tessera.auth.v1.AdminService` and its guard, which
//!   verifies the bearer token and checks the admin role with the verifier's own
//!   `require_role`.
//! - `ext_authz.rs`: Envoy's `envoy.service.auth.v3.Authorization/Check`, through the
//!   same token check as forward auth (`http/verdict.rs`).
//! - `request.rs`: what every handler does first (client address, run to completion).
//! - `watch.rs`: WatchRevocations, one feed per server that encodes each event once,
//!   and the streams that send it.
//!
//! A new gRPC service is a file here beside `auth_service.rs`, and one line where the
//! server adds its services (`server/serve.rs`).

pub mod convert;
pub mod status;

#[cfg(feature = "server")]
mod admin_service;
#[cfg(feature = "server")]
mod auth_service;
#[cfg(feature = "server")]
mod ext_authz;
#[cfg(feature = "server")]
mod methods;
#[cfg(feature = "server")]
mod request;
#[cfg(feature = "server")]
mod watch;

#[cfg(feature = "server")]
pub use admin_service::{ADMIN_ROLE, AdminGrpc, AdminGuard};
#[cfg(feature = "server")]
pub use auth_service::AuthGrpc;
#[cfg(feature = "server")]
pub use ext_authz::{ExtAuthz, REQUIRED_ROLE_EXTENSION};
#[cfg(feature = "server")]
pub use methods::Methods;
#[cfg(feature = "server")]
pub use request::ClientAddress;
#[cfg(feature = "server")]
pub use watch::Watching;
