use tessera::proto::RegisterRequest;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::harness::{self, Backend, assert_error, email, on_both_backends};

async fn health_is_serving_for_the_server_and_for_the_auth_service(backend: Backend) {
    let server = harness::spawn(backend).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "tessera.auth.v1.AuthService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

async fn reflection_lists_the_auth_service(backend: Backend) {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = harness::spawn(backend).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    // Reflection streams requests (grpcurl asks several questions on one call): it is
    // the one method exempt from the one-message rule.
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request.clone(), request]))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        let response = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection answer");
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"tessera.auth.v1.AuthService"), "{names:?}");
        assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
        assert!(
            names.contains(&"envoy.service.auth.v3.Authorization"),
            "{names:?}"
        );
    }
}

async fn a_request_over_64_kib_is_refused(backend: Backend) {
    let server = harness::spawn(backend).await;
    let result = server
        .client()
        .register(RegisterRequest {
            email: email("huge"),
            password: "p".repeat(70 * 1024),
        })
        .await;
    let status = result.unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    assert_ne!(
        status.code(),
        Code::InvalidArgument,
        "refused by size before the handler ran"
    );
}

async fn a_restart_keeps_the_key_the_users_and_the_revocations(backend: Backend) {
    let server = harness::spawn(backend).await;
    let email = email("restart");
    let (_, live) = server.login_as(&email).await;
    let revoked = server.new_session(&email).await;
    server.logout(&revoked.refresh_token, false).await.unwrap();
    let kid_before = server.jwks().await[0].kid.clone();

    let server = server.restart().await;

    let kid_after = server.jwks().await[0].kid.clone();
    assert_eq!(
        kid_before, kid_after,
        "the stored key is reused, not regenerated"
    );
    assert!(server.verify(&live.access_token).await.is_ok());
    assert_error(
        server.verify(&revoked.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert!(server.login(&email, harness::PASSWORD).await.is_ok());
}

async fn shutdown_lets_an_in_flight_rpc_finish(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 11 }
    })
    .await;
    let mut client = server.client();
    let in_flight = tokio::spawn(async move {
        client
            .register(RegisterRequest {
                email: "inflight@example.com".into(),
                password: harness::PASSWORD.into(),
            })
            .await
    });
    // Let the request reach the server and start hashing.
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    server.stop().await;
    assert!(in_flight.await.unwrap().is_ok());
}

on_both_backends!(
    a_restart_keeps_the_key_the_users_and_the_revocations,
    health_is_serving_for_the_server_and_for_the_auth_service,
    reflection_lists_the_auth_service,
    a_request_over_64_kib_is_refused,
    shutdown_lets_an_in_flight_rpc_finish,
);
