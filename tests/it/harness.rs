//! Starts tessera for a test and offers typed helpers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tessera::clock::Clock;
use tessera::config::{Config, MasterKeySource};
use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::{
    Claims, GetJwksRequest, Jwk, LoginRequest, LoginResponse, LogoutRequest, RefreshRequest,
    RegisterRequest, TokenPair, User, VerifyRequest,
};
use tessera::server::{self, ServeError};
use tessera::token::seal::MasterKey;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

pub type Client = AuthServiceClient<Channel>;

pub const PASSWORD: &str = "correct horse battery";

/// The database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's data folder.
    Sqlite,
    /// A fresh PostgreSQL database on the `TESSERA_TEST_DATABASE_URL` server.
    Postgres,
}

/// For each `async fn name(backend: Backend)` named, a module `name` holding the
/// tests `sqlite` and `postgres`, so every scenario runs on both backends. The
/// PostgreSQL one says it was skipped when `TESSERA_TEST_DATABASE_URL` is not set.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::harness::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if $crate::pg::server_url(module_path!()).is_some() {
                        super::$name($crate::harness::Backend::Postgres).await;
                    }
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// A running server. Dropping it stops the server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The HTTP endpoints' address, when the test asked for them.
    pub http_addr: Option<SocketAddr>,
    pub client: Client,
    pub data_dir: TempDir,
    pub config: Config,
    /// The clock the server reads: the system clock, or a stepped one
    /// ([`spawn_stepped`]) that the test moves.
    pub clock: Clock,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServeError>>>,
    /// The PostgreSQL database the server uses, dropped after the last server on it.
    database: Option<Arc<crate::pg::TestDatabase>>,
}

/// The file in the data folder holding the test's own signing key.
const TEST_KEY_FILE: &str = "test-signing-key.pem";

/// The test defaults: port 0, bcrypt cost 4, a fresh data folder, and a signing key
/// the test made (so it can forge tokens with it), kept across restarts.
pub fn config(data_dir: &TempDir) -> Config {
    let mut config = Config::with_data_dir(data_dir.path());
    let key = data_dir.path().join(TEST_KEY_FILE);
    if !key.exists() {
        let (_, pem) = tessera::token::keys::SigningKey::generate().unwrap();
        std::fs::write(&key, pem).unwrap();
    }
    config.signing_key = Some(key);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 4 };
    config.shutdown_grace = Duration::from_secs(2);
    // Tests register many users from one address; the tests of the budget lower it.
    config.registrations_per_address_per_minute = 1_000_000;
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

pub async fn spawn(backend: Backend) -> TestServer {
    spawn_with(backend, |_| {}).await
}

/// Starts a server on `backend` with the test defaults changed by `tweak`.
pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
    spawn_on(backend, tweak, Clock::system()).await
}

/// Starts a server whose clock stands still until the test moves it
/// (`server.clock.advance(…)`): expiry without waiting for it.
pub async fn spawn_stepped(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
    spawn_on(backend, tweak, Clock::stepped(tessera::clock::unix_now())).await
}

async fn spawn_on(backend: Backend, tweak: impl FnOnce(&mut Config), clock: Clock) -> TestServer {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = config(&data_dir);
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let server = std::env::var("TESSERA_TEST_DATABASE_URL")
                .expect("TESSERA_TEST_DATABASE_URL names a PostgreSQL server");
            let database = crate::pg::TestDatabase::create(&server).await;
            config.store.database_url = database.url.parse().unwrap();
            // As in production: instances share a master key, never a generated file.
            config.store.master_key = MasterKeySource::Given(MasterKey::generate().0);
            Some(Arc::new(database))
        }
    };
    tweak(&mut config);
    start(config, data_dir, database, clock).await
}

async fn start(
    config: Config,
    data_dir: TempDir,
    database: Option<Arc<crate::pg::TestDatabase>>,
    clock: Clock,
) -> TestServer {
    init_logs();
    let server = server::prepare(config.clone(), clock.clone())
        .await
        .expect("server starts");
    let addr = server.local_addr().unwrap();
    let http_addr = server.http_addr();
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
        http_addr,
        client,
        data_dir,
        config,
        clock,
        shutdown: Some(tx),
        handle: Some(handle),
        database,
    }
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

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Stops the server and hands back its settings and data folder, to start
    /// another server on them (or fail to).
    pub async fn stop_keeping_data(mut self) -> (Config, TempDir) {
        self.halt().await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = std::mem::replace(&mut self.data_dir, dir);
        (self.config.clone(), data_dir)
    }

    async fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }

    /// Stops the server and starts it again on the same data folder, database,
    /// settings and address, so clients connected to it reconnect by themselves.
    pub async fn restart(self) -> TestServer {
        self.restart_after(|| async {}).await
    }

    /// As [`TestServer::restart`], running `between` while the server is down.
    pub async fn restart_after<F, Fut>(mut self, between: F) -> TestServer
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.halt().await;
        between().await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = std::mem::replace(&mut self.data_dir, dir);
        let mut config = self.config.clone();
        config.listen = self.addr;
        let mut restarted =
            start(config, data_dir, self.database.clone(), self.clock.clone()).await;
        restarted.config.listen = self.config.listen;
        restarted
    }

    /// A second instance on the same database and master key, with its own data
    /// folder: what a load balancer would put beside this one.
    pub async fn peer(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = self.config.clone();
        config.signing_key = None;
        tweak(&mut config);
        start(config, data_dir, self.database.clone(), self.clock.clone()).await
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

    /// Logs in from the loopback address `ip` (such as 127.0.0.2): another client
    /// address, as the server's throttle sees it.
    pub async fn login_from(
        &self,
        ip: &str,
        email: &str,
        password: &str,
    ) -> Result<LoginResponse, Status> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .local_address(Some(ip.parse().unwrap()))
            .connect()
            .await
            .unwrap();
        AuthServiceClient::new(channel)
            .login(LoginRequest {
                email: email.into(),
                password: password.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// How many failed-login windows the database holds.
    pub async fn attempt_rows(&self) -> i64 {
        count(&self.config, "SELECT COUNT(*) FROM login_attempts").await
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

    /// A WatchRevocations stream past its (empty) first snapshot.
    pub async fn watch_from_nothing(&self) -> tonic::Streaming<tessera::proto::RevocationEvent> {
        let mut stream = self
            .client()
            .watch_revocations(tessera::proto::WatchRevocationsRequest {})
            .await
            .unwrap()
            .into_inner();
        let snapshot = stream.message().await.unwrap().unwrap();
        assert!(snapshot.sessions.is_empty());
        stream
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

    /// The PEM of the key the server started with.
    pub fn signing_key_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.path().join(TEST_KEY_FILE)).unwrap()
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

/// The session ids of the next event on a WatchRevocations stream (within 5 s).
pub async fn next_revoked(
    stream: &mut tonic::Streaming<tessera::proto::RevocationEvent>,
) -> Vec<String> {
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    event.sessions.into_iter().map(|s| s.session_id).collect()
}

/// Asserts that Verify refuses `access_token` as revoked.
pub async fn assert_revoked(server: &TestServer, access_token: &str) {
    assert_error(
        server.verify(access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

/// The session id (`sid`) an access token carries, read without verifying it.
pub fn session_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<tessera::token::AccessClaims>(&bytes)
        .unwrap()
        .sid
}

/// How many migrations the backend's folder holds (`migrations/<backend>`).
pub fn migrations(backend: &str) -> usize {
    std::fs::read_dir(format!("migrations/{backend}"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count()
}

/// A unique email for a test.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", tessera::domain::UserId::random())
}

/// Polls `check` every 20 ms until it holds or `within` has passed.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A connection to the database of `config`, behind tessera's back.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn open(config: &Config) -> Db {
        let url = config.store.database_url.expose();
        match config.store.database_url.kind() {
            tessera::config::DatabaseKind::Sqlite => {
                Db::Sqlite(sqlx::SqlitePool::connect(url).await.unwrap())
            }
            tessera::config::DatabaseKind::Postgres => {
                Db::Postgres(sqlx::PgPool::connect(url).await.unwrap())
            }
        }
    }

    async fn close(self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// The number `query` (one `COUNT(*)`) answers on the database of `config`.
pub async fn count(config: &Config, query: &'static str) -> i64 {
    let db = Db::open(config).await;
    let n = match &db {
        Db::Sqlite(pool) => sqlx::query_scalar(query).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(query).fetch_one(pool).await,
    };
    db.close().await;
    n.unwrap()
}

/// The one text value `query` selects, on the database of `config`.
pub async fn text(config: &Config, query: &str) -> String {
    let db = Db::open(config).await;
    let sql = sqlx::AssertSqlSafe(query.to_owned());
    let value = match &db {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    };
    db.close().await;
    value.unwrap()
}

/// Runs `statements` on the database of `config`, behind tessera's back.
pub async fn execute(config: &Config, statements: &[String]) {
    let db = Db::open(config).await;
    for s in statements {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()));
        match &db {
            Db::Sqlite(pool) => sql.execute(pool).await.map(|_| ()),
            Db::Postgres(pool) => sql.execute(pool).await.map(|_| ()),
        }
        .unwrap();
    }
    db.close().await;
}

/// The health status of the whole server (service `""`), on `channel`.
pub async fn health_of(channel: Channel) -> ServingStatus {
    health_of_service(channel, "").await
}

/// The health of one service (`""`: the server as a whole).
pub async fn health_of_service(channel: Channel, service: &str) -> ServingStatus {
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    ServingStatus::try_from(answer.status).unwrap()
}
