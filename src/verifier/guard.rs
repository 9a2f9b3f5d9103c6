//! Guarding a service: the tonic [`AuthInterceptor`], the tower [`AuthLayer`], and
//! [`require_role`]. Both guards read `authorization: Bearer <token>`, answer a
//! missing or refused token with UNAUTHENTICATED and the reason tessera's Verify
//! would give, and put the token's [`AccessClaims`] into the request's extensions.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::Verifier;
use crate::grpc::status::{missing_bearer, permission_denied};
use crate::token::AccessClaims;

/// The token in an `authorization` value of the form `Bearer <token>` (the scheme
/// in any case), or `None`.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn token_in(metadata: &MetadataMap) -> Result<&str, Status> {
    metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(missing_bearer)
}

/// A tonic interceptor requiring a valid bearer token: wrap a service with
/// `FooServer::with_interceptor(svc, verifier.interceptor())`. Verifies without
/// network (local and live mode; remote mode needs [`AuthLayer`]). Cheap to clone.
#[derive(Clone)]
pub struct AuthInterceptor {
    verifier: Verifier,
}

impl AuthInterceptor {
    /// An interceptor over `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = token_in(request.metadata())?;
        let claims = self.verifier.verify(token).map_err(Status::from)?;
        request.extensions_mut().insert(claims);
        Ok(request)
    }
}

/// The claims the interceptor or the layer verified for this request, or
/// UNAUTHENTICATED if none did.
pub fn claims<T>(request: &Request<T>) -> Result<&AccessClaims, Status> {
    request
        .extensions()
        .get::<AccessClaims>()
        .ok_or_else(missing_bearer)
}

/// The verified claims if they carry `role`; PERMISSION_DENIED (reason
/// PERMISSION_DENIED) if they do not, UNAUTHENTICATED if no token was verified.
pub fn require_role<'r, T>(
    request: &'r Request<T>,
    role: &str,
) -> Result<&'r AccessClaims, Status> {
    let claims = claims(request)?;
    if claims.roles.iter().any(|r| r == role) {
        Ok(claims)
    } else {
        Err(permission_denied())
    }
}

/// A tower layer requiring a valid bearer token, for services that compose layers:
/// `Server::builder().layer(verifier.layer())`, or around one service with
/// `verifier.layer().layer(FooServer::new(svc))`. Works in every mode (remote mode
/// asks tessera asynchronously).
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Verifier,
}

impl AuthLayer {
    /// A layer over `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = RequireToken<S>;

    fn layer(&self, inner: S) -> RequireToken<S> {
        RequireToken {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around `S`.
#[derive(Clone)]
pub struct RequireToken<S> {
    inner: S,
    verifier: Verifier,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for RequireToken<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower_service::Service<http::Request<B>> for RequireToken<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this call; its clone the next one.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let token = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token)
                .map(str::to_owned);
            let verified = match token {
                Some(token) => verifier.check(&token).await.map_err(Status::from),
                None => Err(missing_bearer()),
            };
            match verified {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_required() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
