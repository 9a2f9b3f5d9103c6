//! Envoy's ext_authz API (`envoy.service.auth.v3.Authorization`), generated from the
//! subset of Envoy's protos in `proto/envoy/`: the server tessera serves on its gRPC
//! port, and the client its tests (and a mesh's own tests) call it with. Paths
//! follow the packages: `envoy::service::auth::v3`, `envoy::config::core::v3`,
//! `envoy::r#type::v3`.

#![allow(missing_docs, clippy::all)]

mod generated {
    include!(concat!(env!("OUT_DIR"), "/envoy.rs"));
}
pub use generated::envoy::*;

/// The encoded `FileDescriptorSet` of the Envoy subset, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("envoy_descriptor");

/// The fully qualified name of the service, as health checks and reflection name it.
pub const SERVICE_NAME: &str = "envoy.service.auth.v3.Authorization";
