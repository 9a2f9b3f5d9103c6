//! What only PostgreSQL has: several instances on one database, and a database that
//! can go away. Skipped (and said so) when `TESSERA_TEST_DATABASE_URL` is not set;
//! `.ci/run` sets it. (Every other scenario runs on both backends in its own module.)

use std::time::{Duration, Instant};

use tessera::config::Config;
use tessera::proto::RegisterRequest;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, eventually};

/// Two instances on one fresh database. Their periodic sync is an hour apart, so
/// what crosses between them within a test crossed by LISTEN/NOTIFY.
async fn pair(test: &str, tweak: impl Fn(&mut Config) + Clone) -> Option<(TestServer, TestServer)> {
    crate::pg::server_url(test)?;
    let slow_sync = move |c: &mut Config| {
        c.sync_interval = Duration::from_secs(3600);
        tweak(c);
    };
    let a = harness::spawn_with(Backend::Postgres, slow_sync.clone()).await;
    let b = a.peer(slow_sync).await;
    Some((a, b))
}

#[tokio::test]
async fn twenty_registrations_of_one_email_spread_over_two_instances_give_exactly_one_ok() {
    let Some((a, b)) = pair("cluster registration race", |_| {}).await else {
        return;
    };
    let email = email("cluster-race");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut client = if i % 2 == 0 { a.client() } else { b.client() };
            let email = email.clone();
            tokio::spawn(async move {
                client
                    .register(RegisterRequest {
                        email,
                        password: PASSWORD.into(),
                    })
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_error(Err::<(), _>(status), Code::AlreadyExists, "EMAIL_TAKEN");
            }
        };
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn one_refresh_token_refreshed_on_two_instances_at_once_gives_at_most_one_ok() {
    let Some((a, b)) = pair("cluster refresh race", |_| {}).await else {
        return;
    };
    let (_, pair) = a.login_as(&email("cluster-refresh")).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let mut client = if i % 2 == 0 { a.client() } else { b.client() };
            let token = pair.refresh_token.clone();
            tokio::spawn(async move {
                client
                    .refresh(tessera::proto::RefreshRequest {
                        refresh_token: token,
                    })
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert!(ok <= 1, "{ok} refreshes of one token succeeded");
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_the_other_within_a_second() {
    let Some((a, b)) = pair("cluster logout", |_| {}).await else {
        return;
    };
    let email = email("cluster-logout");
    let (_, gone) = a.login_as(&email).await;
    let live = a.new_session(&email).await;
    assert!(b.verify(&gone.access_token).await.is_ok());

    a.logout(&gone.refresh_token, false).await.unwrap();
    let refused = eventually(Duration::from_secs(1), || async {
        b.verify(&gone.access_token).await.is_err()
    })
    .await;
    assert!(refused, "B still accepts the logged-out token after 1 s");
    assert_error(
        b.verify(&gone.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    assert!(b.verify(&live.access_token).await.is_ok());
}

#[tokio::test]
async fn a_reuse_revocation_on_one_instance_reaches_the_other() {
    let Some((a, b)) = pair("cluster reuse", |_| {}).await else {
        return;
    };
    let (_, first) = a.login_as(&email("cluster-reuse")).await;
    let second = a.refresh(&first.refresh_token).await.unwrap();
    assert!(b.verify(&second.access_token).await.is_ok());
    // The spent token comes back: the session is revoked on A...
    assert!(a.refresh(&first.refresh_token).await.is_err());
    // ...and B learns it without asking the database.
    let refused = eventually(Duration::from_secs(1), || async {
        b.verify(&second.access_token).await.is_err()
    })
    .await;
    assert!(
        refused,
        "B still accepts the reused session's token after 1 s"
    );
}

#[tokio::test]
async fn a_revocation_whose_announcement_was_missed_heals_at_the_next_sync() {
    if crate::pg::server_url("missed announcement").is_none() {
        return;
    }
    let server = harness::spawn_with(Backend::Postgres, |c| {
        c.sync_interval = Duration::from_millis(500)
    })
    .await;
    let (_, pair) = server.login_as(&email("missed")).await;
    let claims = server.verify(&pair.access_token).await.unwrap();
    // Revoke as an instance would, numbered (migration 0007), but with no
    // announcement: an instance that died between commit and NOTIFY.
    let db = sqlx::PgPool::connect(server.config.store.database_url.expose())
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    let seq: i64 = sqlx::query_scalar("UPDATE revocation_counter SET seq = seq + 1 RETURNING seq")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout', revoked_seq = $2
         WHERE id = $3",
    )
    // A clock two minutes behind (beyond the old re-read's one-minute overlap): the
    // read follows numbers, not times.
    .bind(tessera::clock::unix_now() - 120)
    .bind(seq)
    .bind(&claims.session_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    db.close().await;
    let refused = eventually(Duration::from_secs(3), || async {
        server.verify(&pair.access_token).await.is_err()
    })
    .await;
    assert!(refused, "the periodic sync did not pick the revocation up");
}

#[tokio::test]
async fn the_failed_login_budget_spent_on_one_instance_throttles_on_the_other() {
    let Some((a, b)) = pair("cluster budget", |c| c.login_attempts_per_minute = 3).await else {
        return;
    };
    let email = email("cluster-budget");
    a.register(&email).await;
    for _ in 0..3 {
        assert_error(
            a.login(&email, "wrong password!").await,
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        b.login(&email, PASSWORD).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
}

#[tokio::test]
async fn a_key_rotated_on_one_instance_is_published_and_used_by_the_other() {
    let Some((a, b)) = pair("cluster rotation", |_| {}).await else {
        return;
    };
    let email = email("cluster-rotation");
    let (_, before) = a.login_as(&email).await;
    let old_kid = b.jwks().await[0].kid.clone();

    // Staged: published by both at once, signing by neither yet.
    let tokens = a.config.tokens();
    let (staged, _) =
        tessera::admin::rotate_key(&a.config.store, tokens, Duration::from_secs(3600))
            .await
            .unwrap();
    let published = eventually(Duration::from_secs(1), || async {
        b.jwks().await.iter().any(|k| k.kid == staged)
    })
    .await;
    assert!(published, "B does not publish the staged key after 1 s");
    let token = b.new_session(&email).await.access_token;
    assert_eq!(kid(&token), old_kid, "a staged key does not sign yet");

    // Rotated now: B signs with the new key, and old tokens still verify on both.
    let (now_kid, _) = tessera::admin::rotate_key(&a.config.store, tokens, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(1), || async {
            b.jwks().await.iter().any(|k| k.kid == now_kid)
        })
        .await,
        "B does not publish the rotated key after 1 s"
    );
    // It signs from its activation second (the next one if the first key activated
    // in the same second).
    let signing = eventually(Duration::from_secs(3), || async {
        kid(&b.new_session(&email).await.access_token) == now_kid
    })
    .await;
    assert!(signing, "B does not sign with the rotated key");
    let fresh = b.new_session(&email).await;
    assert!(a.verify(&fresh.access_token).await.is_ok());
    assert!(b.verify(&before.access_token).await.is_ok());
    let kids: Vec<_> = b.jwks().await.into_iter().map(|k| k.kid).collect();
    assert!(kids.contains(&old_kid) && kids.contains(&staged) && kids.contains(&now_kid));
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn two_instances_starting_at_once_on_an_empty_database_both_come_up_and_agree() {
    let Some(url) = crate::pg::server_url("concurrent start") else {
        return;
    };
    let database = crate::pg::TestDatabase::create(&url).await;
    let master = tessera::token::seal::MasterKey::generate().0;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let configs: Vec<Config> = dirs
        .iter()
        .map(|dir| {
            let mut c = Config::with_data_dir(dir.path());
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 4 };
            c.store.database_url = database.url.parse().unwrap();
            c.store.master_key = tessera::config::MasterKeySource::Given(master.clone());
            c
        })
        .collect();
    let (a, b) = tokio::join!(
        tessera::server::prepare(configs[0].clone(), tessera::clock::Clock::system()),
        tessera::server::prepare(configs[1].clone(), tessera::clock::Clock::system())
    );
    let (a, b) = (a.expect("A starts"), b.expect("B starts"));
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for server in [a, b] {
        let mut stopped = stopped.clone();
        tokio::spawn(server.run(async move {
            let _ = stopped.changed().await;
        }));
    }
    let connect = |addr| async move {
        tessera::proto::auth_service_client::AuthServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
    };
    let (mut ca, mut cb) = (connect(addr_a).await, connect(addr_b).await);
    let email = email("both-start");
    ca.register(RegisterRequest {
        email: email.clone(),
        password: PASSWORD.into(),
    })
    .await
    .unwrap();
    let login = cb
        .login(tessera::proto::LoginRequest {
            email,
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let token = login.tokens.unwrap().access_token;
    // Each may have generated a first key; both publish both, so A verifies B's token.
    let verified = eventually(Duration::from_secs(1), || {
        let mut ca = ca.clone();
        let token = token.clone();
        async move {
            ca.verify(tessera::proto::VerifyRequest {
                access_token: token,
            })
            .await
            .is_ok()
        }
    })
    .await;
    assert!(verified);
    let _ = stop.send(true);
}

#[tokio::test]
async fn without_auto_migrate_an_unmigrated_database_is_refused_until_migrate_ran() {
    let Some(url) = crate::pg::server_url("auto migrate off") else {
        return;
    };
    let database = crate::pg::TestDatabase::create(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&dir);
    config.store.database_url = database.url.parse().unwrap();
    config.store.master_key =
        tessera::config::MasterKeySource::Given(tessera::token::seal::MasterKey::generate().0);
    config.auto_migrate = false;
    let Err(tessera::server::ServeError::Config(e)) =
        tessera::server::prepare(config.clone(), tessera::clock::Clock::system()).await
    else {
        panic!("an unmigrated database must be refused");
    };
    assert_eq!(e.var, "TESSERA_AUTO_MIGRATE");
    assert_eq!(
        tessera::admin::migrate(&config.store).await.unwrap(),
        crate::harness::migrations("postgres")
    );
    assert_eq!(tessera::admin::migrate(&config.store).await.unwrap(), 0);
    assert!(
        tessera::server::prepare(config, tessera::clock::Clock::system())
            .await
            .is_ok()
    );
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
    let mut relay = Relay::start(authority(&url), 0).await;
    let port = relay.port;
    let timeout = Duration::from_secs(1);
    let server = harness::spawn_with(Backend::Postgres, |c| {
        let through_relay = via(c.store.database_url.expose(), port);
        c.store.database_url = through_relay.parse().unwrap();
        c.store.db_timeout = timeout;
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let http = server.http_addr.unwrap();
    let ready = || async move { crate::http_client::get(http, "/readyz", &[]).await.status };
    assert_eq!(ready().await, http::StatusCode::OK);
    let email = email("outage");
    let (_, pair) = server.login_as(&email).await;
    let channel = server.channel().await;

    relay.cut();
    let started = Instant::now();
    let status = assert_error(
        server.login(&email, PASSWORD).await,
        Code::Unavailable,
        "UNAVAILABLE",
    );
    assert!(
        started.elapsed() < timeout * 4,
        "answered after {:?}, past the {timeout:?} timeout",
        started.elapsed()
    );
    assert!(tonic_types::StatusExt::get_details_retry_info(&status).is_some());
    // Verify never touches the database: it keeps answering through the outage.
    assert!(server.verify(&pair.access_token).await.is_ok());
    let status_is = |want: ServingStatus| {
        let channel = channel.clone();
        async move { harness::health_of(channel).await == want }
    };
    assert!(
        eventually(Duration::from_secs(5), || status_is(
            ServingStatus::NotServing
        ))
        .await,
        "health turns NOT_SERVING while the database is down"
    );
    assert_eq!(
        ready().await,
        http::StatusCode::SERVICE_UNAVAILABLE,
        "/readyz follows the health service"
    );
    let live = crate::http_client::get(http, "/healthz", &[]).await;
    assert_eq!(live.status, http::StatusCode::OK, "the process is alive");

    let _relay = Relay::start(relay.upstream.clone(), relay.port).await;
    assert!(
        eventually(Duration::from_secs(5), || status_is(ServingStatus::Serving)).await,
        "health turns SERVING again"
    );
    assert_eq!(ready().await, http::StatusCode::OK);
    assert!(
        server.login(&email, PASSWORD).await.is_ok(),
        "service resumes by itself"
    );
}
