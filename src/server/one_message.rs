//! A request body that may carry one gRPC message and no more.
//!
//! Every tessera method takes exactly one request message (unary, or server
//! streaming like WatchRevocations and health's Watch). The gRPC framework reads the
//! first message and then drains and ignores whatever follows, so a client could
//! append data that nobody looks at. This body reads the length prefix of the first
//! message (RFC-less but fixed: one flag byte and a 4-byte big-endian length) and
//! fails the request the moment a byte arrives past its end. The framework reports
//! that failure before any handler runs, so nothing is written.
//!
//! Reflection's one method streams both ways and is left alone.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use prost::bytes::Bytes;
use tonic::Code;

use crate::grpc::status::status;
use crate::reason::Reason;

/// The gRPC length prefix: a compression flag and a 4-byte length.
const PREFIX_BYTES: usize = 5;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a request to `path` may carry more than one message.
pub(super) fn streams_requests(path: &str) -> bool {
    path.starts_with("/grpc.reflection.")
}

/// A request body held to a single gRPC message.
pub(super) struct OneMessage<B> {
    inner: B,
    /// The first message's prefix, as far as it has arrived.
    prefix: [u8; PREFIX_BYTES],
    prefix_len: usize,
    /// Bytes read so far.
    seen: u64,
    /// Where the first message ends, once its prefix is known.
    end: Option<u64>,
    /// Off for the methods that stream requests.
    enforce: bool,
}

impl<B> OneMessage<B> {
    pub(super) fn new(inner: B, enforce: bool) -> Self {
        Self {
            inner,
            prefix: [0; PREFIX_BYTES],
            prefix_len: 0,
            seen: 0,
            end: None,
            enforce,
        }
    }

    /// Accounts for one chunk of the body; false once it runs past the first message.
    fn accept(&mut self, chunk: &[u8]) -> bool {
        let wanted = (PREFIX_BYTES - self.prefix_len).min(chunk.len());
        self.prefix[self.prefix_len..self.prefix_len + wanted].copy_from_slice(&chunk[..wanted]);
        self.prefix_len += wanted;
        self.seen += chunk.len() as u64;
        if self.end.is_none() && self.prefix_len == PREFIX_BYTES {
            let [_, a, b, c, d] = self.prefix;
            self.end = Some(PREFIX_BYTES as u64 + u64::from(u32::from_be_bytes([a, b, c, d])));
        }
        self.end.is_none_or(|end| self.seen <= end)
    }
}

impl<B> Body for OneMessage<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        let Some(frame) = frame else {
            return Poll::Ready(None);
        };
        let frame = frame.map_err(Into::into)?;
        if self.enforce
            && let Some(data) = frame.data_ref()
            && !self.accept(data)
        {
            return Poll::Ready(Some(Err(Box::new(status(
                Code::InvalidArgument,
                "this method takes exactly one request message",
                Reason::MalformedRequest,
            )))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: u32) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend(std::iter::repeat_n(7, len as usize));
        m
    }

    #[test]
    fn one_message_in_any_split_passes() {
        let m = message(10);
        for split in 0..m.len() {
            let mut body = OneMessage::new((), true);
            assert!(body.accept(&m[..split]), "split at {split}");
            assert!(body.accept(&m[split..]), "split at {split}");
        }
    }

    #[test]
    fn a_byte_past_the_first_message_fails_wherever_it_arrives() {
        let mut two = message(10);
        two.extend(message(0));
        for split in 0..two.len() {
            let mut body = OneMessage::new((), true);
            let first = body.accept(&two[..split]);
            let second = body.accept(&two[split..]);
            assert!(!(first && second), "split at {split}");
        }
    }

    #[test]
    fn an_empty_message_is_one_message() {
        let mut body = OneMessage::new((), true);
        assert!(body.accept(&message(0)));
        assert!(!body.accept(&[0]));
    }

    #[test]
    fn only_reflection_streams_requests() {
        assert!(streams_requests(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!streams_requests("/tessera.auth.v1.AuthService/Login"));
        assert!(!streams_requests("/grpc.health.v1.Health/Watch"));
    }
}
