//! Forward auth for proxies that do not speak gRPC (nginx `auth_request`, Traefik
//! and Caddy `forward_auth`): `GET /auth` with the original request's
//! `Authorization` header.
//!
//! - A valid token: 200 with `X-Auth-Subject`, `X-Auth-Roles` (comma-separated) and
//!   `X-Auth-Session`, for the proxy to copy upstream.
//! - No valid token: 401 with an RFC 6750 `WWW-Authenticate: Bearer` challenge
//!   (`error="invalid_token"` when a token was presented) and `X-Auth-Reason`.
//! - A route may require a role: `?role=admin` in the URL the proxy calls, or an
//!   `X-Auth-Required-Role` header it sets. A valid token without it: 403
//!   (`error="insufficient_scope"`).
//!
//! A `Cache-Control: no-store` keeps a shared cache from replaying a verdict.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::Shared;
use super::verdict::{self, Denial, REASON_HEADER};
use crate::store::Store;

/// The header through which a proxy names the role a route needs.
pub const REQUIRED_ROLE_HEADER: &str = "x-auth-required-role";

/// `GET /auth`
pub(super) async fn auth<S: Store>(
    State(shared): State<Arc<Shared<S>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let role = required_role(&uri, &headers);
    let mut response = match verdict::check(&shared.auth, authorization, role) {
        Ok(claims) => {
            let mut response = StatusCode::OK.into_response();
            for (name, value) in verdict::upstream_headers(&claims) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Err(denial) => denied(denial),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn denied(denial: Denial) -> Response {
    let mut response = (denial.status, format!("{}\n", denial.reason.as_str())).into_response();
    let out = response.headers_mut();
    out.insert(
        REASON_HEADER,
        HeaderValue::from_static(denial.reason.as_str()),
    );
    if let Some(challenge) = denial
        .challenge
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        out.insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// The role the route needs: the `role` query parameter, else the header.
fn required_role<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "role")
            .map(|(_, v)| v)
    });
    from_query
        .or_else(|| {
            headers
                .get(REQUIRED_ROLE_HEADER)
                .and_then(|v| v.to_str().ok())
        })
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_comes_from_the_query_then_the_header() {
        let mut headers = HeaderMap::new();
        let uri: Uri = "/auth?x=1&role=admin".parse().unwrap();
        assert_eq!(required_role(&uri, &headers), Some("admin"));
        headers.insert(REQUIRED_ROLE_HEADER, HeaderValue::from_static("ops"));
        let bare: Uri = "/auth".parse().unwrap();
        assert_eq!(required_role(&bare, &headers), Some("ops"));
        assert_eq!(required_role(&uri, &headers), Some("admin"));
        assert_eq!(required_role(&bare, &HeaderMap::new()), None);
    }
}
