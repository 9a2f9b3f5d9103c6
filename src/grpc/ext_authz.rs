//! Envoy's ext_authz (`envoy.service.auth.v3.Authorization/Check`) on the gRPC port:
//! a mesh asks tessera per request, and a logout reaches the mesh at once.
//!
//! - The bearer token is read from the request's `authorization` header (from
//!   `headers`, or `header_map` when Envoy encodes raw values) and checked by
//!   [`crate::http::verdict::check`], as forward auth checks it: exactly as Verify
//!   does, revocation included.
//! - A route may require a role: the context extension `tessera_required_role`,
//!   set per route in Envoy's ext_authz filter.
//! - Allowed: status OK, and `x-auth-subject`, `x-auth-roles`, `x-auth-session`
//!   set upstream (overwriting any the client sent).
//! - Denied: status UNAUTHENTICATED (401), PERMISSION_DENIED (403), UNAVAILABLE (503)
//!   or INTERNAL (500) with an ErrorInfo, and the HTTP answer Envoy sends the client:
//!   that status, `www-authenticate` (RFC 6750) and `x-auth-reason` headers, and the
//!   reason as the body.
//!
//! The RPC itself always answers OK: the verdict is in the CheckResponse.

use std::sync::Arc;

use prost::Message;
use tonic::{Code, Request, Response, Status};
use tracing::instrument;

use super::status::DOMAIN;
use crate::auth::Auth;
use crate::http::verdict::{self, Denial, REASON_HEADER};
use crate::proto::envoy::config::core::v3::{HeaderValue, HeaderValueOption, header_value_option};
use crate::proto::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse, authorization_server,
    check_response::HttpResponse,
};
use crate::proto::envoy::r#type::v3::HttpStatus;
use crate::store::Store;

/// The context extension naming the role a route needs.
pub const REQUIRED_ROLE_EXTENSION: &str = "tessera_required_role";

/// The Authorization service over `auth`.
pub struct ExtAuthz<S: Store> {
    auth: Arc<Auth<S>>,
}

impl<S: Store> ExtAuthz<S> {
    pub fn new(auth: Arc<Auth<S>>) -> Self {
        Self { auth }
    }
}

#[tonic::async_trait]
impl<S: Store> authorization_server::Authorization for ExtAuthz<S> {
    #[instrument(skip_all, fields(rpc = "ext_authz.Check"))]
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let attributes = request.into_inner().attributes.unwrap_or_default();
        let http = attributes.request.and_then(|r| r.http).unwrap_or_default();
        let authorization = http.headers.get("authorization").cloned().or_else(|| {
            http.header_map.and_then(|map| {
                map.headers
                    .into_iter()
                    .find(|h| h.key.eq_ignore_ascii_case("authorization"))
                    .map(|h| {
                        if h.value.is_empty() {
                            String::from_utf8_lossy(&h.raw_value).into_owned()
                        } else {
                            h.value
                        }
                    })
            })
        });
        let role = attributes
            .context_extensions
            .get(REQUIRED_ROLE_EXTENSION)
            .map(String::as_str)
            .filter(|r| !r.is_empty());
        let answer = match verdict::check(&self.auth, authorization.as_deref(), role) {
            Ok(claims) => CheckResponse {
                status: Some(rpc_status(Code::Ok, None)),
                http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                    headers: verdict::upstream_headers(&claims)
                        .into_iter()
                        .map(|(name, value)| header(name, value))
                        .collect(),
                    ..Default::default()
                })),
            },
            Err(denial) => denied(denial),
        };
        Ok(Response::new(answer))
    }
}

fn denied(denial: Denial) -> CheckResponse {
    let code = match denial.status.as_u16() {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        503 => Code::Unavailable,
        _ => Code::Internal,
    };
    let reason = denial.reason.as_str();
    let mut headers = vec![header(REASON_HEADER, reason.to_owned())];
    if let Some(challenge) = denial.challenge {
        headers.push(header("www-authenticate", challenge));
    }
    CheckResponse {
        status: Some(rpc_status(code, Some(reason))),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(denial.status.as_u16()),
            }),
            headers,
            body: format!("{reason}\n"),
        })),
    }
}

/// A header set upstream or on the answer, replacing any of the same name.
fn header(name: &str, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value,
            raw_value: Vec::new(),
        }),
        append_action: header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// A `google.rpc.Status` with `code` and, for a denial, an ErrorInfo for `reason`.
fn rpc_status(code: Code, reason: Option<&str>) -> tonic_types::pb::Status {
    let details = reason
        .map(|reason| prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.ErrorInfo".to_owned(),
            value: tonic_types::pb::ErrorInfo {
                reason: reason.to_owned(),
                domain: DOMAIN.to_owned(),
                metadata: Default::default(),
            }
            .encode_to_vec(),
        })
        .into_iter()
        .collect();
    tonic_types::pb::Status {
        code: code as i32,
        message: reason.unwrap_or_default().to_owned(),
        details,
    }
}
