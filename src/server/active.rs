//! The tower layer that tells a connection which RPCs are in flight on it, from the
//! request to the end of the response body, so its idle deadline (`conn.rs`) counts
//! only time with none. It also hands the request the plain TCP details, so
//! `remote_addr()` works as with tonic's own listener.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::body::Body as TonicBody;

use super::conn::{ConnInfo, RpcGuard};

/// Wraps a service so each RPC is counted on its connection.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ActiveRpcsLayer;

impl<S> tower_layer::Layer<S> for ActiveRpcsLayer {
    type Service = ActiveRpcs<S>;

    fn layer(&self, inner: S) -> ActiveRpcs<S> {
        ActiveRpcs { inner }
    }
}

/// The service [`ActiveRpcsLayer`] wraps around `S`.
#[derive(Debug, Clone)]
pub(super) struct ActiveRpcs<S> {
    inner: S,
}

impl<S, B> tower_service::Service<http::Request<B>> for ActiveRpcs<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<TonicBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let guard = match request.extensions().get::<ConnInfo>().cloned() {
            Some(info) => {
                request.extensions_mut().insert(info.tcp);
                Some(info.state.begin())
            }
            None => None,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(match guard {
                Some(guard) => response.map(|body| {
                    TonicBody::new(Counted {
                        inner: body,
                        _guard: guard,
                    })
                }),
                None => response,
            })
        })
    }
}

/// A response body that holds its RPC's guard until it is done with.
struct Counted {
    inner: TonicBody,
    _guard: RpcGuard,
}

impl Body for Counted {
    type Data = <TonicBody as Body>::Data;
    type Error = <TonicBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
