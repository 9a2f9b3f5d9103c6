//! WatchRevocations: the snapshot on connect, live events, heartbeats, and an end
//! at shutdown.

use std::time::Duration;

use tessera::proto::{RevocationEvent, WatchRevocationsRequest};
use tonic::Streaming;

use crate::harness::{self, Backend, email, on_both_backends};

async fn next(stream: &mut Streaming<RevocationEvent>) -> RevocationEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

async fn the_stream_opens_with_the_revoked_sessions_then_sends_each_new_one(backend: Backend) {
    let server = harness::spawn_with(backend, |c| {
        c.watch_heartbeat = Duration::from_secs(3600);
    })
    .await;
    let (_, before) = server.login_as(&email("before")).await;
    server.logout(&before.refresh_token, false).await.unwrap();

    let mut stream = server
        .client()
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let snapshot = next(&mut stream).await;
    assert!(snapshot.snapshot);
    assert_eq!(snapshot.sessions.len(), 1);
    let revoked = &snapshot.sessions[0];
    assert_eq!(
        revoked.session_id,
        harness::session_of(&before.access_token)
    );
    // Forgotten only once no token of the session can verify: access TTL + leeway.
    let forget_after = revoked.forget_after.unwrap().seconds;
    let now = tessera::clock::unix_now();
    assert!(forget_after >= now + 15 * 60 && forget_after <= now + 15 * 60 + 31);
    assert_eq!(snapshot.heartbeat_interval.unwrap().seconds, 3600);

    let (_, after) = server.login_as(&email("after")).await;
    server.logout(&after.refresh_token, false).await.unwrap();
    let event = next(&mut stream).await;
    assert!(!event.snapshot);
    let sids: Vec<_> = event
        .sessions
        .iter()
        .map(|s| s.session_id.clone())
        .collect();
    assert_eq!(sids, vec![harness::session_of(&after.access_token)]);
}

on_both_backends!(the_stream_opens_with_the_revoked_sessions_then_sends_each_new_one);

#[tokio::test]
async fn a_quiet_stream_sends_heartbeats() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.watch_heartbeat = Duration::from_millis(100);
    })
    .await;
    let mut stream = server
        .client()
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await;
    assert!(first.snapshot && first.sessions.is_empty());
    for _ in 0..3 {
        let beat = next(&mut stream).await;
        assert!(!beat.snapshot && beat.sessions.is_empty());
        assert!(beat.sent_at.is_some());
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_cleanly() {
    let server = harness::spawn(Backend::Sqlite).await;
    let mut stream = server
        .client()
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    next(&mut stream).await;
    server.stop().await;
    // Ended by the server (OK), not cut when the drain gave up on it.
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("the stream ends");
    assert!(matches!(end, Ok(None)), "{end:?}");
}
