//! Probes on the connection itself, in raw HTTP/2 frames (RFC 9113): what limits the
//! server announces, whether it enforces them, and whether silent or idle
//! connections are closed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Target, Verdict};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const ACK: u8 = 1;
const END_HEADERS: u8 = 4;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 3;
const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 6;

/// Some slack over a server-side deadline for scheduling and the network.
const SLACK: Duration = Duration::from_millis(1500);

pub async fn probes(target: &Target) -> Vec<Verdict> {
    let mut verdicts = streams(target).await;
    verdicts.push(
        closes(
            target,
            "silent TCP connection closed after the handshake timeout",
            &[],
        )
        .await,
    );
    verdicts.push(
        closes(
            target,
            "half an HTTP/2 preface closed after the handshake timeout",
            &PREFACE[..10],
        )
        .await,
    );
    verdicts.push(idle(target).await);
    verdicts
}

struct Frame {
    kind: u8,
    payload: Vec<u8>,
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small frame");
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The next frame, or `None` when the server closed the connection (or `wait` ran out).
async fn next(conn: &mut TcpStream, wait: Duration) -> Option<Frame> {
    let read = async {
        let mut head = [0u8; 9];
        conn.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        conn.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: head[3],
            payload,
        })
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// A connection past the preface, with the server's SETTINGS read and acknowledged.
async fn open(target: &Target) -> std::io::Result<(TcpStream, Vec<(u16, u32)>)> {
    let mut conn = TcpStream::connect(target.addr).await?;
    conn.write_all(PREFACE).await?;
    conn.write_all(&frame(SETTINGS, 0, 0, &[])).await?;
    loop {
        let Some(f) = next(&mut conn, Duration::from_secs(5)).await else {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        };
        if f.kind == SETTINGS && !f.payload.is_empty() {
            let settings = f
                .payload
                .chunks_exact(6)
                .map(|c| {
                    (
                        u16::from_be_bytes([c[0], c[1]]),
                        u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                    )
                })
                .collect();
            conn.write_all(&frame(SETTINGS, ACK, 0, &[])).await?;
            return Ok((conn, settings));
        }
    }
}

/// HPACK: one literal header field, not indexed, new name, no Huffman (RFC 7541 §6.2.2).
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    for part in [name, value] {
        block.push(u8::try_from(part.len()).expect("a short header"));
        block.extend_from_slice(part.as_bytes());
    }
}

fn verify_headers(target: &Target) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/tessera.auth.v1.AuthService/Verify"),
        (":authority", &target.addr.to_string()),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        block.push(0);
        literal(&mut block, name, value);
    }
    block
}

/// Item 1: limits are announced, and streams past the limit are refused.
async fn streams(target: &Target) -> Vec<Verdict> {
    let (mut conn, settings) = match open(target).await {
        Ok(opened) => opened,
        Err(e) => {
            return vec![Verdict::new(
                "1",
                "HTTP/2 limits announced",
                false,
                format!("no connection: {e}"),
            )];
        }
    };
    let get = |id| settings.iter().find(|(k, _)| *k == id).map(|(_, v)| *v);
    let max_streams = get(SETTINGS_MAX_CONCURRENT_STREAMS);
    let header_list = get(SETTINGS_MAX_HEADER_LIST_SIZE);
    let announced = Verdict::new(
        "1",
        "HTTP/2 limits announced in SETTINGS",
        max_streams.is_some() && header_list.is_some(),
        format!("MAX_CONCURRENT_STREAMS={max_streams:?} MAX_HEADER_LIST_SIZE={header_list:?}"),
    );
    let Some(max) = max_streams else {
        return vec![announced];
    };
    // Open the limit and 50 more, each left waiting for its body.
    let extra = 50;
    let block = verify_headers(target);
    let mut burst = Vec::new();
    for i in 0..max + extra {
        burst.extend(frame(HEADERS, END_HEADERS, 2 * i + 1, &block));
    }
    let flooded = conn.write_all(&burst).await;
    let (mut refused, mut goaway) = (0, false);
    while let Some(f) = next(&mut conn, Duration::from_secs(2)).await {
        match f.kind {
            RST_STREAM => refused += 1,
            GOAWAY => goaway = true,
            _ => {}
        }
    }
    let enforced = Verdict::new(
        "1",
        "streams past MAX_CONCURRENT_STREAMS refused on one connection",
        flooded.is_ok() && (refused >= extra || goaway),
        format!(
            "opened {} streams: {refused} reset, GOAWAY {goaway}",
            max + extra
        ),
    );
    vec![announced, enforced]
}

/// Item 2: a connection that sends nothing, or part of the preface, is closed once
/// the handshake timeout has passed.
async fn closes(target: &Target, probe: &'static str, send: &[u8]) -> Verdict {
    let started = Instant::now();
    let mut conn = match TcpStream::connect(target.addr).await {
        Ok(c) => c,
        Err(e) => return Verdict::new("2", probe, false, format!("no connection: {e}")),
    };
    let _ = conn.write_all(send).await;
    let limit = target.handshake() + SLACK;
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    let seen = if closed {
        format!("closed after {:.1} s", started.elapsed().as_secs_f64())
    } else {
        format!("still open after {:.1} s", limit.as_secs_f64())
    };
    Verdict::new("2", probe, closed, seen)
}

/// Item 2: an HTTP/2 connection with no RPC gets GOAWAY after the idle timeout.
async fn idle(target: &Target) -> Verdict {
    let probe = "idle HTTP/2 connection sent GOAWAY after the idle timeout";
    let started = Instant::now();
    let Ok((mut conn, _)) = open(target).await else {
        return Verdict::new("2", probe, false, "no connection");
    };
    let limit = target.idle() + SLACK;
    let mut goaway = false;
    while let Some(f) = next(&mut conn, limit.saturating_sub(started.elapsed())).await {
        if f.kind == GOAWAY {
            goaway = true;
            break;
        }
    }
    let seen = format!(
        "GOAWAY {goaway} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Verdict::new("2", probe, goaway, seen)
}
