//! Forward auth through a real nginx (`auth_request`) in front of a tiny upstream:
//! nginx asks tessera's `GET /auth` for every request, passes the subject, roles and
//! session upstream, and answers 401/403 with tessera's challenge itself. nginx is
//! started and stopped by the test; without an `nginx` binary the test says so and
//! does nothing (.ci/run installs it).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tessera::auth::RoleEdit;
use tokio::net::TcpListener;

use crate::harness::{self, Backend, email};
use crate::http_client::get;

/// nginx, found on the PATH or where Debian puts it.
fn nginx() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")]);
    candidates
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// An upstream that answers with the identity headers it was given.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let echo = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned()
                    };
                    let body = format!(
                        "subject={} roles={} session={}",
                        header("x-auth-subject"),
                        header("x-auth-roles"),
                        header("x-auth-session")
                    );
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), echo)
                    .await;
            });
        }
    });
    addr
}

/// A port free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The configuration a user of the forward-auth endpoint would write (see
/// docs/deploy.md), with every path inside `dir`.
fn config(dir: &Path, port: u16, tessera: SocketAddr, upstream: SocketAddr) -> String {
    let dir = dir.display();
    let guarded = |location: &str, check: &str| {
        format!(
            r#"
        location {location} {{
            auth_request {check};
            auth_request_set $auth_subject $upstream_http_x_auth_subject;
            auth_request_set $auth_roles $upstream_http_x_auth_roles;
            auth_request_set $auth_session $upstream_http_x_auth_session;
            auth_request_set $auth_challenge $upstream_http_www_authenticate;
            auth_request_set $auth_reason $upstream_http_x_auth_reason;
            add_header WWW-Authenticate $auth_challenge always;
            add_header X-Auth-Reason $auth_reason always;
            proxy_set_header X-Auth-Subject $auth_subject;
            proxy_set_header X-Auth-Roles $auth_roles;
            proxy_set_header X-Auth-Session $auth_session;
            proxy_pass http://{upstream};
        }}"#
        )
    };
    let check = |location: &str, query: &str| {
        format!(
            r#"
        location = {location} {{
            internal;
            proxy_pass http://{tessera}/auth{query};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}"#
        )
    };
    format!(
        r#"
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        {}
        {}
        {}
        {}
    }}
}}
"#,
        guarded("/", "/_tessera"),
        guarded("/admin/", "/_tessera_admin"),
        check("/_tessera", ""),
        check("/_tessera_admin", "?role=admin"),
    )
}

/// nginx, stopped when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn nginx_auth_request_lets_valid_tokens_through_and_refuses_the_rest() {
    let Some(nginx) = nginx() else {
        eprintln!("nginx is not installed: the forward-auth test through nginx is skipped");
        return;
    };
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let upstream = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        config(dir.path(), port, server.http_addr.unwrap(), upstream),
    )
    .unwrap();
    let child = Command::new(&nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _nginx = Nginx(child);
    let front: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = || async { tokio::net::TcpStream::connect(front).await.is_ok() };
    assert!(
        harness::eventually(Duration::from_secs(10), up).await,
        "nginx did not start: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );

    // No token: nginx answers 401 with tessera's challenge; the upstream is not asked.
    let none = get(front, "/orders", &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), "Bearer realm=\"tessera\"");
    assert!(!none.body.contains("subject="));

    // A valid token: through, with the identity from tessera, even when the client
    // sends identity headers of its own.
    let address = email("nginx");
    let (user, pair) = server.login_as(&address).await;
    let bearer = format!("Bearer {}", pair.access_token);
    let through = get(
        front,
        "/orders",
        &[
            ("authorization", bearer.as_str()),
            ("x-auth-subject", "someone-else"),
        ],
    )
    .await;
    assert_eq!(through.status, StatusCode::OK, "{}", through.body);
    assert_eq!(
        through.body,
        format!(
            "subject={} roles=user session={}",
            user.id,
            harness::session_of(&pair.access_token)
        )
    );

    // A route that needs the admin role: 403 for a user, through for an admin.
    let forbidden = get(front, "/admin/users", &[("authorization", bearer.as_str())]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(
        forbidden
            .header("www-authenticate")
            .contains("insufficient_scope")
    );
    tessera::admin::change_role(&server.config.store, &address, "admin", RoleEdit::Grant)
        .await
        .unwrap();
    let admin = server.refresh(&pair.refresh_token).await.unwrap();
    let admin_bearer = format!("Bearer {}", admin.access_token);
    let as_admin = get(
        front,
        "/admin/users",
        &[("authorization", admin_bearer.as_str())],
    )
    .await;
    assert_eq!(as_admin.status, StatusCode::OK);

    // A logout is refused at the proxy on the next request.
    server.logout(&admin.refresh_token, false).await.unwrap();
    let revoked = get(
        front,
        "/orders",
        &[("authorization", admin_bearer.as_str())],
    )
    .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.header("x-auth-reason"), "TOKEN_REVOKED");
    assert!(revoked.header("www-authenticate").contains("invalid_token"));
}
