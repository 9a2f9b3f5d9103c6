//! tessera: a gRPC authentication service.
//!
//! The crate is both the server (feature `server`, on by default) and the code a
//! service needs to verify tessera's tokens in-process (feature `verifier`). The
//! layers, each knowing only those below it:
//!
//! | layer | module | owns |
//! |---|---|---|
//! | foundation | [`proto`] | the generated `tessera.auth.v1` types, client and server, and the descriptor set |
//! | | [`reason`] | the `ErrorInfo` reasons every error carries |
//! | | [`clock`] | time as an input: the system clock, and a stepped one for tests |
//! | | [`crypto`] | the system CSPRNG and SHA-256 |
//! | | [`domain`] | `Email`, `Password`, `PasswordHash`, `UserId`, `SessionId`, `Role`, `User`: validated on construction |
//! | building blocks | [`token`] | claims, the one verification path, JWKs, the revoked-session set; keys, issuing, sealing (server) |
//! | | [`password`] | the `Hasher` seam over the password algorithms (argon2id, bcrypt), off the runtime |
//! | | [`offload`] | low-priority thread pools with bounded queues for CPU-heavy work |
//! | | [`store`] | role traits composed into `Store`; the SQL, once, for SQLite and PostgreSQL |
//! | | [`config`] | flags and `TESSERA_*` variables parsed into a validated [`config::Config`] |
//! | use cases | [`auth`] | register, login, session (refresh, logout), password change, account deletion, admin API, reset and verification tokens, audit, verify, roles; throttle, keys, revocations |
//! | transport | [`grpc`] | thin handlers, proto <-> domain, the one mapping from errors to `tonic::Status` |
//! | | [`http`] | JWKS, OpenID discovery, probes and forward auth over HTTP; the one token check for proxies |
//! | | [`verifier`] | in-process verification for other services: JWKS cache, revocation stream, interceptor, layer |
//! | wiring | [`server`] | start-up, serving, graceful shutdown, the sync, health and purge tasks |
//! | | [`admin`] | the operator's subcommands: `migrate`, `keys`, `users` |
//! | tools | [`bench`] | `tessera bench`: the load generator and the machine's floors (talks to the server over gRPC only) |
//! | | [`healthcheck`] | `tessera healthcheck`: asks a running server's health service |
//! | | [`telemetry`] | tracing subscriber set-up |
//!
//! Where a change goes:
//! - a new RPC: the proto, a handler in `grpc/auth_service.rs`, one use-case file in
//!   `auth/` (and a method on a role trait in `store/`, its SQL in `store/sql/`);
//! - a new password algorithm: `password/` only (a variant of `Algorithm`, a file
//!   beside `argon2id.rs` and `bcrypt.rs`);
//! - a new HTTP endpoint: a new `http/` module beside `grpc/`, over the same `Auth`,
//!   served from `server/serve.rs`;
//! - a new gRPC service (such as Envoy's ext_authz): a file in `grpc/` and one
//!   `add_service` line in `server/serve.rs`.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod clock;
pub mod crypto;
pub mod grpc;
pub mod proto;
pub mod reason;
pub mod token;
pub mod verifier;

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod bench;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod domain;
#[cfg(feature = "server")]
pub mod healthcheck;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod offload;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;
