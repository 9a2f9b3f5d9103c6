//! Access tokens and refresh tokens.
//!
//! - [`claims`]: what an access token says.
//! - [`jwks`]: public keys as JSON Web Keys, the domain form of GetJwks.
//! - [`cache`]: the bounded cache of tokens that verified, keyed by their SHA-256.
//! - [`revoked`]: the in-memory set of revoked sessions, shared by the Verify RPC and
//!   the live verifier.
//! - [`verify`]: the one verification path, shared by the Verify RPC and the
//!   client-side verifier; compiles under the `verifier` feature.
//! - `keys`, `ring`, `seal`, `issue`, `refresh` (server only): a signing key and its
//!   JWK, the ring of keys and their states over time, sealing private keys under
//!   the master key, issuing access tokens, opaque refresh tokens.

pub mod cache;
pub mod claims;
pub mod jwks;
pub mod keyset;
pub mod revoked;
pub mod verify;

#[cfg(feature = "server")]
pub mod issue;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod refresh;
#[cfg(feature = "server")]
pub mod ring;
#[cfg(feature = "server")]
pub mod seal;

pub use claims::AccessClaims;
pub use jwks::{Jwk, JwkSet};
pub use keyset::KeySet;
pub use revoked::RevokedSessions;
pub use verify::{CacheStats, TokenVerifier, VerifyError};
