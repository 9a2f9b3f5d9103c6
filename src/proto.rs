//! The generated `tessera.auth.v1` types, client and server.
//!
//! The server's WatchRevocations sends [`EncodedEvent`]: each event encoded once and
//! shared by every stream.
//!
//! Messages that carry a password or a token get a hand-written `Debug` that prints
//! `<redacted>` in place of the secret, so logging a request can never leak one.

#![allow(missing_docs, clippy::all)]

use std::fmt;

tonic::include_proto!("tessera.auth.v1");

mod encoded;
pub use encoded::EncodedEvent;

#[cfg(feature = "server")]
pub mod envoy;

/// The server, generated apart so that WatchRevocations sends [`EncodedEvent`]s.
mod server {
    include!(concat!(env!("OUT_DIR"), "/server/tessera.auth.v1.rs"));
}
pub use server::{admin_service_server, auth_service_server};

/// The encoded `FileDescriptorSet` of `proto/`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tessera_descriptor");

/// The fully qualified name of the service, as health checks and reflection name it.
pub const SERVICE_NAME: &str = "tessera.auth.v1.AuthService";

/// The fully qualified name of the admin service.
pub const ADMIN_SERVICE_NAME: &str = "tessera.auth.v1.AdminService";

const REDACTED: &str = "<redacted>";

impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("email", &self.email)
            .field("password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("tokens", &self.tokens)
            .field("user", &self.user)
            .finish()
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for RefreshResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshResponse")
            .field("tokens", &self.tokens)
            .finish()
    }
}

impl fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("refresh_token", &REDACTED)
            .field("all_sessions", &self.all_sessions)
            .finish()
    }
}

impl fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("access_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("current_password", &REDACTED)
            .field("new_password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for DeleteAccountRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeleteAccountRequest")
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("current_password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for ResetPasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetPasswordRequest")
            .field("token", &REDACTED)
            .field("new_password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for VerifyEmailRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyEmailRequest")
            .field("token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for CreateTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateTokenResponse")
            .field("token", &REDACTED)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_secret_carrying_messages_prints_no_secret() {
        let login = LoginRequest {
            email: "a@example.com".into(),
            password: "hunter2hunter2".into(),
        };
        let pair = TokenPair {
            access_token: "eyJhbGciOi.secret.sig".into(),
            refresh_token: "refresh-secret".into(),
            ..Default::default()
        };
        let change = ChangePasswordRequest {
            access_token: "eyJhbGciOi.secret.sig".into(),
            refresh_token: "refresh-secret".into(),
            current_password: "hunter2hunter2".into(),
            new_password: "hunter2hunter3".into(),
        };
        let delete = DeleteAccountRequest {
            access_token: "eyJhbGciOi.secret.sig".into(),
            refresh_token: "refresh-secret".into(),
            current_password: "hunter2hunter2".into(),
        };
        let reset = ResetPasswordRequest {
            token: "reset-secret".into(),
            new_password: "hunter2hunter4".into(),
        };
        let created = CreateTokenResponse {
            token: "created-secret".into(),
            expires_at: None,
        };
        let verify = VerifyEmailRequest {
            token: "verify-secret".into(),
        };
        let printed =
            format!("{login:?} {pair:?} {change:?} {delete:?} {reset:?} {created:?} {verify:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("secret"));
        assert!(printed.contains("a@example.com"));
    }
}
