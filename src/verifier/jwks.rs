//! The key task: GetJwks now, then every `jwks_refresh`, and when [`Shared::want_keys`]
//! asks. One task does every fetch, so concurrent requests for keys never stampede
//! tessera. A failed fetch keeps the last good keys and retries with backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

use super::Shared;
use crate::grpc::convert::from_jwk;
use crate::proto::GetJwksRequest;
use crate::token::{KeySet, TokenVerifier};

/// The first retry after a failed fetch; doubled up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A fetch that takes longer than this has failed.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let fetched = tokio::select! {
            fetched = tokio::time::timeout(FETCH_TIMEOUT, fetch(&shared)) => {
                fetched.unwrap_or_else(|_| Err("GetJwks timed out".into()))
            }
            _ = stop.changed() => return,
        };
        let wait = match fetched {
            Ok(count) => {
                debug!(keys = count, "fetched tessera's keys");
                backoff = FIRST_BACKOFF;
                shared.config.jwks_refresh
            }
            Err(reason) => {
                warn!(error = %reason, retry_in_ms = backoff.as_millis() as u64, "cannot fetch tessera's keys; keeping the last good ones");
                let wait = backoff.min(shared.config.jwks_refresh);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.refetch.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// One GetJwks; on success the new key set replaces the old one.
async fn fetch(shared: &Shared) -> Result<usize, String> {
    let response = shared
        .client
        .clone()
        .get_jwks(GetJwksRequest {})
        .await
        .map_err(|status| format!("{}: {}", status.code(), status.message()))?
        .into_inner();
    let mut set = KeySet::new();
    let mut count = 0;
    for jwk in response.keys {
        // Only RS256 signing keys; anything else in the set is not for us.
        if set.insert_jwk(&from_jwk(jwk)) {
            count += 1;
        }
    }
    if count == 0 {
        return Err("the key set holds no usable RS256 key".into());
    }
    let config = &shared.config;
    let verifier = TokenVerifier::new(
        set,
        &config.issuer,
        &config.audience,
        config.leeway.as_secs(),
    )
    .with_cache(config.verified_cache);
    let mut keys = shared.keys.write().unwrap_or_else(|e| e.into_inner());
    let verifier = match keys.as_ref() {
        Some(previous) => verifier.keeping_cache_of(previous),
        None => verifier,
    };
    *keys = Some(verifier);
    drop(keys);
    shared.has_keys.send_replace(true);
    Ok(count)
}
