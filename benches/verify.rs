//! What the interceptor costs per token, beside a bare RS256 signature check of the
//! same token: with the verified-token cache off (every call checks the signature, as
//! for a token seen the first time) and with it on (the same token again). Starts a real tessera in-process (SQLite in a temp folder) so the
//! verifier fetches its keys and follows its revocation stream as in production.
//!
//! ```text
//! cargo bench --bench verify
//! ```

use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera::config::Config;
use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::{GetJwksRequest, LoginRequest, RegisterRequest};
use tessera::verifier::{Mode, Verifier, VerifierConfig};
use tonic::service::Interceptor;
use tonic::transport::Channel;

const PASSWORD: &str = "correct horse battery";

struct Fixture {
    token: String,
    /// The modulus and exponent of the key that signed `token`, from the JWKS.
    public: (Vec<u8>, Vec<u8>),
    /// With the default verified-token cache: the same token hits it after the first call.
    local: Verifier,
    live: Verifier,
    /// With the cache off: every call checks the signature.
    local_uncached: Verifier,
    live_uncached: Verifier,
    /// The tessera the verifiers follow; stops when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let data = tempfile::tempdir().expect("a temp folder");
    let mut config = Config::with_data_dir(data.path());
    config.listen = "127.0.0.1:0".parse().expect("an address");
    config.hashing.algorithm = tessera::password::Algorithm::Bcrypt { cost: 4 };
    let server = tessera::server::prepare(config, tessera::clock::Clock::system())
        .await
        .expect("tessera starts");
    let url = format!("http://{}", server.local_addr().expect("bound"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut client = AuthServiceClient::connect(url.clone())
        .await
        .expect("connects");
    let email = "bench@example.com".to_string();
    client
        .register(RegisterRequest {
            email: email.clone(),
            password: PASSWORD.into(),
        })
        .await
        .expect("registers");
    let token = client
        .login(LoginRequest {
            email,
            password: PASSWORD.into(),
        })
        .await
        .expect("logs in")
        .into_inner()
        .tokens
        .expect("tokens")
        .access_token;
    let kid = jsonwebtoken::decode_header(&token)
        .expect("a JWT")
        .kid
        .expect("a kid");
    let jwk = client
        .get_jwks(GetJwksRequest {})
        .await
        .expect("the key set")
        .into_inner()
        .keys
        .into_iter()
        .find(|k| k.kid == kid)
        .expect("the signing key is published");
    let public = (
        URL_SAFE_NO_PAD.decode(&jwk.n).expect("base64url"),
        URL_SAFE_NO_PAD.decode(&jwk.e).expect("base64url"),
    );

    let verifier = |mode, verified_cache| {
        let channel = Channel::from_shared(url.clone())
            .expect("a URL")
            .connect_lazy();
        let mut config = VerifierConfig::new("tessera", "tessera");
        config.mode = mode;
        config.verified_cache = verified_cache;
        Verifier::new(channel, config)
    };
    let default_cache = VerifierConfig::new("tessera", "tessera").verified_cache;
    let (local, live) = (
        verifier(Mode::Local, default_cache),
        verifier(Mode::Live, default_cache),
    );
    let (local_uncached, live_uncached) = (verifier(Mode::Local, 0), verifier(Mode::Live, 0));
    for v in [&local, &live, &local_uncached, &live_uncached] {
        assert!(v.ready(Duration::from_secs(5)).await, "keys fetched");
    }
    while !live.revocations_live() || !live_uncached.revocations_live() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Fixture {
        token,
        public,
        local,
        live,
        local_uncached,
        live_uncached,
        _stop: stop,
        _data: data,
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let _guard = runtime.enter();
    let f = runtime.block_on(fixture());

    // The bare check: the RSA signature over the token's first two parts under the
    // public key, parsed once; no header, no claims, no JSON.
    let (signed, signature) = f.token.rsplit_once('.').expect("a JWT");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let der = RsaPublicKeyComponents {
        n: &f.public.0,
        e: &f.public.1,
    }
    .as_der()
    .expect("a public key");
    let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_ref()).expect("a key");

    let mut group = c.benchmark_group("verify");
    group.bench_function("bare RS256 signature check", |b| {
        b.iter(|| {
            key.verify_sig(signed.as_bytes(), &signature)
                .expect("valid")
        })
    });
    for (name, verifier) in [
        ("interceptor, local mode, cache off", &f.local_uncached),
        ("interceptor, live mode, cache off", &f.live_uncached),
        ("interceptor, local mode, token seen before", &f.local),
        ("interceptor, live mode, token seen before", &f.live),
    ] {
        let mut interceptor = verifier.interceptor();
        let header: tonic::metadata::MetadataValue<_> =
            format!("Bearer {}", f.token).parse().expect("ascii");
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut request = tonic::Request::new(());
                request
                    .metadata_mut()
                    .insert("authorization", header.clone());
                interceptor.call(request).expect("verified")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
