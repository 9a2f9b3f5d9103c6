//! Traces over OTLP: the binary, started with `TESSERA_OTLP_ENDPOINT`, exports one
//! span per RPC to a real OTLP/gRPC collector listening in the test, as a child of
//! the caller's `traceparent`, and never with a credential in it.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::{LoginRequest, RegisterRequest};
use tokio::sync::mpsc;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::binary::start_with;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const PASSWORD: &str = "a-password-never-traced";

/// A collector that hands every exported request to the test.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts a collector on 127.0.0.1:0; returns its `http://` address and what it gets.
async fn collector() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (format!("http://{addr}"), rx)
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| text(&kv.value))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits for server spans named `name` until `want` of them came, or 30 s passed.
async fn spans_named(
    rx: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    seen: &mut Vec<(Vec<KeyValue>, Span)>,
    name: &str,
    want: usize,
) -> Vec<Span> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<Span> = seen
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect();
        if found.len() >= want {
            return found;
        }
        let export = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {name} span within 30 s; got {seen:?}"))
            .expect("collector running");
        for resource in export.resource_spans {
            let resource_attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    seen.push((resource_attributes.clone(), span));
                }
            }
        }
    }
}

#[tokio::test]
async fn each_rpc_is_a_span_under_the_callers_traceparent_and_carries_no_secret() {
    let (endpoint, mut exported) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(
        &dir.path().join("data"),
        dir.path(),
        "info",
        &[
            ("TESSERA_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let mut client = AuthServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();

    let email = "traced@example.com";
    client
        .register(RegisterRequest {
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap();
    let mut login = Request::new(LoginRequest {
        email: email.into(),
        password: PASSWORD.into(),
    });
    login.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    let tokens = client
        .login(login)
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    let refused = client
        .login(LoginRequest {
            email: email.into(),
            password: "a-wrong-password".into(),
        })
        .await
        .unwrap_err();

    let mut seen = Vec::new();
    let logins = spans_named(
        &mut exported,
        &mut seen,
        "tessera.auth.v1.AuthService/Login",
        2,
    )
    .await;

    // The traced login continues the caller's trace.
    let traced = logins
        .iter()
        .find(|s| hex(&s.trace_id) == TRACE_ID)
        .unwrap_or_else(|| panic!("no Login span in the caller's trace: {logins:?}"));
    assert_eq!(hex(&traced.parent_span_id), PARENT_ID);
    assert_eq!(traced.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        attribute(&traced.attributes, "rpc.method").as_deref(),
        Some("Login")
    );
    assert_eq!(
        attribute(&traced.attributes, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );

    // The refused one starts its own trace, and names its code and reason without
    // being a server error.
    let other = logins
        .iter()
        .find(|s| hex(&s.trace_id) != TRACE_ID)
        .expect("the refused Login's span");
    assert!(other.parent_span_id.is_empty(), "{other:?}");
    assert_eq!(
        attribute(&other.attributes, "rpc.grpc.status_code"),
        Some((refused.code() as i32).to_string())
    );
    assert_eq!(
        attribute(&other.attributes, "error.type").as_deref(),
        Some("INVALID_CREDENTIALS")
    );
    assert_ne!(other.status.as_ref().map(|s| s.code), Some(2), "not ERROR");

    // The service is named, and nothing exported holds a credential or the email.
    let (resource, _) = &seen[0];
    assert_eq!(
        attribute(resource, "service.name").as_deref(),
        Some("tessera")
    );
    let everything = format!("{seen:?}");
    for secret in [
        PASSWORD,
        "a-wrong-password",
        email,
        tokens.access_token.as_str(),
        tokens.refresh_token.as_str(),
    ] {
        assert!(!everything.contains(secret), "a span holds {secret}");
    }

    let (code, _) = server.terminate().await;
    assert_eq!(code, Some(0));
}
