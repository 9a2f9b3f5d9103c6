//! Every AuthService request message, as raw bytes off the wire, through the decoder
//! and then the checks its use case runs before touching the store: never a panic,
//! and whatever passes the checks is within the limits they promise.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tessera::domain::Password;
use tessera::domain::{Email, MAX_EMAIL_BYTES, MAX_LOGIN_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use tessera::password::bcrypt;
use tessera::proto;
use tessera::token::keys::SigningKey;
use tessera::token::refresh::RefreshToken;
use tessera::token::{KeySet, TokenVerifier};

static VERIFIER: LazyLock<TokenVerifier> = LazyLock::new(|| {
    let (key, _pem) = SigningKey::generate().expect("an RSA key");
    let mut keys = KeySet::new();
    assert!(keys.insert_jwk(&key.jwk()));
    TokenVerifier::new(keys, "tessera", "tessera-clients", 30)
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            if let Ok(r) = decoded::<proto::RegisterRequest>(body) {
                let email = email(&r.email);
                let password = Password::new(r.password, bcrypt::RULES);
                if let Ok(p) = &password {
                    assert!(p.expose().len() <= bcrypt::MAX_PASSWORD_BYTES);
                    assert!(p.expose().chars().count() >= MIN_PASSWORD_CHARS);
                }
                let _ = (email, password);
            }
        }
        1 => {
            if let Ok(r) = decoded::<proto::LoginRequest>(body) {
                email(&r.email);
                if let Some(p) = Password::for_login(r.password) {
                    assert!(!p.expose().is_empty());
                    assert!(p.expose().len() <= MAX_LOGIN_PASSWORD_BYTES);
                }
            }
        }
        2 => {
            if let Ok(r) = decoded::<proto::RefreshRequest>(body) {
                refresh(r.refresh_token);
            }
        }
        3 => {
            if let Ok(r) = decoded::<proto::LogoutRequest>(body) {
                refresh(r.refresh_token);
            }
        }
        4 => {
            if let Ok(r) = decoded::<proto::VerifyRequest>(body) {
                assert!(VERIFIER.verify(&r.access_token, 1_800_000_000).is_err());
            }
        }
        5 => {
            let _ = decoded::<proto::GetJwksRequest>(body);
        }
        _ => {
            let _ = decoded::<proto::WatchRevocationsRequest>(body);
        }
    }
});

/// Decodes `body` as `M`; what decodes encodes back to something that decodes to
/// the same message.
fn decoded<M: Message + Default + PartialEq>(body: &[u8]) -> Result<M, prost::DecodeError> {
    let message = M::decode(body)?;
    let again = M::decode(message.encode_to_vec().as_slice()).expect("re-encoded message");
    assert!(again == message, "a message changed on re-encoding");
    Ok(message)
}

fn email(raw: &str) {
    if let Ok(e) = Email::parse(raw) {
        assert!(e.as_str().len() <= MAX_EMAIL_BYTES);
    }
}

fn refresh(raw: String) {
    let empty = raw.is_empty();
    match RefreshToken::from_client(raw) {
        Some(token) => {
            assert!(!empty);
            let _ = token.hash();
        }
        None => assert!(empty),
    }
}
