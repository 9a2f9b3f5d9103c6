//! The `tessera` binary as an operator runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tessera::proto::GetJwksRequest;
use tessera::proto::auth_service_client::AuthServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

pub fn tessera() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    // Only what the test sets: no TESSERA_* from the developer's shell.
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
    cmd
}

/// Runs `tessera serve` with one bad setting; returns (exit code, stderr).
fn serve_with(var: &str, value: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera()
        .arg("serve")
        .env("TESSERA_DATA_DIR", dir.path())
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env(var, value)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_http_address_in_use_exits_2_naming_tessera_http_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (code, stderr) = serve_with(
        "TESSERA_HTTP_LISTEN",
        &taken.local_addr().unwrap().to_string(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("tessera: invalid TESSERA_HTTP_LISTEN: cannot listen"),
        "{stderr}"
    );
}

#[test]
fn a_bad_setting_exits_2_with_one_line_naming_the_variable() {
    let cases = [
        ("TESSERA_ACCESS_TTL", "soon"),
        ("TESSERA_ACCESS_TTL", "25h"),
        ("TESSERA_REFRESH_TTL", "-1"),
        ("TESSERA_BCRYPT_COST", "3"),
        ("TESSERA_BCRYPT_COST", "32"),
        ("TESSERA_PASSWORD_HASH", "md5"),
        ("TESSERA_ARGON2_MEMORY_KIB", "4"),
        ("TESSERA_ARGON2_ITERATIONS", "0"),
        ("TESSERA_ARGON2_PARALLELISM", "17"),
        ("TESSERA_EMAIL_REUSE_DELAY", "366d"),
        ("TESSERA_LISTEN", "not-an-address"),
        ("TESSERA_HTTP_LISTEN", "localhost"),
        ("TESSERA_DATABASE_URL", "mysql://secret-password@db/x"),
        ("TESSERA_SIGNING_KEY", "/nonexistent/key.pem"),
        ("TESSERA_LOG_FORMAT", "xml"),
        ("TESSERA_LOGIN_ATTEMPTS_PER_MINUTE", "many"),
        ("TESSERA_MASTER_KEY", "secret-password"),
        ("TESSERA_MASTER_KEY_FILE", "/nonexistent/master.key"),
        ("TESSERA_AUTO_MIGRATE", "perhaps"),
        ("TESSERA_SYNC_INTERVAL", "often"),
        ("TESSERA_OTLP_ENDPOINT", "collector:4317"),
        ("TESSERA_OTLP_ENDPOINT", "https://collector:4317"),
        (
            "TESSERA_OTLP_ENDPOINT",
            "http://secret-password@collector:4317",
        ),
    ];
    for (var, value) in cases {
        let (code, stderr) = serve_with(var, value);
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{var}: one line, got {stderr}"
        );
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !stderr.contains("secret-password"),
            "never echo a value: {stderr}"
        );
    }
}

#[test]
fn an_unreachable_postgres_exits_2_naming_the_url_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera()
        .arg("serve")
        .env("TESSERA_DATA_DIR", dir.path())
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env("TESSERA_DB_TIMEOUT", "1s")
        .env(
            "TESSERA_MASTER_KEY",
            tessera::token::seal::MasterKey::generate().1,
        )
        .env(
            "TESSERA_DATABASE_URL",
            "postgres://app:secret-password@127.0.0.1:1/tessera",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The failure is one line.
    let errors: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("tessera:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("TESSERA_DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("secret-password"), "{stderr}");
}

#[test]
fn a_signing_key_that_is_not_an_rsa_pkcs8_pem_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let (code, stderr) = serve_with("TESSERA_SIGNING_KEY", key.to_str().unwrap());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TESSERA_SIGNING_KEY"), "{stderr}");
}

/// A running `tessera serve` with JSON logs on a pipe.
pub struct Running {
    pub child: std::process::Child,
    pub addr: String,
    pub logs: std::sync::mpsc::Receiver<String>,
}

/// Starts the binary on port 0 with JSON logs at `level`, and waits for its "ready"
/// event (which names the bound address). Lines are read on a thread, so a server
/// that never gets ready fails the test instead of hanging it.
pub fn start(data: &std::path::Path, cwd: &std::path::Path, level: &str) -> Running {
    start_limited(data, cwd, level, None, &[])
}

/// As [`start`], with more environment variables set.
pub fn start_with(
    data: &std::path::Path,
    cwd: &std::path::Path,
    level: &str,
    env: &[(&str, &str)],
) -> Running {
    start_limited(data, cwd, level, None, env)
}

/// As [`start`], with files the server writes capped at `max_file_bytes` (`prlimit
/// --fsize`, with SIGXFSZ ignored so a write past it fails instead of killing the
/// process): a disk that is full, as the process sees it.
fn start_limited(
    data: &std::path::Path,
    cwd: &std::path::Path,
    level: &str,
    max_file_bytes: Option<u64>,
    env: &[(&str, &str)],
) -> Running {
    let mut command = match max_file_bytes {
        None => tessera(),
        Some(bytes) => {
            let mut sh = Command::new("sh");
            sh.args(["-c", "trap '' XFSZ; exec \"$@\"", "sh", "prlimit"])
                .arg(format!("--fsize={bytes}:unlimited"))
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_tessera"));
            sh
        }
    };
    let mut child = command
        .arg("serve")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--bcrypt-cost",
            "4",
            "--log-format",
            "json",
        ])
        .env("TESSERA_DATA_DIR", data)
        .env("RUST_LOG", level)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, logs) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = logs
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("tessera logs ready");
        let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        if event["message"] == "ready" {
            assert_eq!(event["backend"], "sqlite");
            break event["address"].as_str().unwrap().to_owned();
        }
    };
    Running { child, addr, logs }
}

impl Running {
    /// Sends SIGTERM; returns the exit code and every log line written after "ready".
    pub async fn terminate(self) -> (Option<i32>, Vec<String>) {
        let Running {
            mut child, logs, ..
        } = self;
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        (status.code(), logs.iter().collect())
    }
}

#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, dir.path(), "info");

    let mut client = AuthServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let keys = client
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);

    // First start created the folder, the database, and a master key readable by the
    // owner only. The signing key lives in the database, sealed: no PEM anywhere.
    assert!(data.join("tessera.db").exists());
    assert!(!data.join("signing-key.pem").exists());
    for file in std::fs::read_dir(&data).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(11).any(|w| w == b"PRIVATE KEY"));
    }
    let key = data.join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (code, logs) = server.terminate().await;
    assert_eq!(code, Some(0));
    assert!(logs.iter().any(|l| l.contains("shutting down")), "{logs:?}");
}

#[tokio::test]
async fn no_log_line_carries_a_password_hash_or_token_even_at_trace_level() {
    use tessera::proto::{
        LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, VerifyRequest,
    };

    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), dir.path(), "trace");
    let mut client = AuthServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let password = "Sup3r-Secret-Passw0rd";
    let email = "logs@example.com";
    client
        .register(RegisterRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .unwrap();
    let _ = client
        .login(LoginRequest {
            email: email.into(),
            password: "Wr0ng-Secret-Passw0rd".into(),
        })
        .await
        .unwrap_err();
    let pair = client
        .login(LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    client
        .verify(VerifyRequest {
            access_token: pair.access_token.clone(),
        })
        .await
        .unwrap();
    let next = client
        .refresh(RefreshRequest {
            refresh_token: pair.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    let _ = client
        .refresh(RefreshRequest {
            refresh_token: pair.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    client
        .logout(LogoutRequest {
            refresh_token: next.refresh_token.clone(),
            all_sessions: true,
        })
        .await
        .unwrap();
    drop(client);

    let (code, logs) = server.terminate().await;
    assert_eq!(code, Some(0));
    let all = logs.join("\n");
    assert!(
        all.contains("login failed") && all.contains("reuse detected"),
        "the outcomes are logged"
    );
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_owned();
    for secret in [
        password.to_owned(),
        "Wr0ng-Secret-Passw0rd".to_owned(),
        "$2b$04$".to_owned(),
        pair.refresh_token.clone(),
        next.refresh_token.clone(),
        signature(&pair.access_token),
        signature(&next.access_token),
    ] {
        assert!(!all.contains(&secret), "a log line carries a secret");
    }
}

#[test]
fn a_configured_signing_key_is_used_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mine.pem");
    let (generated, pem) = tessera::token::keys::SigningKey::generate().unwrap();
    std::fs::write(&key, &pem).unwrap();
    // A bad listen address stops the binary after the key was loaded.
    let out = tessera()
        .arg("serve")
        .env("TESSERA_DATA_DIR", dir.path().join("data"))
        .env("TESSERA_SIGNING_KEY", &key)
        .env("TESSERA_LISTEN", "256.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);
    assert!(!dir.path().join("data").join("signing-key.pem").exists());
    let _ = generated;
}

#[test]
fn a_dot_env_file_is_read_and_the_environment_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "TESSERA_BCRYPT_COST=3\nTESSERA_REFRESH_TTL=whenever\n",
    )
    .unwrap();
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = tessera();
        cmd.arg("serve")
            .env("TESSERA_DATA_DIR", dir.path().join("data"))
            .current_dir(dir.path());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // From .env alone: the bad refresh TTL is reported (it is checked before the cost).
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TESSERA_REFRESH_TTL"), "{stderr}");
    // The environment overrides .env: with a good TTL set, the next bad .env value shows.
    let (code, stderr) = run(&[("TESSERA_REFRESH_TTL", "7d")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TESSERA_BCRYPT_COST"), "{stderr}");
}

/// Runs `tessera` with `args` on the data folder `data`; returns (exit code, stdout,
/// stderr).
fn run(
    data: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let mut cmd = tessera();
    cmd.args(args).env("TESSERA_DATA_DIR", data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_then_keys_rotate_and_list_work_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Without auto-migration, serve refuses a database that lacks migrations.
    let (code, _, stderr) = run(
        &data,
        &["serve"],
        &[
            ("TESSERA_AUTO_MIGRATE", "false"),
            ("TESSERA_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TESSERA_AUTO_MIGRATE"), "{stderr}");
    assert!(stderr.contains("tessera migrate"), "{stderr}");

    let (code, stdout, stderr) = run(&data, &["migrate"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let all = crate::harness::migrations("sqlite");
    assert!(
        stdout.contains(&format!("applied {all} migration(s)")),
        "{stdout}"
    );
    let (code, stdout, _) = run(&data, &["migrate"], &[]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("applied 0 migration(s)"), "{stdout}");

    let (code, stdout, stderr) = run(&data, &["keys", "rotate", "--now"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let signing = stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    let (code, stdout, stderr) = run(&data, &["keys", "rotate", "--delay", "1h"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let staged = stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();

    let (code, stdout, stderr) = run(&data, &["keys", "list"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let state = |kid: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(kid))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("{kid} not listed: {stdout}"))
            .to_owned()
    };
    assert_eq!(state(&signing), "signing");
    assert_eq!(state(&staged), "staged");
}

#[test]
fn postgres_without_a_master_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &["serve"],
        &[(
            "TESSERA_DATABASE_URL",
            "postgres://app:secret-password@127.0.0.1:1/x",
        )],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid TESSERA_MASTER_KEY"), "{stderr}");
    assert!(!stderr.contains("secret-password"), "{stderr}");
}

#[test]
fn a_master_key_that_does_not_open_the_stored_keys_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, stderr) = run(&data, &["migrate"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = run(&data, &["keys", "rotate", "--now"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, other) = tessera::token::seal::MasterKey::generate();
    let (code, _, stderr) = run(
        &data,
        &["serve"],
        &[
            ("TESSERA_MASTER_KEY", &other),
            ("TESSERA_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    let errors: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("tessera:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("invalid TESSERA_MASTER_KEY"), "{stderr}");
    assert!(!stderr.contains(&other), "{stderr}");

    // The operator commands prove the key first: a mistyped one changes nothing.
    for command in [&["keys", "rotate", "--now"][..], &["keys", "list"]] {
        let (code, _, stderr) = run(&data, command, &[("TESSERA_MASTER_KEY", &other)]);
        assert_eq!(code, Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains("invalid TESSERA_MASTER_KEY"), "{stderr}");
    }
    let (code, stdout, stderr) = run(&data, &["keys", "list"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "one key, no more: {stdout}");
}

#[tokio::test]
async fn users_grant_role_and_revoke_role_change_the_roles_of_the_next_tokens() {
    let server = crate::harness::spawn(crate::harness::Backend::Sqlite).await;
    let address = crate::harness::email("roles");
    server.register(&address).await;
    let data = server.data_dir.path().to_owned();
    let users = move |args: Vec<String>| {
        let data = data.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run(&data, &args, &[])
            })
            .await
            .unwrap()
        }
    };
    let cmd = |verb: &str, email: &str, role: &str| {
        vec!["users".to_string(), verb.into(), email.into(), role.into()]
    };
    let roles = || async {
        let login = server
            .login(&address, crate::harness::PASSWORD)
            .await
            .unwrap();
        login.user.unwrap().roles
    };

    let (code, stdout, stderr) = users(cmd("grant-role", &address, "admin")).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("granted admin"), "{stdout}");
    assert_eq!(roles().await, vec!["user", "admin"]);
    let (code, stdout, _) = users(cmd("grant-role", &address, "admin")).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("already"), "{stdout}");

    let (code, _, stderr) = users(cmd("grant-role", &address, "Admin,root")).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("ROLE") && !stderr.contains("root"),
        "{stderr}"
    );
    let (code, _, stderr) = users(cmd("grant-role", "nobody@example.com", "admin")).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("EMAIL"), "{stderr}");

    let (code, stdout, stderr) = users(cmd("revoke-role", &address, "admin")).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("revoked admin"), "{stdout}");
    assert_eq!(roles().await, vec!["user"]);
}

#[tokio::test]
async fn a_full_disk_answers_storage_unavailable_turns_health_not_serving_and_recovers() {
    use tonic_health::pb::health_check_response::ServingStatus;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, stderr) = run(&data, &["migrate"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let db = std::fs::metadata(data.join("tessera.db")).unwrap().len();
    // Room for the database as it is, and a little WAL: then the disk is full.
    let server = start_limited(&data, dir.path(), "info", Some(db + 64 * 1024), &[]);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AuthServiceClient::new(channel.clone());
    let serving = || {
        let channel = channel.clone();
        async move { crate::harness::health_of(channel).await == ServingStatus::Serving }
    };
    assert!(serving().await);

    let mut refused = None;
    for i in 0..5_000 {
        let answer = client
            .register(tessera::proto::RegisterRequest {
                email: format!("full{i}@example.com"),
                password: crate::harness::PASSWORD.into(),
            })
            .await;
        if let Err(status) = answer {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("the disk filled up");
    crate::harness::assert_error::<()>(
        Err(status.clone()),
        Code::Unavailable,
        "STORAGE_UNAVAILABLE",
    );
    assert!(status.get_details_retry_info().is_some());
    assert!(!status.message().contains("disk"), "{}", status.message());
    let down = crate::harness::eventually(std::time::Duration::from_secs(15), || async {
        !serving().await
    })
    .await;
    assert!(down, "health kept SERVING on a full disk");

    // Space comes back: no restart needed.
    let freed = Command::new("prlimit")
        .args(["--pid", &server.child.id().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(freed.success());
    let up = crate::harness::eventually(std::time::Duration::from_secs(15), serving).await;
    assert!(up, "health did not recover");
    client
        .register(tessera::proto::RegisterRequest {
            email: "after@example.com".into(),
            password: crate::harness::PASSWORD.into(),
        })
        .await
        .expect("writes work again");
    let (code, _) = server.terminate().await;
    assert_eq!(code, Some(0));
}
