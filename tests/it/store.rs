//! The store's story, told against the real SQLite file: what the database enforces
//! and what the purge removes. Written generic over `Store`, so every backend runs it.

use tessera::domain::{Email, SessionId, UserId};
use tessera::password::PasswordHash;
use tessera::store::{
    NewSession, PostgresStore, RevokeReason, Rotation, SqliteStore, Store, StoreError, UserRow,
};

use crate::pg;

async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(SqliteStore::options(&url).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

fn user(email: &str) -> UserRow {
    UserRow {
        id: UserId::random(),
        email: Email::parse(email).unwrap(),
        password_hash: PasswordHash::from_store("$2b$04$not-a-real-hash".into()),
        roles: vec!["user".into()],
        created_at: 1_000,
    }
}

fn session(user: &UserRow, hash: u8, now: i64, expires_at: i64) -> NewSession {
    NewSession {
        id: SessionId::random(),
        user_id: user.id,
        refresh_hash: [hash; 32],
        now,
        expires_at,
        client_address: Some("127.0.0.1".into()),
        user_agent: None,
    }
}

async fn story<S: Store>(store: S) {
    // Unique emails are the database's to enforce.
    let alice = user("alice@example.com");
    store.create_user(&alice).await.unwrap();
    let again = user("alice@example.com");
    assert!(matches!(
        store.create_user(&again).await,
        Err(StoreError::Conflict)
    ));
    let found = store.user_by_email(&alice.email).await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(found.roles, vec!["user".to_string()]);

    // A session starts at generation 0; rotation moves it on exactly once.
    let s = session(&alice, 1, 1_000, 2_000);
    store.create_session(&s).await.unwrap();
    let row = store.refresh_token(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (row.generation, row.session_generation, row.revoked),
        (0, 0, None)
    );
    assert_eq!(
        store.rotate(s.id, 0, &[2; 32], 1_010, 2_010).await.unwrap(),
        Rotation::Rotated
    );
    // The same generation again loses, and revokes the session for reuse.
    assert_eq!(
        store.rotate(s.id, 0, &[3; 32], 1_020, 2_020).await.unwrap(),
        Rotation::Lost {
            reason: RevokeReason::Reuse
        }
    );
    assert!(
        store.refresh_token(&[3; 32]).await.unwrap().is_none(),
        "the loser stored nothing"
    );
    let newest = store.refresh_token(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(newest.revoked, Some(RevokeReason::Reuse));

    // Logout of one session, then of all of them.
    let s2 = session(&alice, 4, 1_000, 2_000);
    let s3 = session(&alice, 5, 1_000, 2_000);
    store.create_session(&s2).await.unwrap();
    store.create_session(&s3).await.unwrap();
    assert!(
        store
            .revoke_session(s2.id, RevokeReason::Logout, 1_100)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(s2.id, RevokeReason::Logout, 1_101)
            .await
            .unwrap(),
        "idempotent"
    );
    let all = store
        .revoke_user_sessions(alice.id, RevokeReason::Logout, 1_200)
        .await
        .unwrap();
    assert_eq!(all, vec![s3.id], "only sessions still live");
    let mut revoked: Vec<_> = store
        .revoked_since(1_100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    revoked.sort();
    let mut expected = vec![s2.id, s3.id];
    expected.sort();
    assert_eq!(revoked, expected);

    // The purge drops expired tokens and sessions, but keeps a revoked session while
    // its access tokens may still be live (revoked after the horizon).
    let bob = user("bob@example.com");
    store.create_user(&bob).await.unwrap();
    let live = session(&bob, 6, 1_000, 9_000);
    store.create_session(&live).await.unwrap();
    let purged = store.purge_expired(3_000, 1_150).await.unwrap();
    assert!(purged > 0);
    assert!(
        store.refresh_token(&[6; 32]).await.unwrap().is_some(),
        "live session kept"
    );
    assert!(
        store.refresh_token(&[1; 32]).await.unwrap().is_none(),
        "expired token purged"
    );
    assert_eq!(
        store.revoked_since(0).await.unwrap().len(),
        1,
        "s3 revoked after the horizon is kept"
    );
    store.close().await;
}

#[tokio::test]
async fn the_sqlite_store_tells_the_whole_story() {
    let (_dir, store) = sqlite().await;
    story(store).await;
}

#[tokio::test]
async fn the_postgres_store_tells_the_whole_story() {
    let Some(server) = pg::server_url("the_postgres_store_tells_the_whole_story") else {
        return;
    };
    let db = pg::TestDatabase::create(&server).await;
    let options = PostgresStore::options(&db.url).unwrap();
    let store = PostgresStore::open(options, 5, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    story(store).await;
}
