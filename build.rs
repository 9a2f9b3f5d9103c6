//! Compiles `proto/` with protox (pure Rust, so no system `protoc` is needed) and
//! writes the descriptor set that server reflection serves.

use std::{env, fs, io, path::PathBuf};

use protox::prost::Message;

/// Messages that carry a password or a token: their `Debug` is written by hand in
/// `src/proto.rs` so that a stray `{:?}` never prints a secret.
const REDACTED: &[&str] = &[
    "tessera.auth.v1.RegisterRequest",
    "tessera.auth.v1.LoginRequest",
    "tessera.auth.v1.LoginResponse",
    "tessera.auth.v1.TokenPair",
    "tessera.auth.v1.RefreshRequest",
    "tessera.auth.v1.RefreshResponse",
    "tessera.auth.v1.LogoutRequest",
    "tessera.auth.v1.VerifyRequest",
    "tessera.auth.v1.ChangePasswordRequest",
    "tessera.auth.v1.DeleteAccountRequest",
    "tessera.auth.v1.ResetPasswordRequest",
    "tessera.auth.v1.VerifyEmailRequest",
    "tessera.auth.v1.CreateTokenResponse",
];

fn main() -> io::Result<()> {
    let protos = [
        "proto/tessera/auth/v1/auth.proto",
        "proto/tessera/auth/v1/admin.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=examples/orders/orders.proto");

    let fds = protox::compile(protos, ["proto"]).map_err(io::Error::other)?;
    let out = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(out.join("tessera_descriptor.bin"), fds.encode_to_vec())?;

    // The messages and the client.
    tonic_prost_build::configure()
        .build_server(false)
        .skip_debug(REDACTED.iter().map(|m| format!(".{m}")))
        .compile_fds(fds.clone())?;
    // The server, on the messages above, except that WatchRevocations sends events
    // encoded once and shared by every stream (`crate::proto::EncodedEvent`).
    let server = out.join("server");
    fs::create_dir_all(&server)?;
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&server)
        .extern_path(".tessera.auth.v1", "crate::proto")
        .extern_path(
            ".tessera.auth.v1.RevocationEvent",
            "crate::proto::EncodedEvent",
        )
        .compile_fds(fds)?;

    // Envoy's ext_authz service (the subset in proto/envoy/), server and client;
    // google.rpc.Status is tonic-types' own.
    let envoy = protox::compile(["envoy/service/auth/v3/external_auth.proto"], ["proto"])
        .map_err(io::Error::other)?;
    fs::write(out.join("envoy_descriptor.bin"), envoy.encode_to_vec())?;
    tonic_prost_build::configure()
        .extern_path(".google.rpc", "::tonic_types::pb")
        .include_file("envoy.rs")
        .compile_fds(envoy)?;

    // The example service of examples/orders (also served in the integration tests).
    let orders =
        protox::compile(["orders.proto"], ["examples/orders"]).map_err(io::Error::other)?;
    fs::write(out.join("orders_descriptor.bin"), orders.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .compile_fds(orders)
}
