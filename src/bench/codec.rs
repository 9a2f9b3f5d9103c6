//! The tool's wire: request bodies encoded before the clock starts, answers judged
//! by their grpc-status without decoding the body.

use prost::bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// Sends request bodies encoded in advance and reads nothing of the answer's body.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Self::Error> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// One unary call of `path` with an encoded `body`.
pub(super) async fn call(
    grpc: &mut tonic::client::Grpc<Channel>,
    path: &'static str,
    body: Bytes,
) -> Result<(), tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(drop)
}

pub(super) const VERIFY: &str = "/tessera.auth.v1.AuthService/Verify";
pub(super) const LOGIN: &str = "/tessera.auth.v1.AuthService/Login";
pub(super) const REGISTER: &str = "/tessera.auth.v1.AuthService/Register";
pub(super) const GET_JWKS: &str = "/tessera.auth.v1.AuthService/GetJwks";
pub(super) const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
