//! TLS and mTLS on the gRPC listener, with certificates made by the test (rcgen):
//! clients that trust the CA get through, others do not; with a client CA only
//! clients with a certificate it issued do; a changed certificate is taken up for
//! new connections without dropping open ones.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use tessera::config::TlsFiles;
use tessera::proto::GetJwksRequest;
use tessera::proto::auth_service_client::AuthServiceClient;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tonic::transport::{Channel, Endpoint};

use crate::harness::{self, Backend, TestServer};

/// A CA that issues certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate and its key (PEM) for `names`, for a server or a client.
    fn issue(&self, names: &[&str], server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes the server's certificate and key (and the client CA) into `dir`.
fn write_files(dir: &Path, ca: &Ca, client_ca: Option<&Ca>) -> TlsFiles {
    let (cert, key) = ca.issue(&["localhost", "127.0.0.1"], true);
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
        client_ca: client_ca.map(|_| dir.join("client-ca.pem")),
    };
    // The key first: a reload never sees a new certificate with the old key.
    std::fs::write(&files.key, key).unwrap();
    std::fs::write(&files.cert, cert).unwrap();
    if let (Some(ca), Some(path)) = (client_ca, &files.client_ca) {
        std::fs::write(path, &ca.pem).unwrap();
    }
    files
}

async fn spawn_tls(ca: &Ca, client_ca: Option<&Ca>) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(dir.path(), ca, client_ca);
    let server = harness::spawn_with(Backend::Sqlite, |c| c.tls = Some(files)).await;
    // The files live in the server's data folder from now on.
    std::mem::forget(dir);
    server
}

/// Connects to `addr` over TLS, trusting `trusted`, presenting `identity`.
#[derive(Clone)]
struct Connector {
    addr: SocketAddr,
    tls: TlsConnector,
}

impl Connector {
    fn new(addr: SocketAddr, trusted: &Ca, identity: Option<(String, String)>) -> Self {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(trusted.pem.as_bytes()).unwrap())
            .unwrap();
        let builder = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Self {
            addr,
            tls: TlsConnector::from(Arc::new(config)),
        }
    }

    /// A gRPC channel over this connector (connecting now).
    async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from_static("http://localhost")
            .connect_with_connector(self.clone())
            .await
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let (addr, tls) = (self.addr, self.tls.clone());
        Box::pin(async move {
            let tcp = TcpStream::connect(addr).await?;
            let name = ServerName::try_from("localhost").unwrap();
            Ok(TokioIo::new(tls.connect(name, tcp).await?))
        })
    }
}

/// Whether a GetJwks over `channel` answers.
async fn answers(channel: Channel) -> bool {
    AuthServiceClient::new(channel)
        .get_jwks(GetJwksRequest {})
        .await
        .is_ok()
}

/// Whether a client made by `connector` gets an answer.
async fn gets_through(connector: &Connector) -> bool {
    match connector.channel().await {
        Ok(channel) => answers(channel).await,
        Err(_) => false,
    }
}

#[tokio::test]
async fn over_tls_a_client_that_trusts_the_ca_is_served_and_plaintext_is_not() {
    let ca = Ca::new("tessera test CA");
    let server = spawn_tls(&ca, None).await;
    assert!(gets_through(&Connector::new(server.addr, &ca, None)).await);

    let stranger = Ca::new("another CA");
    assert!(
        !gets_through(&Connector::new(server.addr, &stranger, None)).await,
        "a client that does not trust the server's CA refuses it"
    );
    let plain = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let plaintext = match plain.connect().await {
        Ok(channel) => answers(channel).await,
        Err(_) => false,
    };
    assert!(!plaintext, "plaintext gRPC is refused on a TLS listener");
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_certificate_it_issued_are_served() {
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let server = spawn_tls(&ca, Some(&clients)).await;

    let with_cert = Connector::new(server.addr, &ca, Some(clients.issue(&["orders"], false)));
    assert!(gets_through(&with_cert).await);
    assert!(
        !gets_through(&Connector::new(server.addr, &ca, None)).await,
        "no client certificate"
    );
    let rogue = Ca::new("rogue CA");
    assert!(
        !gets_through(&Connector::new(
            server.addr,
            &ca,
            Some(rogue.issue(&["orders"], false))
        ))
        .await,
        "a certificate another CA issued"
    );
}

#[tokio::test]
async fn a_changed_certificate_is_taken_up_without_dropping_open_connections() {
    let old = Ca::new("old CA");
    let server = spawn_tls(&old, None).await;
    let files = server.config.tls.clone().unwrap();
    let open = Connector::new(server.addr, &old, None)
        .channel()
        .await
        .unwrap();
    assert!(answers(open.clone()).await);

    // The operator puts a certificate from a new CA in place of the old one.
    let new = Ca::new("new CA");
    let dir = files.cert.parent().unwrap();
    write_files(dir, &new, None);
    let trusts_new = Connector::new(server.addr, &new, None);
    assert!(
        harness::eventually(Duration::from_secs(10), || gets_through(&trusts_new)).await,
        "new connections get the new certificate"
    );
    assert!(
        !gets_through(&Connector::new(server.addr, &old, None)).await,
        "and no longer the old one"
    );
    assert!(
        answers(open).await,
        "a connection opened before the change is still served"
    );
}

#[tokio::test]
async fn sighup_rereads_the_certificate_of_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("tessera test CA");
    let files = write_files(dir.path(), &ca, None);
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "TESSERA_TLS_CERT={}\nTESSERA_TLS_KEY={}\n",
            files.cert.display(),
            files.key.display()
        ),
    )
    .unwrap();
    let server = crate::binary::start(&dir.path().join("data"), dir.path(), "info");
    let addr: SocketAddr = server.addr.parse().unwrap();
    assert!(gets_through(&Connector::new(addr, &ca, None)).await);

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let reloaded = loop {
        let line = server
            .logs
            .recv_timeout(Duration::from_secs(10))
            .expect("a log line saying the certificate was reloaded");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "TLS certificate reloaded" {
            break event;
        }
    };
    assert_eq!(reloaded["why"], "SIGHUP");
    assert!(
        gets_through(&Connector::new(addr, &ca, None)).await,
        "still serving after SIGHUP"
    );
    let (code, _) = server.terminate().await;
    assert_eq!(code, Some(0));
}

#[test]
fn an_unusable_certificate_or_key_stops_the_binary_naming_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("tessera test CA");
    let files = write_files(dir.path(), &ca, None);
    let (_, other_key) = ca.issue(&["localhost"], true);
    let wrong_key = dir.path().join("wrong-key.pem");
    std::fs::write(&wrong_key, other_key).unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (&missing, &files.key, "TESSERA_TLS_CERT"),
        (&files.cert, &missing, "TESSERA_TLS_KEY"),
        (&files.cert, &wrong_key, "TESSERA_TLS_KEY"),
        (&files.key, &files.key, "TESSERA_TLS_CERT"),
    ];
    for (cert, key, named) in cases {
        let out = crate::binary::tessera()
            .arg("serve")
            .env("TESSERA_DATA_DIR", dir.path().join("data"))
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .env("TESSERA_TLS_CERT", cert)
            .env("TESSERA_TLS_KEY", key)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("tessera: invalid {named}")),
            "{named}: {stderr}"
        );
    }
}
