//! tessera: a gRPC authentication service.
//!
//! The crate is both the server (feature `server`, on by default) and the code a
//! service needs to verify tessera's tokens in-process (feature `verifier`).
//!
//! | module | owns |
//! |---|---|
//! | [`proto`] | the generated `tessera.auth.v1` types, client and server, and the descriptor set |
//! | [`reason`] | the `ErrorInfo` reasons every error carries, shared by server and verifier |
//! | [`token`] | access-token claims, the one verification path, the revoked-session set; issuing and keys (server) |
//! | [`verifier`] | in-process verification for other services: JWKS cache, revocation stream, tonic interceptor, tower layer |
//! | [`config`] | flags and `TESSERA_*` variables parsed into a validated [`config::Config`] |
//! | [`telemetry`] | tracing subscriber set-up |
//! | [`domain`] | `Email`, `Password`, `UserId`, `SessionId`: values that validated on construction |
//! | [`password`] | bcrypt off the async runtime, with bounded concurrency and a dummy hash |
//! | [`throttle`] | the failed-login budget per email and per client address, kept in the store |
//! | [`store`] | the `Store` trait, its shared SQL, and the SQLite and PostgreSQL backends |
//! | [`auth`] | the use cases (register, login, refresh, logout, verify) in domain terms |
//! | [`grpc`] | proto <-> domain conversion, and the one mapping from errors to `tonic::Status` |
//! | [`keystore`] | signing keys in the store: sealed, rotated, loaded into the key ring |
//! | [`server`] | open everything, bind, serve until a shutdown future resolves; the background sync, health and purge tasks |
//! | [`load`] | `tessera bench`: the load generator and the machine's floors it is compared against |
//! | [`admin`] | the operator's subcommands: `migrate`, `keys rotate`, `keys list` |
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod proto;
pub mod reason;
pub mod token;
pub mod verifier;

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod domain;
#[cfg(feature = "server")]
pub mod grpc;
#[cfg(feature = "server")]
pub mod keystore;
#[cfg(feature = "server")]
pub mod load;
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
#[cfg(feature = "server")]
pub mod throttle;
