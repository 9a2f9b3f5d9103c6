//! A counting relay: a real gRPC server that forwards every AuthService call to a
//! real tessera and counts the GetJwks calls it forwards, so a test can tell what
//! verifiers cost tessera without tessera counting anything for tests.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::auth_service_server::{AuthService, AuthServiceServer};
use tessera::proto::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// A running relay; dropping it stops it.
pub struct Relay {
    pub addr: SocketAddr,
    get_jwks: Arc<AtomicU64>,
    _stop: oneshot::Sender<()>,
}

impl Relay {
    /// Starts a relay on 127.0.0.1:0 in front of tessera at `tessera`.
    pub async fn start(tessera: SocketAddr) -> Relay {
        let channel = Channel::from_shared(format!("http://{tessera}"))
            .unwrap()
            .connect_lazy();
        let get_jwks = Arc::new(AtomicU64::new(0));
        let forward = Forward {
            client: AuthServiceClient::new(channel),
            get_jwks: get_jwks.clone(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(AuthServiceServer::new(forward))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                }),
        );
        Relay {
            addr,
            get_jwks,
            _stop: stop,
        }
    }

    /// How many GetJwks calls went through.
    pub fn get_jwks(&self) -> u64 {
        self.get_jwks.load(Ordering::SeqCst)
    }
}

struct Forward {
    client: AuthServiceClient<Channel>,
    get_jwks: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl AuthService for Forward {
    type WatchRevocationsStream =
        Pin<Box<dyn Stream<Item = Result<EncodedEvent, Status>> + Send + 'static>>;

    async fn register(
        &self,
        r: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        self.client.clone().register(r.into_inner()).await
    }

    async fn login(&self, r: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        self.client.clone().login(r.into_inner()).await
    }

    async fn refresh(
        &self,
        r: Request<RefreshRequest>,
    ) -> Result<Response<RefreshResponse>, Status> {
        self.client.clone().refresh(r.into_inner()).await
    }

    async fn logout(&self, r: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        self.client.clone().logout(r.into_inner()).await
    }

    async fn verify(&self, r: Request<VerifyRequest>) -> Result<Response<VerifyResponse>, Status> {
        self.client.clone().verify(r.into_inner()).await
    }

    async fn get_jwks(
        &self,
        r: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        self.get_jwks.fetch_add(1, Ordering::SeqCst);
        self.client.clone().get_jwks(r.into_inner()).await
    }

    async fn change_password(
        &self,
        r: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        self.client.clone().change_password(r.into_inner()).await
    }

    async fn reset_password(
        &self,
        r: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        self.client.clone().reset_password(r.into_inner()).await
    }

    async fn verify_email(
        &self,
        r: Request<VerifyEmailRequest>,
    ) -> Result<Response<VerifyEmailResponse>, Status> {
        self.client.clone().verify_email(r.into_inner()).await
    }

    async fn delete_account(
        &self,
        r: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteAccountResponse>, Status> {
        self.client.clone().delete_account(r.into_inner()).await
    }

    async fn watch_revocations(
        &self,
        r: Request<WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let upstream = self
            .client
            .clone()
            .watch_revocations(r.into_inner())
            .await?
            .into_inner();
        let relayed = upstream.map(|event| event.map(|e| EncodedEvent::new(&e)));
        Ok(Response::new(Box::pin(relayed)))
    }
}
