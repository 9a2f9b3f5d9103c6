//! The store's story, told against the real SQLite file: what the database enforces
//! and what the purge removes. Written generic over `Store`, so every backend runs it.

use tessera::domain::{Email, PasswordHash, SessionId, UserId};
use tessera::store::{
    Admission, KeyRow, Lifecycle, NewSession, NextToken, PostgresStore, RevokeReason, Rotation,
    SqliteStore, Store, StoreError, UserRow,
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
        password_hash: PasswordHash::new("$2b$04$not-a-real-hash".into()),
        roles: vec!["user".into()],
        created_at: 1_000,
        disabled_at: None,
        email_verified: false,
    }
}

fn next(hash: [u8; 32], issued_at: i64, expires_at: i64) -> NextToken {
    NextToken {
        hash,
        issued_at,
        expires_at,
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

    let cursor = store.revocation_cursor().await.unwrap();

    // A session starts at generation 0; rotation moves it on exactly once.
    let s = session(&alice, 1, 1_000, 2_000);
    store.create_session(&s).await.unwrap();
    let row = store.refresh_token(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (row.generation, row.session_generation, row.revoked),
        (0, 0, None)
    );
    // The one read has the user as the access token must describe them.
    assert_eq!(
        (row.user_id, row.email.as_str(), row.roles.clone()),
        (alice.id, "alice@example.com", vec!["user".to_string()])
    );
    assert_eq!(
        store
            .rotate(s.id, 0, &next([2; 32], 1_010, 2_010))
            .await
            .unwrap(),
        Rotation::Rotated
    );
    // The same generation again loses, and revokes the session for reuse.
    assert_eq!(
        store
            .rotate(s.id, 0, &next([3; 32], 1_020, 2_020))
            .await
            .unwrap(),
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

    // The one-statement spend: the current token of a live session, unexpired, is
    // spent for the next and answers the user; anything else stores nothing.
    let s4 = session(&alice, 8, 1_000, 2_000);
    store.create_session(&s4).await.unwrap();
    let spent = store
        .spend(&[8; 32], &next([9; 32], 1_010, 2_010))
        .await
        .unwrap()
        .expect("a live token is spent");
    assert_eq!(
        (spent.session_id, spent.user_id, spent.generation),
        (s4.id, alice.id, 1)
    );
    assert_eq!(
        (spent.email.as_str(), spent.roles),
        ("alice@example.com", vec!["user".to_string()])
    );
    let moved = store.refresh_token(&[9; 32]).await.unwrap().unwrap();
    assert_eq!((moved.generation, moved.session_generation), (1, 1));
    // Spent already: nothing stored, nothing revoked (the caller reads and decides).
    assert!(
        store
            .spend(&[8; 32], &next([10; 32], 1_020, 2_020))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.refresh_token(&[10; 32]).await.unwrap().is_none());
    assert_eq!(
        store
            .refresh_token(&[9; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked,
        None
    );
    // Expired at its expiry, unknown, of a revoked session (s2): nothing.
    for (presented, at) in [([9; 32], 2_010), ([11; 32], 1_030), ([4; 32], 1_030)] {
        assert!(
            store
                .spend(&presented, &next([10; 32], at, at + 1_000))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(store.refresh_token(&[10; 32]).await.unwrap().is_none());

    // Followed by number, every revocation is read once, whatever time it carries:
    // the reuse revocation, the logout, the logout everywhere; then nothing.
    let (rows, after) = store.revoked_after(cursor).await.unwrap();
    let mut followed: Vec<_> = rows.iter().map(|r| r.session_id).collect();
    followed.sort();
    let mut expected = vec![s.id, s2.id, s3.id];
    expected.sort();
    assert_eq!(followed, expected);
    assert_eq!(after, store.revocation_cursor().await.unwrap());
    assert!(store.revoked_after(after).await.unwrap().0.is_empty());
    // A revocation stamped by a clock far behind is still read next.
    let late = session(&alice, 7, 1_000, 2_000);
    store.create_session(&late).await.unwrap();
    assert!(
        store
            .revoke_session(late.id, RevokeReason::Logout, 5)
            .await
            .unwrap()
    );
    let (rows, next) = store.revoked_after(after).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].session_id, rows[0].revoked_at), (late.id, 5));
    assert!(next > after);

    // The purge drops expired tokens and sessions, but keeps a revoked session while
    // its access tokens may still be live (revoked after the horizon).
    let bob = user("bob@example.com");
    store.create_user(&bob).await.unwrap();
    let live = session(&bob, 6, 1_000, 9_000);
    store.create_session(&live).await.unwrap();
    let purged = store.purge_sessions(3_000, 1_150).await.unwrap();
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

    budget_story(&store).await;
    keys_story(&store).await;
    tombstone_story(&store).await;
    store.close().await;
}

/// A deleted user: a tombstone that holds the email until it is reclaimed, keeps
/// its sessions' revocations, and goes once no session refers to it.
async fn tombstone_story<S: Store>(store: &S) {
    let carol = user("carol@example.com");
    store.create_user(&carol).await.unwrap();
    let s = session(&carol, 40, 1_000, 9_000);
    store.create_session(&s).await.unwrap();
    let revoked = store.delete_user(carol.id, 2_000).await.unwrap().unwrap();
    assert_eq!(revoked, vec![s.id]);
    assert!(store.delete_user(carol.id, 2_001).await.unwrap().is_none());
    assert!(store.user_by_id(carol.id).await.unwrap().is_none());
    assert!(store.user_by_email(&carol.email).await.unwrap().is_none());
    assert!(store.refresh_token(&[40; 32]).await.unwrap().is_none());
    assert_eq!(
        store.session_owner(s.id).await.unwrap(),
        Some(carol.id),
        "the revoked session stays with the tombstone"
    );

    // The email is held until the tombstone is old enough to give it up.
    let again = user("carol@example.com");
    assert!(matches!(
        store.create_user(&again).await,
        Err(StoreError::Conflict)
    ));
    assert!(!store.reclaim_email(&again.email, 1_999).await.unwrap());
    assert!(store.reclaim_email(&again.email, 2_000).await.unwrap());
    store.create_user(&again).await.unwrap();

    // Kept while a session refers to it, purged after.
    assert_eq!(store.purge_tombstones(3_000).await.unwrap(), 0);
    store.purge_sessions(10_000, 10_000).await.unwrap();
    assert_eq!(store.purge_tombstones(3_000).await.unwrap(), 1);
    assert!(store.user_by_id(again.id).await.unwrap().is_some());
}

/// The failed-login budget: the rules of `tessera::auth::throttle` (one-minute
/// windows), decided by the database.
async fn budget_story<S: Store>(store: &S) {
    let key = [7u8; 32];
    for _ in 0..3 {
        assert_eq!(
            store
                .admit_attempt(&key, 1_000, 1_000 - 60, 3)
                .await
                .unwrap(),
            Admission::Admitted
        );
    }
    // Spent: refused and not counted, with the window's start for the retry delay.
    assert_eq!(
        store
            .admit_attempt(&key, 1_010, 1_010 - 60, 3)
            .await
            .unwrap(),
        Admission::Refused {
            window_start: 1_000
        }
    );
    // Other keys are untouched.
    assert_eq!(
        store
            .admit_attempt(&[8u8; 32], 1_010, 1_010 - 60, 3)
            .await
            .unwrap(),
        Admission::Admitted
    );
    // A released attempt gives one back; a reset clears the window.
    store.release_attempt(&key).await.unwrap();
    assert_eq!(
        store
            .admit_attempt(&key, 1_020, 1_020 - 60, 3)
            .await
            .unwrap(),
        Admission::Admitted
    );
    assert!(matches!(
        store
            .admit_attempt(&key, 1_020, 1_020 - 60, 3)
            .await
            .unwrap(),
        Admission::Refused { .. }
    ));
    store.reset_attempts(&key).await.unwrap();
    assert_eq!(
        store
            .admit_attempt(&key, 1_030, 1_030 - 60, 3)
            .await
            .unwrap(),
        Admission::Admitted
    );
    // Once the minute has passed, the key starts afresh: it throttles, never locks.
    for _ in 0..2 {
        store
            .admit_attempt(&key, 1_030, 1_030 - 60, 3)
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .admit_attempt(&key, 1_089, 1_089 - 60, 3)
            .await
            .unwrap(),
        Admission::Refused { .. }
    ));
    assert_eq!(
        store
            .admit_attempt(&key, 1_090, 1_090 - 60, 3)
            .await
            .unwrap(),
        Admission::Admitted
    );
    // The purge forgets windows that have passed.
    assert!(store.purge_windows(2_000 - 60).await.unwrap() >= 2);

    // Concurrent attempts cannot overspend: of 20 at once, exactly the limit pass.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .admit_attempt(&[9u8; 32], 3_000, 3_000 - 60, 5)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
}

async fn keys_story<S: Store>(store: &S) {
    let row = |kid: &str, activates_at| KeyRow {
        kid: kid.into(),
        public_n: "n".into(),
        public_e: "AQAB".into(),
        sealed_private: vec![1, 2, 3],
        created_at: 100,
        activates_at,
    };
    store.insert_signing_key(&row("b", 200)).await.unwrap();
    store.insert_signing_key(&row("a", 100)).await.unwrap();
    assert!(matches!(
        store.insert_signing_key(&row("a", 300)).await,
        Err(StoreError::Conflict)
    ));
    let kids: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.activates_at, k.sealed_private))
        .collect();
    assert_eq!(
        kids,
        vec![
            ("a".into(), 100, vec![1, 2, 3]),
            ("b".into(), 200, vec![1, 2, 3])
        ],
        "oldest activation first"
    );
    assert!(store.delete_signing_key("a").await.unwrap());
    assert!(!store.delete_signing_key("a").await.unwrap());
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
}

/// Spends that queue for the writer together (on SQLite, one statement spends them):
/// each live token is spent once and answers its own session; a second copy of a
/// token in the same queue, an unknown token, an expired one and one of a revoked
/// session spend nothing and store nothing.
async fn queued_spends_story<S: Store>(store: &S) {
    let bob = user("queued@example.com");
    store.create_user(&bob).await.unwrap();
    let mut sessions = Vec::new();
    for n in 0..20u8 {
        let s = session(&bob, 100 + n, 1_000, if n == 19 { 1_005 } else { 2_000 });
        store.create_session(&s).await.unwrap();
        sessions.push(s);
    }
    // Session 18 is revoked; 19 expires before the spends.
    store
        .revoke_session(sessions[18].id, RevokeReason::Logout, 1_001)
        .await
        .unwrap();
    // Tokens 0..20, token 3 twice, and one nobody issued: all at once.
    let mut presented: Vec<u8> = (0..20).map(|n| 100 + n).collect();
    presented.push(103);
    presented.push(99);
    let spends = presented.iter().enumerate().map(|(i, &p)| {
        let store = store.clone();
        async move {
            let next = next([200 + i as u8; 32], 1_010, 3_000);
            (p, store.spend(&[p; 32], &next).await.unwrap())
        }
    });
    let answers = futures_join_all(spends).await;
    let mut spent_of_three = 0;
    for (i, (p, answer)) in answers.iter().enumerate() {
        match (*p, answer) {
            (103, Some(spent)) => {
                spent_of_three += 1;
                assert_eq!((spent.session_id, spent.generation), (sessions[3].id, 1));
            }
            (103, None) => {}
            (p @ 100..=117, Some(spent)) => {
                let s = &sessions[usize::from(p - 100)];
                assert_eq!((spent.session_id, spent.user_id), (s.id, bob.id));
                assert_eq!(spent.generation, 1);
                let stored = store.refresh_token(&[200 + i as u8; 32]).await.unwrap();
                assert_eq!(stored.unwrap().session_id, s.id, "its own successor");
            }
            (p, answer) => {
                assert!(matches!(p, 99 | 118 | 119), "token {p} got {answer:?}");
                assert!(answer.is_none(), "token {p} was spent");
                let stored = store.refresh_token(&[200 + i as u8; 32]).await.unwrap();
                assert!(stored.is_none(), "a successor was stored for token {p}");
            }
        }
    }
    assert_eq!(spent_of_three, 1, "one of the two copies spends token 3");
    let three = store.refresh_token(&[103; 32]).await.unwrap().unwrap();
    assert_eq!(three.session_generation, 1, "session 3 moved on once");
}

/// Polls every future on this task, so all of them queue before the first answers.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn queued_sqlite_spends_each_get_their_own_answer() {
    let (_dir, store) = sqlite().await;
    queued_spends_story(&store).await;
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
    queued_spends_story(&store).await;
    story(store).await;
}
