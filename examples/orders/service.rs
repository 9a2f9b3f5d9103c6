//! The orders service: one RPC for any signed-in user, one for admins only. It
//! never calls tessera per request: the [`Verifier`] guarding it checks tokens
//! in-process. Used by `main.rs` and by tessera's integration tests.

use std::future::Future;

use tessera::verifier::{Mode, Verifier, claims, require_role};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tower_layer::Layer;

/// The generated types of `orders.proto`.
pub mod pb {
    #![allow(clippy::all)]
    tonic::include_proto!("tessera.examples.orders.v1");

    /// For gRPC reflection, so grpcurl needs no proto file.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("orders_descriptor");
}

use pb::orders_server::{Orders, OrdersServer};
use pb::{ListAllOrdersRequest, ListMyOrdersRequest, ListOrdersResponse, Order};

/// The role `ListAllOrders` needs.
pub const ADMIN_ROLE: &str = "admin";

/// A service with one made-up order per caller.
pub struct OrdersService;

fn order_of(owner_id: &str) -> Order {
    Order {
        id: format!("order-of-{owner_id}"),
        owner_id: owner_id.to_owned(),
        item: "a teapot".into(),
    }
}

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn list_my_orders(
        &self,
        request: Request<ListMyOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        // The guard put the verified claims here; no token, no call.
        let caller = claims(&request)?;
        Ok(Response::new(ListOrdersResponse {
            caller_id: caller.sub.clone(),
            caller_email: caller.email.clone(),
            orders: vec![order_of(&caller.sub)],
        }))
    }

    async fn list_all_orders(
        &self,
        request: Request<ListAllOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let caller = require_role(&request, ADMIN_ROLE)?;
        Ok(Response::new(ListOrdersResponse {
            caller_id: caller.sub.clone(),
            caller_email: caller.email.clone(),
            orders: vec![order_of(&caller.sub), order_of("someone-else")],
        }))
    }
}

/// Serves the orders service, guarded by `verifier`, and reflection (unguarded)
/// on `listener` until `shutdown` resolves. Local and live mode guard with the
/// interceptor; remote mode, which must call tessera, with the tower layer.
pub async fn serve(
    listener: TcpListener,
    verifier: Verifier,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Both reflection versions: older grpcurl releases speak only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let mut builder = tonic::transport::Server::builder();
    let router = if verifier.config().mode == Mode::Remote {
        builder.add_service(verifier.layer().layer(OrdersServer::new(OrdersService)))
    } else {
        builder.add_service(OrdersServer::with_interceptor(
            OrdersService,
            verifier.interceptor(),
        ))
    };
    router
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}
