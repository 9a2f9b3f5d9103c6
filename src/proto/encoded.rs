//! A `RevocationEvent` encoded once and shared: what the server's WatchRevocations
//! streams send.
//!
//! One revocation goes to every stream; encoding it once and handing each stream
//! the same bytes (a reference-counted clone) keeps the cost of a revocation flat in
//! the number of watchers. The server's generated code names this type where the
//! proto says `RevocationEvent` (see `build.rs`); clients decode the plain message.

use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};

use super::RevocationEvent;

/// The encoding of one [`RevocationEvent`], cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedEvent(Bytes);

impl EncodedEvent {
    /// Encodes `event`.
    pub fn new(event: &RevocationEvent) -> Self {
        Self(event.encode_to_vec().into())
    }

    /// The event again, decoded.
    pub fn to_event(&self) -> Result<RevocationEvent, prost::DecodeError> {
        RevocationEvent::decode(self.0.clone())
    }

    /// The encoded bytes; clones of one event share them.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl From<&RevocationEvent> for EncodedEvent {
    fn from(event: &RevocationEvent) -> Self {
        Self::new(event)
    }
}

impl Message for EncodedEvent {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    /// Decoding appends the field, re-encoded, to the bytes: protobuf merges two
    /// encodings of a message by concatenating them.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        let mut field = RevocationEvent::default();
        field.merge_field(tag, wire_type, buf, ctx)?;
        let mut joined = Vec::with_capacity(self.0.len() + field.encoded_len());
        joined.extend_from_slice(&self.0);
        field.encode_raw(&mut joined);
        self.0 = joined.into();
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = Bytes::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::RevokedSession;

    fn event() -> RevocationEvent {
        RevocationEvent {
            sessions: vec![RevokedSession {
                session_id: "0190c1d2-0000-7000-8000-000000000001".into(),
                ..Default::default()
            }],
            snapshot: true,
            ..Default::default()
        }
    }

    #[test]
    fn it_is_on_the_wire_what_the_plain_message_is() {
        let plain = event();
        let encoded = EncodedEvent::new(&plain);
        assert_eq!(encoded.encode_to_vec(), plain.encode_to_vec());
        assert_eq!(encoded.to_event().unwrap(), plain);
    }

    #[test]
    fn decoding_keeps_every_field() {
        let plain = event();
        let decoded = <EncodedEvent as Message>::decode(plain.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.to_event().unwrap(), plain);
    }

    #[test]
    fn clones_share_the_bytes() {
        let encoded = EncodedEvent::new(&event());
        let clone = encoded.clone();
        assert_eq!(clone.bytes().as_ptr(), encoded.bytes().as_ptr());
    }
}
