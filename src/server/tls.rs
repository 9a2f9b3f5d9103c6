//! TLS and mTLS on the gRPC listener (`TESSERA_TLS_CERT`, `TESSERA_TLS_KEY`,
//! `TESSERA_TLS_CLIENT_CA`), with rustls on the aws-lc-rs provider.
//!
//! - TLS 1.3 and 1.2, ALPN `h2` only (gRPC is HTTP/2).
//! - With a client CA, every client must present a certificate it issued (mTLS); a
//!   client without one fails the handshake.
//! - The files are read at start (a bad one stops the server, naming its setting),
//!   then again on SIGHUP and whenever one of them changes (checked every
//!   [`WATCH_EVERY`]). A reload applies to new connections; open ones keep theirs
//!   and are never dropped. A reload that fails keeps the files in use and logs why.
//! - The TLS handshake counts against `TESSERA_HANDSHAKE_TIMEOUT`, as the HTTP/2
//!   preface does.

use std::fs;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, version};
use tracing::{error, info};

use crate::config::{ConfigError, TlsFiles};

/// How often the files are checked for a change.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The TLS configuration in use, swapped whole on a reload.
pub(super) struct Tls {
    files: TlsFiles,
    current: RwLock<(Arc<ServerConfig>, Stamps)>,
}

/// When each file was last modified, as last read.
type Stamps = Vec<Option<SystemTime>>;

impl Tls {
    /// Reads the files; an unusable one is named by its setting.
    pub(super) fn load(files: TlsFiles) -> Result<Self, ConfigError> {
        let stamps = stamps(&files);
        let config = server_config(&files)?;
        Ok(Self {
            files,
            current: RwLock::new((config, stamps)),
        })
    }

    /// An acceptor with the configuration in use now.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        TlsAcceptor::from(current.0.clone())
    }

    /// Reads the files again and swaps them in; a failure keeps the old ones.
    fn reload(&self, why: &str) {
        let stamps = stamps(&self.files);
        match server_config(&self.files) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (config, stamps);
                info!(why, "TLS certificate reloaded");
            }
            Err(e) => {
                // Not again until a file changes once more.
                self.current.write().unwrap_or_else(|e| e.into_inner()).1 = stamps;
                error!(why, error = %e, "TLS certificate not reloaded; keeping the one in use");
            }
        }
    }

    fn changed(&self) -> bool {
        let now = stamps(&self.files);
        self.current.read().unwrap_or_else(|e| e.into_inner()).1 != now
    }
}

fn stamps(files: &TlsFiles) -> Stamps {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
    .collect()
}

/// Reloads on SIGHUP and when a file changes, until `stop` changes.
pub(super) async fn watch(tls: Arc<Tls>, mut stop: watch::Receiver<bool>) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            error!(error = %e, "cannot listen for SIGHUP; TLS files reload on change only");
            None
        }
    };
    let mut ticker = tokio::time::interval(WATCH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if tls.changed() {
                    tls.reload("a file changed");
                }
            }
            Some(()) = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => tls.reload("SIGHUP"),
            _ = stop.changed() => return,
        }
    }
}

fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, ConfigError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let certs = certificates(&files.cert, "TESSERA_TLS_CERT")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        ConfigError::new(
            "TESSERA_TLS_KEY",
            format!(
                "cannot read a PEM private key from {}: {e}",
                files.key.display()
            ),
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])
        .map_err(|e| ConfigError::new("TESSERA_TLS_CERT", e.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, "TESSERA_TLS_CLIENT_CA")? {
                roots.add(cert).map_err(|e| {
                    ConfigError::new(
                        "TESSERA_TLS_CLIENT_CA",
                        format!("not a CA certificate: {e}"),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ConfigError::new("TESSERA_TLS_CLIENT_CA", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        ConfigError::new(
            "TESSERA_TLS_KEY",
            format!("does not match TESSERA_TLS_CERT: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates in a PEM file: at least one.
fn certificates(
    path: &Path,
    var: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        ConfigError::new(
            var,
            format!("cannot read PEM certificates from {}: {e}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certs.is_empty() {
        return Err(unreadable(&"no certificate in the file"));
    }
    Ok(certs)
}
