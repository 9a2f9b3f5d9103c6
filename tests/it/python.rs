//! examples/python/client.py against the real server: a Python service logs in over
//! gRPC, verifies the token locally with PyJWT against the HTTP JWKS, and refreshes.
//! Skipped, with a message, when python3 lacks grpcio, grpcio-tools or PyJWT
//! (.ci/run installs them from examples/python/requirements.txt).

use std::path::Path;
use std::process::Command;

use crate::harness::{self, Backend, PASSWORD, email};

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, jwt"])
        .output()
        .is_ok_and(|out| out.status.success())
}

#[tokio::test]
async fn the_python_example_logs_in_verifies_locally_and_refreshes() {
    if !python_ready() {
        eprintln!("python3 with grpcio, grpcio-tools and PyJWT is not installed: skipped");
        return;
    }
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/client.py");
    let address = email("python");
    let grpc = server.addr.to_string();
    let http = format!("http://{}", server.http_addr.unwrap());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args(["--grpc", &grpc, "--http", &http, "--email", &address])
            .args(["--password", PASSWORD, "--register"])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "registered");
    assert!(lines[1].starts_with("logged in as "), "{stdout}");
    assert!(lines[2].starts_with("verified locally: sub="), "{stdout}");
    assert!(lines[2].ends_with("roles=user"), "{stdout}");
    assert!(lines[3].starts_with("refreshed: session "), "{stdout}");
    assert_eq!(lines[4], "reused refresh token refused: UNAUTHENTICATED");
    assert!(!stdout.contains(PASSWORD));
}
