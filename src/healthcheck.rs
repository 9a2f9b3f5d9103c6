//! `tessera healthcheck`: asks a running tessera's gRPC health service whether it
//! serves, for a container's `HEALTHCHECK` or a script. Exit 0 when it answers
//! SERVING, 1 otherwise (not serving, unreachable, too slow), 2 for a bad flag; one
//! line either way.
//!
//! A URL with a path (`http://127.0.0.1:8080/readyz`) is asked over HTTP instead:
//! serving means 200. That is the way in when the gRPC listener speaks TLS.

use std::process::ExitCode;
use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::config::defaults;

/// The flags of `tessera healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The server to ask, e.g. http://127.0.0.1:50051 (default: the address of
    /// TESSERA_LISTEN, asked on loopback when it is 0.0.0.0 or [::]); a URL with a
    /// path, e.g. http://127.0.0.1:8080/readyz, is asked over HTTP.
    #[arg(long)]
    pub url: Option<String>,
    /// The address `serve` listens on, read when --url is not given.
    #[arg(long, env = "TESSERA_LISTEN", default_value = defaults::LISTEN, hide = true)]
    pub listen: String,
    /// How long to wait for the answer.
    #[arg(long, default_value = "3s")]
    pub timeout: String,
}

/// The URL to ask: `url` if given, else `listen` on loopback when it names every
/// interface.
pub fn target(url: Option<&str>, listen: &str) -> String {
    if let Some(url) = url {
        return url.trim().to_owned();
    }
    let listen = listen.trim();
    let local = match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => listen.to_owned(),
    };
    format!("http://{local}")
}

/// Whether the server at `url` answers SERVING for the whole server within `timeout`;
/// the reason in words when it does not.
pub async fn check(url: &str, timeout: Duration) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url} is not a URL: {e}"))?;
    if !matches!(uri.path(), "" | "/") {
        return tokio::time::timeout(timeout, check_http(url, &uri))
            .await
            .map_err(|_| format!("{url} did not answer within {timeout:?}"))?;
    }
    let ask = async {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("{url} is not a URL: {e}"))?
            .connect_timeout(timeout);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|s| format!("{url} answered {:?}: {}", s.code(), s.message()))?;
        match answer.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("{url} is {}", other.as_str_name())),
        }
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| format!("{url} did not answer within {timeout:?}"))?
}

/// Whether `GET uri` answers 200.
async fn check_http(url: &str, uri: &http::Uri) -> Result<(), String> {
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// is asked over HTTP"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url} names no host"))?;
    let port = authority.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((authority.host().trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
    tokio::spawn(connection);
    let request = http::Request::get(uri.path())
        .header(http::header::HOST, authority.as_str())
        .body(String::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{url} did not answer: {e}"))?;
    match response.status() {
        http::StatusCode::OK => Ok(()),
        other => Err(format!("{url} answered {other}")),
    }
}

/// Runs the subcommand; returns the exit code.
pub fn run(args: &HealthcheckArgs) -> ExitCode {
    let Ok(timeout) = humantime::parse_duration(args.timeout.trim()) else {
        eprintln!("tessera: invalid --timeout: expected a duration like 3s");
        return ExitCode::from(2);
    };
    let url = target(args.url.as_deref(), &args.listen);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tessera: cannot start a runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(check(&url, timeout)) {
        Ok(()) => {
            println!("SERVING {url}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("NOT SERVING: {reason}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn the_target_is_the_url_or_the_listen_address_on_loopback() {
        assert_eq!(target(Some("http://h:1"), "0.0.0.0:9"), "http://h:1");
        assert_eq!(target(None, "0.0.0.0:50051"), "http://127.0.0.1:50051");
        assert_eq!(target(None, "[::]:50051"), "http://[::1]:50051");
        assert_eq!(target(None, "10.0.0.5:7000"), "http://10.0.0.5:7000");
    }
}
