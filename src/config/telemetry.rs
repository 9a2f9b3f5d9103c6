//! `TESSERA_LOG_FORMAT` and `TESSERA_OTLP_ENDPOINT`: how the server's logs are
//! written, and where its trace spans go (`crate::telemetry`).

use super::ConfigError;

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

impl LogFormat {
    pub(super) fn parse(raw: &str) -> Result<Self, ConfigError> {
        match raw.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(ConfigError::new(
                "TESSERA_LOG_FORMAT",
                "expected text or json",
            )),
        }
    }
}

/// An OpenTelemetry collector's OTLP/gRPC receiver, `http://host:port`: in practice
/// the node's agent or a sidecar, over plaintext (the exporter carries no TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint(String);

const OTLP: &str = "TESSERA_OTLP_ENDPOINT";

impl OtlpEndpoint {
    /// The endpoint, or none when `raw` is empty.
    pub fn parse(raw: &str) -> Result<Option<Self>, ConfigError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let expected = || ConfigError::new(OTLP, "expected a URL like http://127.0.0.1:4317");
        let uri: http::Uri = raw.parse().map_err(|_| expected())?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(ConfigError::new(
                    OTLP,
                    "https is not supported; send to a local collector over http://",
                ));
            }
            _ => return Err(expected()),
        }
        let authority = uri.authority().ok_or_else(expected)?;
        if authority.port_u16().is_none()
            || authority.as_str().contains('@')
            || !matches!(uri.path(), "" | "/")
            || uri.query().is_some()
        {
            return Err(expected());
        }
        Ok(Some(Self(format!("http://{authority}"))))
    }

    /// The URL, `http://host:port`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_endpoints() {
        assert_eq!(OtlpEndpoint::parse(" ").unwrap(), None);
        assert_eq!(
            OtlpEndpoint::parse("http://collector:4317/")
                .unwrap()
                .unwrap()
                .as_str(),
            "http://collector:4317"
        );
        for bad in [
            "collector:4317",
            "http://collector",
            "http://user:secret@collector:4317",
            "http://collector:4317/v1/traces",
            "grpc://collector:4317",
            "https://collector:4317",
        ] {
            let e = OtlpEndpoint::parse(bad).unwrap_err();
            assert_eq!(e.var, OTLP);
            assert!(!e.to_string().contains("secret"));
        }
    }
}
