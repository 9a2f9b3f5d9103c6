//! Key discovery over HTTP: the JWKS (RFC 7517) and an OpenID Connect discovery
//! document pointing at it, for Envoy's jwt_authn, Istio's RequestAuthentication,
//! API gateways and JWT libraries in any language.
//!
//! The JWKS answer carries a strong `ETag` (a hash of the body: an unchanged key set
//! answers `If-None-Match` with 304) and `Cache-Control: public, max-age=N`. N is at
//! most [`MAX_AGE_SECS`], half of the default delay between `tessera keys rotate`
//! and the new key signing, so a cache that honours it holds a staged key before it
//! signs; it is shorter when a retiring key leaves the set sooner.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use super::Shared;
use crate::crypto::sha256;
use crate::store::Store;
use crate::token::JwkSet;

/// The longest a JWKS answer may be cached, in seconds.
pub const MAX_AGE_SECS: i64 = 300;

/// The path of the key set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// `GET /.well-known/jwks.json`
pub(super) async fn jwks<S: Store>(
    State(shared): State<Arc<Shared<S>>>,
    headers: HeaderMap,
) -> Response {
    let auth = &shared.auth;
    let now = auth.clock().now();
    let set = JwkSet { keys: auth.jwks() };
    let Ok(body) = serde_json::to_vec(&set) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&sha256(&body)[..16]));
    let max_age = match auth.key_schedule().next_unpublish {
        Some(at) => (at - now).clamp(0, MAX_AGE_SECS),
        None => MAX_AGE_SECS,
    };
    let cache_control = format!("public, max-age={max_age}");
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let out = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        out.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// The discovery document: the subset of OpenID Connect Discovery 1.0 that key
/// discovery reads. tessera has no authorization endpoint (its tokens come from the
/// gRPC Login), so none is named.
#[derive(Serialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    id_token_signing_alg_values_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    claims_supported: [&'static str; 11],
}

/// `GET /.well-known/openid-configuration`
pub(super) async fn openid_configuration<S: Store>(
    State(shared): State<Arc<Shared<S>>>,
    headers: HeaderMap,
) -> Response {
    let issuer = &shared.issuer;
    let base = if is_url(issuer) {
        issuer.trim_end_matches('/').to_owned()
    } else {
        // The issuer is a plain name: the keys are where this document was asked for.
        match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) if is_authority(host) => format!("http://{host}"),
            _ => {
                return (StatusCode::BAD_REQUEST, "a Host header is required").into_response();
            }
        }
    };
    let document = Discovery {
        issuer: issuer.clone(),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        id_token_signing_alg_values_supported: ["RS256"],
        subject_types_supported: ["public"],
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "sid",
            "email",
            "email_verified",
            "roles",
            "nbf",
        ],
    };
    match serde_json::to_vec(&document) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Whether the issuer is an `http(s)` URL (then the documents live under it).
fn is_url(issuer: &str) -> bool {
    issuer.starts_with("https://") || issuer.starts_with("http://")
}

/// A `Host` value that is a plain host name or address with an optional port: no
/// path, user info or anything a cache could be poisoned with.
fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_authorities_name_the_keys() {
        assert!(is_authority("auth.internal:8080"));
        assert!(is_authority("[::1]:8080"));
        assert!(!is_authority("evil.example/path"));
        assert!(!is_authority("user@host"));
        assert!(!is_authority(""));
    }

    #[test]
    fn a_url_issuer_is_the_base_of_the_documents() {
        assert!(is_url("https://auth.example.com"));
        assert!(!is_url("tessera"));
    }
}
