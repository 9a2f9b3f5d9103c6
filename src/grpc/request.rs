//! What every handler does with a request before the use case: read where it came
//! from, and run the use case to completion whatever the client does.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use tonic::{Request, Status};
use tracing::Instrument;

use crate::auth::{Auth, AuthError, ClientInfo};
use crate::store::Store;

/// Runs a use case that writes state as a task of its own, so a client that
/// cancels or times out cannot stop it half way: a login always settles the
/// failed-login budget it drew on, a logout always reaches the revocation set.
pub(super) async fn to_completion<S, Req, T, F, Fut>(
    auth: &Arc<Auth<S>>,
    request: Request<Req>,
    use_case: F,
) -> Result<T, Status>
where
    S: Store,
    F: FnOnce(Arc<Auth<S>>, Req, ClientInfo) -> Fut,
    Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
    T: Send + 'static,
{
    let client = client(&request);
    let work = use_case(auth.clone(), request.into_inner(), client);
    match tokio::spawn(work.in_current_span()).await {
        Ok(result) => Ok(result?),
        // Only a bug (a panic in the use case) gets here.
        Err(_) => Err(AuthError::Worker.into()),
    }
}

/// The client's address as the server resolved it for this request: the peer's,
/// or the one a trusted proxy forwarded (`config/proxies.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Where the request came from: the client's address and a bounded user agent.
fn client<T>(request: &Request<T>) -> ClientInfo {
    let address = match request.extensions().get::<ClientAddress>() {
        Some(ClientAddress(ip)) => Some(*ip),
        None => request.remote_addr().map(|a| a.ip()),
    };
    ClientInfo {
        address: address.map(|ip| ip.to_string()),
        user_agent: request
            .metadata()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    }
}
