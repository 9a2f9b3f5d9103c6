//! One bearer token checked for a proxy: the forward-auth endpoint (`GET /auth`) and
//! Envoy's ext_authz `Check` both ask [`check`], so a proxy that speaks HTTP and one
//! that speaks gRPC get the same answer. The token is verified exactly as Verify
//! does it (signature, `iss`, `aud`, `exp`, and the revoked-session set).
//!
//! This is the one place where a refusal becomes an HTTP status and an RFC 6750
//! `WWW-Authenticate` challenge.

use http::StatusCode;

use crate::auth::{Auth, AuthError};
use crate::reason::Reason;
use crate::store::Store;
use crate::token::AccessClaims;
use crate::verifier::bearer_token;

/// The realm named in every challenge.
const REALM: &str = "tessera";

/// Why a request is refused, in HTTP terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// 401 (no valid token), 403 (a valid token without the role), 503 (the
    /// database is unreachable) or 500.
    pub status: StatusCode,
    /// The same reason Verify's `ErrorInfo` would carry.
    pub reason: Reason,
    /// The `WWW-Authenticate` value (RFC 6750 §3), for 401 and 403.
    pub challenge: Option<String>,
}

impl Denial {
    fn new(status: StatusCode, reason: Reason, challenge: Option<String>) -> Self {
        Self {
            status,
            reason,
            challenge,
        }
    }
}

/// Verifies the bearer token in `authorization` (the header's value, if any) and,
/// when `required_role` is set, that the token carries that role.
pub fn check<S: Store>(
    auth: &Auth<S>,
    authorization: Option<&str>,
    required_role: Option<&str>,
) -> Result<AccessClaims, Denial> {
    let Some(token) = authorization.and_then(bearer_token) else {
        // RFC 6750 §3.1: a request with no credentials gets a challenge without
        // an error code.
        return Err(Denial::new(
            StatusCode::UNAUTHORIZED,
            Reason::TokenInvalid,
            Some(format!("Bearer realm=\"{REALM}\"")),
        ));
    };
    let claims = auth.verify(token).map_err(refused)?;
    match required_role {
        Some(role) if !claims.roles.iter().any(|r| r == role) => Err(Denial::new(
            StatusCode::FORBIDDEN,
            Reason::PermissionDenied,
            Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"the token lacks the role this route needs\""
            )),
        )),
        _ => Ok(claims),
    }
}

fn refused(err: AuthError) -> Denial {
    let invalid = |reason: Reason, description: &str| {
        Denial::new(
            StatusCode::UNAUTHORIZED,
            reason,
            Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
            )),
        )
    };
    match err {
        AuthError::TokenExpired => invalid(Reason::TokenExpired, "the token expired"),
        AuthError::TokenRevoked => invalid(Reason::TokenRevoked, "the token's session was revoked"),
        AuthError::TokenInvalid => invalid(Reason::TokenInvalid, "the token is not valid"),
        AuthError::Unavailable(_) | AuthError::StorageUnavailable(_) => {
            Denial::new(StatusCode::SERVICE_UNAVAILABLE, Reason::Unavailable, None)
        }
        other => {
            tracing::error!(error = %other, "token check failed");
            Denial::new(StatusCode::INTERNAL_SERVER_ERROR, Reason::Internal, None)
        }
    }
}

/// The headers an allowed request carries upstream: `(name, value)`. The roles are
/// comma-separated; role names are plain ASCII words.
pub fn upstream_headers(claims: &AccessClaims) -> [(&'static str, String); 3] {
    [
        ("x-auth-subject", claims.sub.clone()),
        ("x-auth-roles", claims.roles.join(",")),
        ("x-auth-session", claims.sid.clone()),
    ]
}

/// The header that carries the reason of a refusal.
pub const REASON_HEADER: &str = "x-auth-reason";
