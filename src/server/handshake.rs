//! The HTTP/2 handshake deadline: a connection whose first 24 bytes (the client
//! preface) do not arrive within `TESSERA_HANDSHAKE_TIMEOUT` is closed, so a silent
//! or half-open connection cannot hold a slot. Over TLS, the bytes counted are the
//! decrypted ones, after the TLS handshake (which has its own deadline).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The length of the HTTP/2 client preface (RFC 9113 §3.4).
const PREFACE_BYTES: usize = 24;

/// A connection whose first 24 bytes (the HTTP/2 preface) must arrive in time.
pub(super) struct Handshake<IO> {
    io: IO,
    /// Preface bytes still to come.
    preface_left: usize,
    deadline: Pin<Box<Sleep>>,
    /// Set once the whole preface has arrived.
    pub(super) done: Arc<AtomicBool>,
}

impl<IO> Handshake<IO> {
    pub(super) fn new(io: IO, timeout: Duration) -> Self {
        Self {
            io,
            preface_left: PREFACE_BYTES,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            done: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Handshake<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.preface_left > 0 && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the HTTP/2 handshake did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if this.preface_left > 0 {
            this.preface_left = this
                .preface_left
                .saturating_sub(buf.filled().len() - before);
            if this.preface_left == 0 {
                this.done.store(true, Ordering::Release);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Handshake<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
