//! proto <-> domain, both ways, in one place: the generated types stop here.

use std::time::Duration;

use crate::clock::secs;
use crate::proto;
use crate::token::{AccessClaims, Jwk};
#[cfg(feature = "server")]
use crate::{
    auth::{IssuedTokens, Revocation},
    domain::User,
};

/// Seconds since the Unix epoch as a protobuf timestamp.
pub fn timestamp(secs: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    }
}

/// A duration as a protobuf duration.
pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: secs(d),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf duration, negative ones as zero.
pub fn from_duration(d: &prost_types::Duration) -> Duration {
    Duration::new(
        u64::try_from(d.seconds).unwrap_or(0),
        u32::try_from(d.nanos).unwrap_or(0),
    )
}

/// Verified claims as Verify answers them.
pub fn claims(c: AccessClaims) -> proto::Claims {
    proto::Claims {
        subject: c.sub,
        email: c.email,
        roles: c.roles,
        session_id: c.sid,
        token_id: c.jti,
        issuer: c.iss,
        audience: c.aud,
        issued_at: Some(timestamp(c.iat)),
        expires_at: Some(timestamp(c.exp)),
        email_verified: c.email_verified,
    }
}

/// The claims a Verify answer carries (remote mode of the verifier).
pub fn from_claims(c: proto::Claims) -> AccessClaims {
    AccessClaims {
        iss: c.issuer,
        sub: c.subject,
        aud: c.audience,
        exp: c.expires_at.map_or(0, |t| t.seconds),
        iat: c.issued_at.map_or(0, |t| t.seconds),
        nbf: None,
        jti: c.token_id,
        sid: c.session_id,
        email: c.email,
        roles: c.roles,
        email_verified: c.email_verified,
    }
}

/// A published key as GetJwks answers it.
pub fn jwk(k: Jwk) -> proto::Jwk {
    proto::Jwk {
        kty: k.kty,
        kid: k.kid,
        r#use: k.use_,
        alg: k.alg,
        n: k.n,
        e: k.e,
    }
}

/// A key GetJwks answered.
pub fn from_jwk(k: proto::Jwk) -> Jwk {
    Jwk {
        kty: k.kty,
        kid: k.kid,
        use_: k.r#use,
        alg: k.alg,
        n: k.n,
        e: k.e,
    }
}

/// A user as Register and Login answer it: never the password hash.
#[cfg(feature = "server")]
pub fn user(u: User) -> proto::User {
    proto::User {
        id: u.id.to_string(),
        email: u.email.as_str().to_owned(),
        roles: u.roles,
        created_at: Some(timestamp(u.created_at)),
        disabled: u.disabled_at.is_some(),
        disabled_at: u.disabled_at.map(timestamp),
        email_verified: u.email_verified,
    }
}

/// A session as the admin API lists it.
#[cfg(feature = "server")]
pub fn session(s: crate::store::SessionRow) -> proto::Session {
    proto::Session {
        id: s.id.to_string(),
        user_id: s.user_id.to_string(),
        created_at: Some(timestamp(s.created_at)),
        expires_at: Some(timestamp(s.expires_at)),
        client_address: s.client_address.unwrap_or_default(),
        user_agent: s.user_agent.unwrap_or_default(),
    }
}

/// A count for a `uint32` field.
pub fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A freshly issued pair: the one place a refresh token leaves the server.
#[cfg(feature = "server")]
pub fn pair(tokens: IssuedTokens) -> proto::TokenPair {
    proto::TokenPair {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.expose().to_owned(),
        token_type: "Bearer".into(),
        expires_in: tokens.expires_in,
        refresh_expires_in: tokens.refresh_expires_in,
    }
}

/// A revoked session as WatchRevocations streams it.
#[cfg(feature = "server")]
pub fn revoked_session(r: &Revocation) -> proto::RevokedSession {
    proto::RevokedSession {
        session_id: r.session_id.clone(),
        forget_after: Some(timestamp(r.forget_after)),
    }
}
