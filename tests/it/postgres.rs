//! The claims that depend on the database, run end to end on PostgreSQL. Skipped (and
//! said so) when `TESSERA_TEST_DATABASE_URL` is not set; `.ci/run` sets it.

use tonic::Code;

use crate::harness::{self, PASSWORD, assert_error, email};

#[tokio::test]
async fn on_postgres_twenty_concurrent_registrations_of_one_email_give_exactly_one_ok() {
    if let Some(server) = harness::spawn_postgres("postgres registration race", |_| {}).await {
        crate::register::registration_race(&server).await;
    }
}

#[tokio::test]
async fn on_postgres_ten_concurrent_refreshes_give_exactly_one_ok_and_reuse_revokes() {
    if let Some(server) = harness::spawn_postgres("postgres refresh race", |_| {}).await {
        crate::refresh::refresh_race(&server).await;
    }
}

#[tokio::test]
async fn on_postgres_logout_revokes_only_that_session() {
    let Some(server) = harness::spawn_postgres("postgres logout", |_| {}).await else {
        return;
    };
    let email = email("pgout");
    let (_, live) = server.login_as(&email).await;
    let gone = server.new_session(&email).await;
    server.logout(&gone.refresh_token, false).await.unwrap();
    assert_error(
        server.verify(&gone.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert!(server.verify(&live.access_token).await.is_ok());
    assert!(server.refresh(&live.refresh_token).await.is_ok());
}

/// A TCP relay to the PostgreSQL server that the test can cut and restore, so the
/// database "goes away" the way a network failure makes it.
struct Relay {
    port: u16,
    upstream: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: String, port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = upstream.clone();
        let accept = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                links.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay {
            port,
            upstream,
            tasks: vec![accept],
        }
    }

    /// Closes the listener and every relayed connection (the JoinSet drops with them).
    fn cut(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

/// `url` with its host:port replaced by `127.0.0.1:port`.
fn via(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let userinfo = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    format!("{scheme}://{userinfo}127.0.0.1:{port}/{path}")
}

/// host:port of `url`.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

#[tokio::test]
async fn on_postgres_a_lost_database_answers_unavailable_and_service_resumes_when_it_is_back() {
    let Some(url) = crate::pg::server_url("postgres outage") else {
        return;
    };
    let database = crate::pg::TestDatabase::create(&url).await;
    let mut relay = Relay::start(authority(&database.url), 0).await;
    let through_relay = via(&database.url, relay.port);
    let server = harness::spawn_with(|c| {
        c.database_url = through_relay.parse().unwrap();
        c.db_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let email = email("outage");
    let (_, pair) = server.login_as(&email).await;

    relay.cut();
    let status = assert_error(
        server.login(&email, PASSWORD).await,
        Code::Unavailable,
        "UNAVAILABLE",
    );
    assert!(tonic_types::StatusExt::get_details_retry_info(&status).is_some());
    // Verify never touches the database: it keeps answering through the outage.
    assert!(server.verify(&pair.access_token).await.is_ok());

    let _relay = Relay::start(relay.upstream.clone(), relay.port).await;
    assert!(
        server.login(&email, PASSWORD).await.is_ok(),
        "service resumes by itself"
    );
    drop(server);
    drop(database);
}
