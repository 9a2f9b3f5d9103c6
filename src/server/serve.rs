//! Serving: health, reflection, AuthService and AdminService on the bound listener, the background
//! tasks beside them, and the graceful drain when the shutdown future resolves.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use super::startup::Wired;
use super::{ServeError, health, purge, sync};
use super::{conn, http, tls};
use crate::config::ConfigError;
use crate::grpc::{AdminGrpc, AdminGuard, AuthGrpc, ExtAuthz, Methods};
use crate::http::{Metrics, Readiness};
use crate::proto::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use crate::proto::{
    self, admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer,
};
use crate::store::Store;

/// The methods served whose protos are not in tessera's descriptor sets.
const UNLISTED_METHODS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Serves until `shutdown` resolves, then drains and closes.
pub(super) async fn run<S: Store>(
    wired: Wired<S>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let Wired {
        auth,
        listener,
        http_listener,
        tls,
        config,
        revocation_cursor,
    } = wired;
    let addr = listener
        .local_addr()
        .map_err(|e| ConfigError::new("TESSERA_LISTEN", format!("cannot listen: {e}")))?;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let serving = Serving {
        reporter,
        readiness: Readiness::default(),
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let (stop_streams, streams_stopping) = watch::channel(false);
    let grpc = AuthGrpc::new(auth.clone(), config.watch_heartbeat, streams_stopping);
    let methods = Arc::new(Methods::new(
        &[
            proto::FILE_DESCRIPTOR_SET,
            proto::envoy::FILE_DESCRIPTOR_SET,
        ],
        &UNLISTED_METHODS,
    ));
    // The RPCs are counted only when /metrics can be read.
    let metrics = http_listener.is_some().then(|| {
        let watching = grpc.watching();
        Arc::new(Metrics::new(
            auth.clone(),
            move || watching.count(),
            methods.clone(),
        ))
    });
    let service = AuthServiceServer::new(grpc).max_decoding_message_size(MAX_REQUEST_BYTES);
    // The admin API: every call passes the guard (a valid token with the admin role)
    // before its handler runs.
    let admin = InterceptedService::new(
        AdminServiceServer::new(AdminGrpc::new(auth.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        AdminGuard::new(auth.clone()),
    );

    let (stop_tasks, tasks_stopped) = watch::channel(false);
    let purge = tokio::spawn(purge::run(
        auth.clone(),
        config.purge_interval,
        tasks_stopped.clone(),
    ));
    let tls_watch = tls
        .clone()
        .map(|tls| tokio::spawn(tls::watch(tls, tasks_stopped.clone())));
    let sync = tokio::spawn(sync::run(
        auth.clone(),
        config.sync_interval,
        revocation_cursor,
        tasks_stopped,
    ));

    serving.set(ServingStatus::Serving).await;
    let (stop_health, health_stopped) = watch::channel(false);
    let health_probe = tokio::spawn(health::run(
        auth.store().clone(),
        serving.clone(),
        health_stopped,
    ));
    let (stop_http, http_stopping) = watch::channel(false);
    let http_served = http_listener
        .zip(metrics.clone())
        .map(|(listener, metrics)| {
            if let Ok(address) = listener.local_addr() {
                info!(address = %address, "HTTP endpoints ready");
            }
            let router = crate::http::router(
                auth.clone(),
                serving.readiness.clone(),
                metrics,
                config.issuer.clone(),
            );
            let mut stopping = http_stopping;
            tokio::spawn(http::serve(
                listener,
                router,
                config.connections,
                async move {
                    let _ = stopping.wait_for(|s| *s).await;
                },
            ))
        });
    info!(
        address = %addr,
        backend = config.store.database_url.kind().as_str(),
        kid = auth.signing_kid(),
        tls = match &config.tls {
            None => "off",
            Some(files) if files.client_ca.is_some() => "mtls",
            Some(_) => "on",
        },
        "ready"
    );

    let signal = {
        let serving = serving.clone();
        async move {
            shutdown.await;
            info!("shutting down");
            stop_http.send_replace(true);
            // Revocation streams never end by themselves: end them so the drain can.
            stop_streams.send_replace(true);
            // The probe stops first, so it cannot report SERVING again.
            let _ = stop_health.send(true);
            let _ = health_probe.await;
            serving.set(ServingStatus::NotServing).await;
        }
    };
    let limits = config.connections;
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .add_service(admin)
        .add_service(
            AuthorizationServer::new(ExtAuthz::new(auth.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        );
    let front = conn::Front {
        routes,
        trusted: Arc::new(config.trusted_proxies.clone()),
        metrics,
        tls,
        // A span per RPC only when they are exported.
        traced: config.otlp_endpoint.is_some().then_some(methods),
    };
    let mut connections = conn::serve(listener, front, limits, signal).await;
    let grace = config.shutdown_grace;
    let mut http_connections = match http_served {
        Some(task) => task.await.unwrap_or_default(),
        None => tokio::task::JoinSet::new(),
    };
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
        while http_connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            grace_secs = grace.as_secs(),
            "in-flight RPCs did not finish in time; closing"
        );
        connections.abort_all();
        http_connections.abort_all();
    }

    let _ = stop_tasks.send(true);
    let _ = purge.await;
    let _ = sync.await;
    if let Some(watch) = tls_watch {
        let _ = watch.await;
    }
    auth.store().close().await;
    info!("stopped");
    Ok(())
}

/// Reflection over tessera's API, health, reflection itself, and the `google.rpc` error
/// details, so grpcurl can list services and decode ErrorInfo with no proto files.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(proto::envoy::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

/// Where the server's status is told: the gRPC health service and `/readyz`.
#[derive(Clone)]
pub(super) struct Serving {
    reporter: HealthReporter,
    readiness: Readiness,
}

impl Serving {
    /// Sets the status of tessera's services and of the server as a whole.
    pub(super) async fn set(&self, status: ServingStatus) {
        let reporter = &self.reporter;
        reporter
            .set_service_status(proto::SERVICE_NAME, status)
            .await;
        reporter
            .set_service_status(proto::ADMIN_SERVICE_NAME, status)
            .await;
        reporter
            .set_service_status(proto::envoy::SERVICE_NAME, status)
            .await;
        reporter.set_service_status("", status).await;
        self.readiness.set(status == ServingStatus::Serving);
    }
}
