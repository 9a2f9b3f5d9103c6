//! Requests the gRPC layer refuses before any handler runs still get a precise
//! status with tessera's ErrorInfo, and none of the decoder's words.

use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use tessera::proto::RegisterRequest;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use crate::harness::{self, Backend, assert_error};

/// Sends raw bytes as the message and reads nothing back.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

async fn call(channel: Channel, path: &'static str, body: Bytes) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn a_body_that_does_not_decode_is_invalid_argument_malformed_request() {
    let server = harness::spawn(Backend::Sqlite).await;
    // Field 1 claims 100 bytes of string and delivers three.
    let garbage = Bytes::from_static(&[0x0a, 0x64, b'a', b'b', b'c']);
    let status = assert_error(
        call(
            server.channel().await,
            "/tessera.auth.v1.AuthService/Login",
            garbage,
        )
        .await,
        Code::InvalidArgument,
        "MALFORMED_REQUEST",
    );
    assert_eq!(status.message(), "malformed request");
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted_request_too_large() {
    let server = harness::spawn(Backend::Sqlite).await;
    let mut huge = vec![0x0a, 0x80, 0x80, 0x08]; // field 1, 131072 bytes
    huge.resize(4 + 131_072, b'x');
    let status = assert_error(
        call(
            server.channel().await,
            "/tessera.auth.v1.AuthService/Verify",
            Bytes::from(huge),
        )
        .await,
        Code::ResourceExhausted,
        "REQUEST_TOO_LARGE",
    );
    assert!(!status.message().contains("limit"), "{}", status.message());
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented_with_error_info() {
    let server = harness::spawn(Backend::Sqlite).await;
    assert_error(
        call(
            server.channel().await,
            "/tessera.auth.v1.AuthService/Teleport",
            Bytes::new(),
        )
        .await,
        Code::Unimplemented,
        "UNIMPLEMENTED",
    );
}

/// Sends each of `bodies` as one message of the same call, as a client stream would.
async fn call_with(
    channel: Channel,
    path: &'static str,
    bodies: Vec<Bytes>,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.client_streaming(
        tonic::Request::new(tokio_stream::iter(bodies)),
        http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn a_second_message_in_a_unary_call_is_refused_before_anything_is_written() {
    let server = harness::spawn(Backend::Sqlite).await;
    let register = RegisterRequest {
        email: "twice@example.com".into(),
        password: "correct horse battery".into(),
    }
    .encode_to_vec();
    let register = Bytes::from(register);
    let status = assert_error(
        call_with(
            server.channel().await,
            "/tessera.auth.v1.AuthService/Register",
            vec![register.clone(), register.clone()],
        )
        .await,
        Code::InvalidArgument,
        "MALFORMED_REQUEST",
    );
    assert!(
        status.message().contains("one request message"),
        "{}",
        status.message()
    );
    assert_eq!(
        harness::count(&server.config, "SELECT COUNT(*) FROM users").await,
        0
    );

    // The same message alone, on the same path, is served.
    call_with(
        server.channel().await,
        "/tessera.auth.v1.AuthService/Register",
        vec![register],
    )
    .await
    .unwrap();
    assert_eq!(
        harness::count(&server.config, "SELECT COUNT(*) FROM users").await,
        1
    );
}
