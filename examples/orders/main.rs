//! An orders service that verifies tessera's access tokens in-process.
//!
//! With tessera serving on 127.0.0.1:50051:
//!
//! ```text
//! cargo run --example orders
//! ```
//!
//! Settings (environment): `ORDERS_LISTEN` (127.0.0.1:50061), `TESSERA_URL`
//! (http://127.0.0.1:50051), `TESSERA_ISSUER` and `TESSERA_AUDIENCE` (both
//! `tessera`, as tessera's defaults), `ORDERS_VERIFY_MODE` (`live`, `local` or
//! `remote`). The README walks through it with grpcurl.

mod service;

use std::time::Duration;

use tessera::verifier::{Mode, Verifier, VerifierConfig};
use tokio::net::TcpListener;
use tonic::transport::Channel;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = VerifierConfig::new(
        setting("TESSERA_ISSUER", "tessera"),
        setting("TESSERA_AUDIENCE", "tessera"),
    );
    config.mode = match setting("ORDERS_VERIFY_MODE", "live").as_str() {
        "live" => Mode::Live,
        "local" => Mode::Local,
        "remote" => Mode::Remote,
        _ => return Err("invalid ORDERS_VERIFY_MODE: expected live, local or remote".into()),
    };
    let tessera = Channel::from_shared(setting("TESSERA_URL", "http://127.0.0.1:50051"))
        .map_err(|_| "invalid TESSERA_URL: expected a URL like http://127.0.0.1:50051")?
        .connect_lazy();
    let verifier = Verifier::new(tessera, config);
    if !verifier.ready(Duration::from_secs(10)).await {
        eprintln!("orders: no keys from tessera yet; tokens are refused until they arrive");
    }
    let listener = TcpListener::bind(setting("ORDERS_LISTEN", "127.0.0.1:50061")).await?;
    println!("orders: listening on {}", listener.local_addr()?);
    service::serve(listener, verifier, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
