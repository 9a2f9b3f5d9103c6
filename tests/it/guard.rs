//! The verifier library, through the example orders service: tessera and the
//! example both run for real, and the example verifies tokens in-process.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tessera::proto::TokenPair;
use tessera::token::AccessClaims;
use tessera::token::keys::SigningKey;
use tessera::verifier::{Mode, Verifier, VerifierConfig, WhenStale};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::harness::{self, Backend, TestServer, assert_error, email, eventually};
use crate::relay::Relay;
use tessera::admin::{RoleChange, RoleEdit};

#[path = "../../examples/orders/service.rs"]
mod service;

use service::pb::orders_client::OrdersClient;
use service::pb::{ListAllOrdersRequest, ListMyOrdersRequest, ListOrdersResponse};

/// The example service, guarded by a verifier pointed at a tessera.
struct Orders {
    client: OrdersClient<Channel>,
    verifier: Verifier,
    _shutdown: oneshot::Sender<()>,
}

/// The verifier settings the tests start from: the defaults, with the key refresh
/// and cooldown shortened where a test needs it.
fn verifier_config() -> VerifierConfig {
    VerifierConfig::new("tessera", "tessera")
}

async fn start_orders(tessera: SocketAddr, config: VerifierConfig) -> Orders {
    let channel = Channel::from_shared(format!("http://{tessera}"))
        .unwrap()
        .connect_lazy();
    let mode = config.mode;
    let verifier = Verifier::new(channel, config);
    assert!(verifier.ready(Duration::from_secs(5)).await, "keys fetched");
    if mode == Mode::Live {
        assert!(
            eventually(Duration::from_secs(5), || async {
                verifier.revocations_live()
            })
            .await,
            "the revocation stream connects"
        );
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(service::serve(listener, verifier.clone(), async {
        let _ = rx.await;
    }));
    let client = OrdersClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    Orders {
        client,
        verifier,
        _shutdown: tx,
    }
}

impl Orders {
    async fn mine(&self, authorization: Option<&str>) -> Result<ListOrdersResponse, Status> {
        let mut request = Request::new(ListMyOrdersRequest {});
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }
        self.client
            .clone()
            .list_my_orders(request)
            .await
            .map(|r| r.into_inner())
    }

    async fn mine_with(&self, token: &str) -> Result<ListOrdersResponse, Status> {
        self.mine(Some(&format!("Bearer {token}"))).await
    }

    async fn all_with(&self, token: &str) -> Result<ListOrdersResponse, Status> {
        let mut request = Request::new(ListAllOrdersRequest {});
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        self.client
            .clone()
            .list_all_orders(request)
            .await
            .map(|r| r.into_inner())
    }
}

fn claims_of(token: &str) -> AccessClaims {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn sign(pem: &[u8], kid: &str, claims: &AccessClaims) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

/// A token of the server's, re-signed by the server's own key with `change` applied.
fn resigned(server: &TestServer, token: &str, change: impl FnOnce(&mut AccessClaims)) -> String {
    let mut claims = claims_of(token);
    change(&mut claims);
    sign(&server.signing_key_pem(), &kid_of(token), &claims)
}

/// A new session on `tessera` whose access token `kid` signed, waiting up to
/// `within` for tessera to start signing with it.
async fn session_signed_by(tessera: &TestServer, kid: &str, within: Duration) -> Option<TokenPair> {
    let deadline = Instant::now() + within;
    let address = email("rotated");
    tessera.register(&address).await;
    loop {
        let pair = tessera.new_session(&address).await;
        if kid_of(&pair.access_token) == kid {
            return Some(pair);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn spawn_tessera(backend: Backend) -> TestServer {
    harness::spawn_with(backend, |c| {
        c.sync_interval = Duration::from_millis(200);
    })
    .await
}

#[tokio::test]
async fn no_token_or_a_malformed_header_is_unauthenticated() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    for header in [
        None,
        Some("Basic abc"),
        Some("Bearer "),
        Some("Bearer not.a.jwt"),
    ] {
        let status = assert_error(
            orders.mine(header).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
        assert!(!status.message().contains("not.a.jwt"));
    }
}

#[tokio::test]
async fn a_valid_token_passes_and_the_handler_sees_its_claims() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let address = email("orders");
    let (user, pair) = tessera.login_as(&address).await;
    let answer = orders.mine_with(&pair.access_token).await.unwrap();
    assert_eq!(answer.caller_id, user.id);
    assert_eq!(answer.caller_email, address);
    assert_eq!(answer.orders[0].owner_id, user.id);
}

#[tokio::test]
async fn expired_foreign_and_misaddressed_tokens_are_refused_with_tessera_reasons() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let (_, pair) = tessera.login_as(&email("forged")).await;

    // Expired beyond the 30 s leeway.
    let expired = resigned(&tessera, &pair.access_token, |c| {
        c.iat -= 3600;
        c.exp = c.iat + 60;
    });
    assert_error(
        orders.mine_with(&expired).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );

    // Signed by another key under the published kid.
    let (foreign, foreign_pem) = SigningKey::generate().unwrap();
    assert_ne!(foreign.kid(), kid_of(&pair.access_token));
    let forged = sign(
        foreign_pem.as_bytes(),
        &kid_of(&pair.access_token),
        &claims_of(&pair.access_token),
    );
    assert_error(
        orders.mine_with(&forged).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );

    // Signed by tessera's key, for another audience or issuer.
    for change in [
        (|c: &mut AccessClaims| c.aud = vec!["billing".into()]) as fn(&mut AccessClaims),
        |c: &mut AccessClaims| c.iss = "elsewhere".into(),
    ] {
        let token = resigned(&tessera, &pair.access_token, change);
        assert_error(
            orders.mine_with(&token).await,
            Code::Unauthenticated,
            "TOKEN_INVALID",
        );
    }

    // Tessera's own Verify gives the same answers: one verification path.
    assert_error(
        tessera.verify(&expired).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert_error(
        tessera.verify(&forged).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
}

#[tokio::test]
async fn a_user_token_on_the_admin_call_is_permission_denied_and_a_granted_role_passes() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let address = email("admin");
    let (_, pair) = tessera.login_as(&address).await;
    assert!(orders.mine_with(&pair.access_token).await.is_ok());
    assert_error(
        orders.all_with(&pair.access_token).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );

    let change =
        tessera::admin::change_role(&tessera.config.store, &address, "admin", RoleEdit::Grant)
            .await
            .unwrap();
    assert_eq!(change, RoleChange::Changed { sessions_ended: 0 });
    // Roles reach tokens at the next refresh (or login).
    let refreshed = tessera.refresh(&pair.refresh_token).await.unwrap();
    assert!(orders.all_with(&refreshed.access_token).await.is_ok());
    assert!(
        claims_of(&refreshed.access_token)
            .roles
            .contains(&"admin".to_string())
    );

    let keep = RoleEdit::Revoke {
        keep_sessions: true,
    };
    let change = tessera::admin::change_role(&tessera.config.store, &address, "admin", keep)
        .await
        .unwrap();
    assert_eq!(change, RoleChange::Changed { sessions_ended: 0 });
    let again = tessera.refresh(&refreshed.refresh_token).await.unwrap();
    assert_error(
        orders.all_with(&again.access_token).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

#[tokio::test]
async fn revoking_a_role_ends_the_users_sessions_so_its_tokens_stop_at_once() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let address = email("demoted");
    tessera.register(&address).await;
    let grant = RoleEdit::Grant;
    tessera::admin::change_role(&tessera.config.store, &address, "admin", grant)
        .await
        .unwrap();
    let admin = tessera.new_session(&address).await;
    let other = tessera.new_session(&address).await;
    assert!(orders.all_with(&admin.access_token).await.is_ok());

    let revoke = RoleEdit::Revoke {
        keep_sessions: false,
    };
    let change = tessera::admin::change_role(&tessera.config.store, &address, "admin", revoke)
        .await
        .unwrap();
    assert_eq!(change, RoleChange::Changed { sessions_ended: 2 });
    // The live verifier learns it from tessera's next sync, as any revocation.
    let refused = eventually(Duration::from_secs(5), || async {
        orders.all_with(&admin.access_token).await.is_err()
    })
    .await;
    assert!(refused, "the admin token stopped verifying");
    for pair in [&admin, &other] {
        assert_error(
            tessera.refresh(&pair.refresh_token).await,
            Code::Unauthenticated,
            "TOKEN_REVOKED",
        );
    }
}

async fn a_logout_is_refused_by_the_example_within_a_second(backend: Backend) {
    let tessera = spawn_tessera(backend).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let (_, pair) = tessera.login_as(&email("live")).await;
    assert!(orders.mine_with(&pair.access_token).await.is_ok());

    tessera.logout(&pair.refresh_token, false).await.unwrap();
    let logged_out = Instant::now();
    let refused = eventually(Duration::from_secs(1), || async {
        orders.mine_with(&pair.access_token).await.is_err()
    })
    .await;
    assert!(
        refused,
        "still accepted {:?} after logout",
        logged_out.elapsed()
    );
    assert_error(
        orders.mine_with(&pair.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

#[tokio::test]
async fn a_logout_on_another_instance_reaches_the_example_within_a_second() {
    if crate::pg::server_url("logout on another instance").is_none() {
        return;
    }
    let a = harness::spawn_with(Backend::Postgres, |c| {
        c.sync_interval = Duration::from_secs(3600);
    })
    .await;
    let b = a.peer(|_| {}).await;
    // The example follows A; the user logs out through B.
    let orders = start_orders(a.addr, verifier_config()).await;
    let (_, pair) = b.login_as(&email("peer")).await;
    assert!(orders.mine_with(&pair.access_token).await.is_ok());
    b.logout(&pair.refresh_token, false).await.unwrap();
    let refused = eventually(Duration::from_secs(1), || async {
        orders.mine_with(&pair.access_token).await.is_err()
    })
    .await;
    assert!(refused);
}

#[tokio::test]
async fn local_mode_sees_a_logout_only_at_expiry() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let mut config = verifier_config();
    config.mode = Mode::Local;
    let orders = start_orders(tessera.addr, config).await;
    let (_, pair) = tessera.login_as(&email("local")).await;
    tessera.logout(&pair.refresh_token, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(orders.mine_with(&pair.access_token).await.is_ok());
}

#[tokio::test]
async fn after_tessera_restarts_the_reconnected_stream_brings_the_revocations_missed() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let (_, pair) = tessera.login_as(&email("restart")).await;
    let sid = claims_of(&pair.access_token).sid;
    let store_config = tessera.config.store.clone();
    // While tessera is down the session is revoked behind the example's back: no
    // live event can tell it; only the snapshot of the next stream can.
    let _tessera = tessera
        .restart_after(|| async move {
            let store = tessera::server::open_store(&store_config).await.unwrap();
            store.run(RevokeBehindTheBack(sid)).await;
        })
        .await;
    let refused = eventually(Duration::from_secs(5), || async {
        orders.mine_with(&pair.access_token).await.is_err()
    })
    .await;
    assert!(refused, "the snapshot carries the revocation");
    assert_error(
        orders.mine_with(&pair.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

#[tokio::test]
async fn with_tessera_stopped_cached_keys_still_verify() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let orders = start_orders(tessera.addr, verifier_config()).await;
    let (_, pair) = tessera.login_as(&email("down")).await;
    tessera.stop().await;
    let answer = orders.mine_with(&pair.access_token).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert!(orders.verifier.has_keys());
}

#[tokio::test]
async fn fail_closed_live_mode_refuses_once_the_stream_has_been_gone_too_long() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let mut config = verifier_config();
    config.stale_after = Duration::from_millis(300);
    config.when_stale = WhenStale::FailClosed;
    let orders = start_orders(tessera.addr, config).await;
    let (_, pair) = tessera.login_as(&email("closed")).await;
    assert!(orders.mine_with(&pair.access_token).await.is_ok());
    tessera.stop().await;
    let refused = eventually(Duration::from_secs(3), || async {
        orders
            .mine_with(&pair.access_token)
            .await
            .is_err_and(|s| s.code() == Code::Unavailable)
    })
    .await;
    assert!(refused, "fail-closed answers UNAVAILABLE");
}

#[tokio::test]
async fn a_staged_key_is_fetched_before_it_signs_so_new_tokens_pass_with_no_fetch_on_the_request_path()
 {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let mut config = verifier_config();
    config.jwks_refresh = Duration::from_millis(300);
    let orders = start_orders(tessera.addr, config).await;
    let (_, old) = tessera.login_as(&email("rotate")).await;
    let old_kid = kid_of(&old.access_token);

    let tokens = tessera.config.tokens();
    let (new_kid, activates_at) =
        tessera::admin::rotate_key(&tessera.config.store, tokens, Duration::from_secs(2))
            .await
            .unwrap();
    // Wait for activation: tessera signs with the new key from then on.
    let new = session_signed_by(&tessera, &new_kid, Duration::from_secs(6))
        .await
        .expect("tessera signs with the staged key once it activates");
    assert!(tessera::clock::unix_now() >= activates_at);
    assert_ne!(new_kid, old_kid);
    // The synchronous check never fetches: it passes only if the key was cached.
    assert!(orders.verifier.verify(&new.access_token).is_ok());
    assert!(orders.mine_with(&new.access_token).await.is_ok());
    assert!(
        orders.mine_with(&old.access_token).await.is_ok(),
        "old tokens still pass"
    );
}

#[tokio::test]
async fn an_immediate_rotation_is_picked_up_through_the_unknown_kid_refetch() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let mut config = verifier_config();
    config.jwks_refresh = Duration::from_secs(3600);
    let relay = Relay::start(tessera.addr).await;
    let orders = start_orders(relay.addr, config).await;
    let fetches_before = relay.get_jwks();

    let tokens = tessera.config.tokens();
    let (new_kid, _) = tessera::admin::rotate_key(&tessera.config.store, tokens, Duration::ZERO)
        .await
        .unwrap();
    let token = session_signed_by(&tessera, &new_kid, Duration::from_secs(3))
        .await
        .expect("tessera signs with the new key at once")
        .access_token;
    let passed = eventually(Duration::from_secs(2), || async {
        orders.mine_with(&token).await.is_ok()
    })
    .await;
    assert!(passed, "the unknown kid triggered a fetch");
    assert!(relay.get_jwks() > fetches_before);
}

#[tokio::test]
async fn a_flood_of_forged_kids_costs_tessera_at_most_a_handful_of_key_fetches() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let relay = Relay::start(tessera.addr).await;
    let orders = start_orders(relay.addr, verifier_config()).await;
    let (_, pair) = tessera.login_as(&email("flood")).await;
    let claims = claims_of(&pair.access_token);
    let (_, pem) = SigningKey::generate().unwrap();
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let before = relay.get_jwks();

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("forged-{i}"));
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let client = orders.client.clone();
        calls.spawn(async move {
            let mut request = Request::new(ListMyOrdersRequest {});
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            client.clone().list_my_orders(request).await
        });
        if calls.len() >= 50 {
            let refused = calls.join_next().await.unwrap().unwrap();
            assert_error(refused, Code::Unauthenticated, "TOKEN_INVALID");
        }
    }
    while let Some(refused) = calls.join_next().await {
        assert_error(refused.unwrap(), Code::Unauthenticated, "TOKEN_INVALID");
    }
    // Let any fetch the flood asked for finish before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fetches = relay.get_jwks() - before;
    assert!(
        fetches <= 2,
        "{fetches} GetJwks calls for 1,000 forged kids"
    );
}

#[tokio::test]
async fn remote_mode_asks_tessera_through_the_layer_and_caches_briefly() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let mut config = verifier_config();
    config.mode = Mode::Remote;
    config.remote_cache_ttl = Duration::from_millis(200);
    let orders = start_orders(tessera.addr, config).await;
    assert_error(
        orders.mine(None).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    let (user, pair) = tessera.login_as(&email("remote")).await;
    let answer = orders.mine_with(&pair.access_token).await.unwrap();
    assert_eq!(answer.caller_id, user.id);
    assert_error(
        orders.all_with(&pair.access_token).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    tessera.logout(&pair.refresh_token, false).await.unwrap();
    let refused = eventually(Duration::from_secs(2), || async {
        orders.mine_with(&pair.access_token).await.is_err()
    })
    .await;
    assert!(refused);
    assert_error(
        orders.mine_with(&pair.access_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    // A token the cache has not seen, with tessera away: no answer to give.
    let (_, other) = tessera.login_as(&email("remote-2")).await;
    tessera.stop().await;
    assert_error(
        orders.mine_with(&other.access_token).await,
        Code::Unavailable,
        "UNAVAILABLE",
    );
}

harness::on_both_backends!(a_logout_is_refused_by_the_example_within_a_second);

/// Revokes a session straight in the store, with no server to announce it.
struct RevokeBehindTheBack(String);

impl tessera::server::WithStore for RevokeBehindTheBack {
    type Output = ();

    async fn run<S: tessera::store::Store>(self, store: S) {
        let sid = tessera::domain::SessionId::parse(&self.0).unwrap();
        let now = tessera::clock::unix_now();
        store
            .revoke_session(sid, tessera::store::RevokeReason::Logout, now)
            .await
            .unwrap();
        store.close().await;
    }
}

#[tokio::test]
async fn a_withdrawn_key_stops_being_trusted_by_tessera_and_a_live_verifier_at_once() {
    let tessera = spawn_tessera(Backend::Sqlite).await;
    let mut config = verifier_config();
    // Only the push can make the verifier drop the key in time.
    config.jwks_refresh = Duration::from_secs(3600);
    let orders = start_orders(tessera.addr, config).await;
    let (_, leaked) = tessera.login_as(&email("leak")).await;
    let kid = jsonwebtoken::decode_header(&leaked.access_token)
        .unwrap()
        .kid
        .unwrap();
    assert!(orders.mine_with(&leaked.access_token).await.is_ok());
    let store = &tessera.config.store;
    let tokens = tessera.config.tokens();

    // The key that signs cannot go first: a new one must sign.
    let refused = tessera::admin::withdraw_key(store, tokens, &kid).await;
    assert!(
        matches!(&refused, Err(tessera::admin::AdminError::Config(e)) if e.var == "KID"),
        "{refused:?}"
    );
    tessera::admin::rotate_key(store, tokens, Duration::ZERO)
        .await
        .unwrap();
    // `--now` signs within the second: wait for `keys list` to say so, as an operator would.
    let rotated = eventually(Duration::from_secs(3), || async {
        let keys = tessera::admin::list_keys(store, tokens).await.unwrap();
        keys.iter()
            .any(|k| k.kid == kid && k.state.as_str() != "signing")
    })
    .await;
    assert!(rotated);
    tessera::admin::withdraw_key(store, tokens, &kid)
        .await
        .unwrap();

    let distrusted = eventually(Duration::from_secs(2), || async {
        orders.mine_with(&leaked.access_token).await.is_err()
    })
    .await;
    assert!(distrusted, "the live verifier still trusts {kid}");
    assert_error(
        orders.mine_with(&leaked.access_token).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert_error(
        tessera.verify(&leaked.access_token).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert!(
        !tessera.jwks().await.iter().any(|k| k.kid == kid),
        "{kid} is still published"
    );
}
