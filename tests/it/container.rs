//! What a container runtime needs of the binary: `tessera healthcheck` for its
//! HEALTHCHECK, and logs without terminal colours when stderr is not a terminal.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::binary::{start, tessera};

/// Runs `tessera healthcheck` with `args`; returns (exit code, stdout).
fn healthcheck(args: &[&str]) -> (Option<i32>, String) {
    let out = tessera().arg("healthcheck").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn healthcheck_exits_0_while_serving_and_1_once_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), dir.path(), "info");
    let url = format!("http://{}", server.addr);

    let (code, stdout) = healthcheck(&["--url", &url]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.starts_with("SERVING"), "{stdout}");
    // Without --url it asks the address serve would listen on.
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let out = tessera()
        .arg("healthcheck")
        .env("TESSERA_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    let (code, _) = server.terminate().await;
    assert_eq!(code, Some(0));
    let (code, stdout) = healthcheck(&["--url", &url, "--timeout", "1s"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.starts_with("NOT SERVING"), "{stdout}");

    let (code, _) = healthcheck(&["--url", &url, "--timeout", "soon"]);
    assert_eq!(code, Some(2));
}

#[test]
fn text_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tessera()
        .env_remove("NO_COLOR")
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--log-format", "text"])
        .env("TESSERA_DATA_DIR", dir.path().join("data"))
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("ready")) {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("tessera logs ready");
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().all(|l| !l.contains('\u{1b}')), "{seen:?}");
    assert!(seen.iter().any(|l| l.contains("INFO")), "{seen:?}");
}
