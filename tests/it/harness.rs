//! Starts tessera for a test and offers typed helpers.

use std::net::SocketAddr;
use std::time::Duration;

use tempfile::TempDir;
use tessera::config::Config;
use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::{
    Claims, GetJwksRequest, Jwk, LoginRequest, LoginResponse, LogoutRequest, RefreshRequest,
    RegisterRequest, TokenPair, User, VerifyRequest,
};
use tessera::server::{self, ServeError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub type Client = AuthServiceClient<Channel>;

pub const PASSWORD: &str = "correct horse battery";

/// A running server. Dropping it stops the server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client,
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServeError>>>,
    /// The PostgreSQL database the server uses, dropped after it.
    database: Option<crate::pg::TestDatabase>,
}

/// The test defaults: port 0, bcrypt cost 4, a fresh data folder.
pub fn config(data_dir: &TempDir) -> Config {
    let mut config = Config::with_data_dir(data_dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.bcrypt_cost = 4;
    config.shutdown_grace = Duration::from_secs(2);
    config
}

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_test_writer()
            .try_init();
    }
}

pub async fn spawn() -> TestServer {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let data_dir = tempfile::tempdir().unwrap();
    spawn_in(data_dir, tweak).await
}

/// Starts a server on an existing data folder (to test restarts).
pub async fn spawn_in(data_dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
    init_logs();
    let mut config = config(&data_dir);
    tweak(&mut config);
    let server = server::prepare(config).await.expect("server starts");
    let addr = server.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    // The listener is bound already: connecting succeeds at once, no waiting needed.
    let client = AuthServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    TestServer {
        addr,
        client,
        data_dir,
        shutdown: Some(tx),
        handle: Some(handle),
        database: None,
    }
}

/// Starts a server on a fresh PostgreSQL database, or `None` (test skipped) when
/// `TESSERA_TEST_DATABASE_URL` is not set.
pub async fn spawn_postgres(test: &str, tweak: impl FnOnce(&mut Config)) -> Option<TestServer> {
    let url = crate::pg::server_url(test)?;
    let database = crate::pg::TestDatabase::create(&url).await;
    let db_url = database.url.clone();
    let mut server = spawn_with(move |c| {
        c.database_url = db_url.parse().unwrap();
        tweak(c);
    })
    .await;
    server.database = Some(database);
    Some(server)
}

impl TestServer {
    /// A new connection to the server, for the health and reflection clients.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Stops the server and waits for it; returns the data folder for a restart.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    pub async fn register(&self, email: &str) -> User {
        self.client()
            .register(RegisterRequest {
                email: email.into(),
                password: PASSWORD.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<LoginResponse, Status> {
        self.client()
            .login(LoginRequest {
                email: email.into(),
                password: password.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Registers `email` and logs in; returns the user and its tokens.
    pub async fn login_as(&self, email: &str) -> (User, TokenPair) {
        self.register(email).await;
        let res = self.login(email, PASSWORD).await.unwrap();
        (res.user.unwrap(), res.tokens.unwrap())
    }

    /// Logs an already registered user in once more: a second session.
    pub async fn new_session(&self, email: &str) -> TokenPair {
        self.login(email, PASSWORD).await.unwrap().tokens.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, Status> {
        self.client()
            .refresh(RefreshRequest {
                refresh_token: refresh_token.into(),
            })
            .await
            .map(|r| r.into_inner().tokens.unwrap())
    }

    pub async fn logout(&self, refresh_token: &str, all_sessions: bool) -> Result<(), Status> {
        self.client()
            .logout(LogoutRequest {
                refresh_token: refresh_token.into(),
                all_sessions,
            })
            .await
            .map(|_| ())
    }

    pub async fn verify(&self, access_token: &str) -> Result<Claims, Status> {
        self.client()
            .verify(VerifyRequest {
                access_token: access_token.into(),
            })
            .await
            .map(|r| r.into_inner().claims.unwrap())
    }

    pub async fn jwks(&self) -> Vec<Jwk> {
        self.client()
            .get_jwks(GetJwksRequest {})
            .await
            .unwrap()
            .into_inner()
            .keys
    }

    /// The PEM of the server's generated signing key.
    pub fn signing_key_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.path().join("signing-key.pem")).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the status code and the ErrorInfo reason and domain of a failed call.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "status: {status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "status: {status:?}");
    assert_eq!(info.domain, "tessera.auth");
    status
}

/// The field named by the BadRequest detail of a status.
pub fn bad_request_field(status: &Status) -> String {
    let bad = status
        .get_details_bad_request()
        .expect("a BadRequest detail");
    bad.field_violations[0].field.clone()
}

/// A unique email for a test.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", tessera::domain::UserId::random())
}
