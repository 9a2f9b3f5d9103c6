//! Envoy's ext_authz Check through the real server, with CheckRequests shaped as
//! Envoy sends them (built from the same protos).

use std::collections::HashMap;
use std::time::Duration;

use prost::Message;
use tessera::auth::RoleEdit;
use tessera::proto::envoy::config::core::v3::{HeaderMap, HeaderValue};
use tessera::proto::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use tessera::proto::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use tessera::proto::envoy::service::auth::v3::check_response::HttpResponse;
use tessera::proto::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use tonic::Code;

use crate::harness::{self, Backend, TestServer, email, on_both_backends};
use crate::verify::{claims_of, kid_of, rs256, sign_as_server};

on_both_backends!(check_allows_valid_tokens_and_denies_every_other);

/// A CheckRequest for `GET /orders` with `headers`, and the route's extensions.
fn request(headers: &[(&str, &str)], extensions: &[(&str, &str)]) -> CheckRequest {
    let http = HttpRequest {
        id: "17".into(),
        method: "GET".into(),
        path: "/orders".into(),
        host: "orders.internal".into(),
        scheme: "http".into(),
        protocol: "HTTP/1.1".into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([(":path".to_owned(), "/orders".to_owned())])
            .collect(),
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Default::default()
            }),
            context_extensions: extensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }),
    }
}

async fn check(server: &TestServer, request: CheckRequest) -> CheckResponse {
    AuthorizationClient::new(server.channel().await)
        .check(request)
        .await
        .expect("Check itself answers OK")
        .into_inner()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The headers an allowed answer sets upstream.
fn allowed(answer: &CheckResponse) -> HashMap<String, String> {
    assert_eq!(answer.status.as_ref().unwrap().code, Code::Ok as i32);
    let Some(HttpResponse::OkResponse(ok)) = &answer.http_response else {
        panic!("allowed: {answer:?}");
    };
    ok.headers
        .iter()
        .map(|h| {
            assert_eq!(h.append_action, 2, "overwrites what the client sent");
            let h = h.header.as_ref().unwrap();
            (h.key.clone(), h.value.clone())
        })
        .collect()
}

/// The gRPC code, the HTTP status, the reason and the challenge of a denial.
fn denied(answer: &CheckResponse) -> (Code, i32, String, String) {
    let status = answer.status.as_ref().unwrap();
    let Some(HttpResponse::DeniedResponse(denied)) = &answer.http_response else {
        panic!("denied: {answer:?}");
    };
    let header = |name: &str| {
        denied
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .find(|h| h.key == name)
            .map(|h| h.value.clone())
            .unwrap_or_default()
    };
    // The status carries an ErrorInfo with the same reason.
    let info = tonic_types::pb::ErrorInfo::decode(&status.details[0].value[..]).unwrap();
    assert_eq!(info.reason, header("x-auth-reason"));
    assert_eq!(info.domain, "tessera.auth");
    assert_eq!(denied.body.trim(), info.reason);
    (
        Code::from(status.code),
        denied.status.unwrap().code,
        info.reason,
        header("www-authenticate"),
    )
}

async fn check_allows_valid_tokens_and_denies_every_other(backend: Backend) {
    let server = harness::spawn_stepped(backend, |_| {}).await;
    let address = email("ext-authz");
    let (user, pair) = server.login_as(&address).await;
    let token = bearer(&pair.access_token);

    // Allowed, with the identity for upstream, even if the client sent its own.
    let answer = check(
        &server,
        request(
            &[
                ("authorization", token.as_str()),
                ("x-auth-subject", "someone-else"),
            ],
            &[],
        ),
    )
    .await;
    let headers = allowed(&answer);
    assert_eq!(headers["x-auth-subject"], user.id);
    assert_eq!(headers["x-auth-roles"], "user");
    assert_eq!(
        headers["x-auth-session"],
        harness::session_of(&pair.access_token)
    );

    // Envoy set to send raw header values: the same answer from header_map.
    let mut raw = request(&[], &[]);
    let http = raw.attributes.as_mut().unwrap().request.as_mut().unwrap();
    http.http.as_mut().unwrap().header_map = Some(HeaderMap {
        headers: vec![HeaderValue {
            key: "authorization".into(),
            value: String::new(),
            raw_value: token.clone().into_bytes(),
        }],
    });
    assert_eq!(
        allowed(&check(&server, raw).await)["x-auth-subject"],
        user.id
    );

    // Missing: 401 with a challenge without an error code.
    let (code, http, reason, challenge) = denied(&check(&server, request(&[], &[])).await);
    assert_eq!(
        (code, http, reason.as_str(), challenge.as_str()),
        (
            Code::Unauthenticated,
            401,
            "TOKEN_INVALID",
            "Bearer realm=\"tessera\""
        )
    );

    // Wrong audience, signed with the server's own key: only the rule refuses it.
    let mut claims = claims_of(&pair.access_token);
    claims.aud = vec!["another-api".into()];
    let forged = sign_as_server(&server, &rs256(&kid_of(&pair.access_token)), &claims);
    let (code, http, reason, challenge) = denied(
        &check(
            &server,
            request(&[("authorization", &bearer(&forged))], &[]),
        )
        .await,
    );
    assert_eq!(
        (code, http, reason.as_str()),
        (Code::Unauthenticated, 401, "TOKEN_INVALID")
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    // A route that needs a role the token lacks: 403.
    let admin_route = [("tessera_required_role", "admin")];
    let (code, http, reason, challenge) = denied(
        &check(
            &server,
            request(&[("authorization", token.as_str())], &admin_route),
        )
        .await,
    );
    assert_eq!(
        (code, http, reason.as_str()),
        (Code::PermissionDenied, 403, "PERMISSION_DENIED")
    );
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    tessera::admin::change_role(&server.config.store, &address, "admin", RoleEdit::Grant)
        .await
        .unwrap();
    let admin = server.refresh(&pair.refresh_token).await.unwrap();
    let admin_token = bearer(&admin.access_token);
    let answer = check(
        &server,
        request(&[("authorization", admin_token.as_str())], &admin_route),
    )
    .await;
    assert_eq!(allowed(&answer)["x-auth-roles"], "user,admin");

    // Revoked: a logout is refused on the next Check.
    server.logout(&admin.refresh_token, false).await.unwrap();
    let (code, http, reason, _) = denied(
        &check(
            &server,
            request(&[("authorization", admin_token.as_str())], &[]),
        )
        .await,
    );
    assert_eq!(
        (code, http, reason.as_str()),
        (Code::Unauthenticated, 401, "TOKEN_REVOKED")
    );

    // Expired.
    let (_, other) = server.login_as(&email("ext-authz-expiry")).await;
    server
        .clock
        .advance(server.config.access_ttl + server.config.verify_leeway + Duration::from_secs(1));
    let (code, http, reason, _) = denied(
        &check(
            &server,
            request(&[("authorization", &bearer(&other.access_token))], &[]),
        )
        .await,
    );
    assert_eq!(
        (code, http, reason.as_str()),
        (Code::Unauthenticated, 401, "TOKEN_EXPIRED")
    );
}

#[tokio::test]
async fn check_is_listed_by_reflection_and_health() {
    let server = harness::spawn(Backend::Sqlite).await;
    let status = harness::health_of_service(
        server.channel().await,
        "envoy.service.auth.v3.Authorization",
    )
    .await;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}
