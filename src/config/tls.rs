//! `TESSERA_TLS_CERT`, `TESSERA_TLS_KEY`, `TESSERA_TLS_CLIENT_CA`: where the gRPC
//! listener's certificate, its key and (for mTLS) the CA of its clients are. The
//! files are read, and a bad one named, when the server starts
//! (`server/tls.rs`).

use std::path::PathBuf;

use super::ConfigError;

/// The TLS files of the gRPC listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, clients must present a certificate this CA (PEM, one or more)
    /// issued.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// TLS from the three settings: none when neither certificate nor key is set.
    pub fn from_args(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        client_ca: Option<PathBuf>,
    ) -> Result<Option<Self>, ConfigError> {
        let set = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
        match (set(cert), set(key), set(client_ca)) {
            (Some(cert), Some(key), client_ca) => Ok(Some(Self {
                cert,
                key,
                client_ca,
            })),
            (Some(_), None, _) => Err(ConfigError::new(
                "TESSERA_TLS_KEY",
                "must be set with TESSERA_TLS_CERT",
            )),
            (None, Some(_), _) => Err(ConfigError::new(
                "TESSERA_TLS_CERT",
                "must be set with TESSERA_TLS_KEY",
            )),
            (None, None, Some(_)) => Err(ConfigError::new(
                "TESSERA_TLS_CLIENT_CA",
                "needs TESSERA_TLS_CERT and TESSERA_TLS_KEY",
            )),
            (None, None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_and_key_come_together_and_a_client_ca_needs_both() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(TlsFiles::from_args(None, None, None), Ok(None));
        assert!(
            TlsFiles::from_args(p("c"), p("k"), p("ca"))
                .unwrap()
                .is_some()
        );
        assert_eq!(
            TlsFiles::from_args(p("c"), None, None).unwrap_err().var,
            "TESSERA_TLS_KEY"
        );
        assert_eq!(
            TlsFiles::from_args(None, p("k"), None).unwrap_err().var,
            "TESSERA_TLS_CERT"
        );
        assert_eq!(
            TlsFiles::from_args(None, None, p("ca")).unwrap_err().var,
            "TESSERA_TLS_CLIENT_CA"
        );
    }
}
