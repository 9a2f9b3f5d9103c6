//! The integration suite: one binary, one module per area. Every test starts the real
//! server on 127.0.0.1:0 with a fresh data folder, key and SQLite file, and talks gRPC.

mod harness;
mod http_client;
mod pg;
mod relay;

mod account;
mod admin;
mod audit;
mod binary;
mod connections;
mod container;
mod data_dir;
mod ext_authz;
mod guard;
mod hashing;
mod http;
mod jwks;
mod layers;
mod load;
mod login;
mod logout;
mod malformed;
mod nginx;
mod otlp;
mod password_change;
mod postgres;
mod proxies;
mod python;
mod recovery;
mod refresh;
mod register;
mod server;
mod store;
mod tls;
mod verify;
mod watch;
