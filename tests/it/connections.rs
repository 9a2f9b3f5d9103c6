//! What one client connection may hold, seen from a raw TCP client: the HTTP/2
//! settings the server announces, the handshake and idle deadlines, the cap on open
//! connections, and a shutdown no idle connection holds up.

use std::time::Duration;

use tessera::proto::WatchRevocationsRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{self, Backend, TestServer};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Opens a raw connection and sends the HTTP/2 preface and an empty SETTINGS frame.
async fn h2_connect(server: &TestServer) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(PREFACE).await.unwrap();
    tcp.write_all(&EMPTY_SETTINGS).await.unwrap();
    tcp
}

/// Reads one frame: (type, flags, payload).
async fn frame(tcp: &mut TcpStream) -> (u8, u8, Vec<u8>) {
    let mut head = [0u8; 9];
    tcp.read_exact(&mut head).await.unwrap();
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.unwrap();
    (head[3], head[4], payload)
}

/// The server's first SETTINGS frame, as (identifier, value) pairs.
async fn server_settings(tcp: &mut TcpStream) -> Vec<(u16, u32)> {
    loop {
        let (kind, flags, payload) = frame(tcp).await;
        if kind == 4 && flags & 1 == 0 {
            return payload
                .chunks(6)
                .map(|p| {
                    (
                        u16::from_be_bytes([p[0], p[1]]),
                        u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                    )
                })
                .collect();
        }
    }
}

/// Whether the server closes `tcp` within `within`. Frames are read and dropped,
/// but PINGs are answered, as any live HTTP/2 client does (a graceful close waits
/// for one).
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        let mut head = [0u8; 9];
        loop {
            if tcp.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0u8; len];
            if tcp.read_exact(&mut payload).await.is_err() {
                return;
            }
            if head[3] == 6 && head[4] & 1 == 0 {
                let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                ack.extend_from_slice(&payload);
                if tcp.write_all(&ack).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
    .is_ok()
}

/// Answers PINGs on `tcp` until it closes, in the background.
fn live_client(mut tcp: TcpStream) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move { closed_within(&mut tcp, Duration::from_secs(60)).await })
}

#[tokio::test]
async fn the_server_announces_its_stream_and_header_limits() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.connections.max_streams = 64;
        c.connections.max_header_bytes = 8192;
    })
    .await;
    let mut tcp = h2_connect(&server).await;
    let settings = server_settings(&mut tcp).await;
    // SETTINGS_MAX_CONCURRENT_STREAMS (0x3) and SETTINGS_MAX_HEADER_LIST_SIZE (0x6).
    assert!(settings.contains(&(0x3, 64)), "{settings:?}");
    assert!(settings.contains(&(0x6, 8192)), "{settings:?}");
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_handshake_is_closed() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.connections.handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(&PREFACE[..10]).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    assert!(closed_within(&mut half, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn an_idle_connection_is_closed_but_one_with_a_stream_open_is_not() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.connections.idle_timeout = Duration::from_millis(300);
        c.watch_heartbeat = Duration::from_millis(100);
    })
    .await;
    let mut idle = h2_connect(&server).await;
    server_settings(&mut idle).await;
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await);

    let mut events = server
        .client()
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let event = tokio::time::timeout(Duration::from_secs(2), events.message())
            .await
            .expect("the stream keeps its connection")
            .unwrap();
        assert!(event.is_some(), "the stream ended");
    }
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_until_one_closes() {
    // The test's own client holds one connection already.
    let server = harness::spawn_with(Backend::Sqlite, |c| c.connections.max_connections = 3).await;
    let mut first = h2_connect(&server).await;
    server_settings(&mut first).await;
    let mut second = h2_connect(&server).await;
    server_settings(&mut second).await;

    let mut third = h2_connect(&server).await;
    let early = tokio::time::timeout(Duration::from_millis(500), server_settings(&mut third)).await;
    assert!(early.is_err(), "a third connection was served past the cap");
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), server_settings(&mut third))
        .await
        .expect("served once a connection closed");
}

#[tokio::test]
async fn an_idle_connection_does_not_hold_up_shutdown() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.shutdown_grace = Duration::from_secs(30);
    })
    .await;
    let mut idle = h2_connect(&server).await;
    server_settings(&mut idle).await;
    let idle = live_client(idle);
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown did not wait out the grace period");
    assert!(idle.await.unwrap(), "the idle connection was closed");
}

#[tokio::test]
async fn a_client_that_never_answers_does_not_hold_up_shutdown() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.shutdown_grace = Duration::from_secs(30);
    })
    .await;
    // Past the handshake, then mute: it reads nothing more and never answers the
    // PING a graceful close waits for.
    let mut mute = h2_connect(&server).await;
    server_settings(&mut mute).await;
    // Let the server settle into the connection (its SETTINGS acknowledged by no one).
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("a mute client held shutdown for the grace period");
    drop(mute);
}
