//! Item 14: tokens forged with the server's own signing key, so only the claim and
//! header checks stand between them and acceptance; and the classic algorithm tricks.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tessera::proto::auth_service_client::AuthServiceClient;
use tessera::proto::{GetJwksRequest, VerifyRequest};
use tonic_types::StatusExt;

use crate::{Target, Verdict};

const YEAR: i64 = 365 * 24 * 3600;

pub async fn probes(target: &Target) -> Vec<Verdict> {
    let fail = |seen: String| {
        vec![Verdict::new(
            "14",
            "forge tokens with the trusted key",
            false,
            seen,
        )]
    };
    let pem = match std::fs::read(&target.signing_key) {
        Ok(pem) => pem,
        Err(e) => return fail(format!("cannot read the signing key: {e}")),
    };
    let Ok(key) = EncodingKey::from_rsa_pem(&pem) else {
        return fail("the signing key is not an RSA PEM".into());
    };
    let Ok(mut client) = AuthServiceClient::connect(target.url()).await else {
        return fail("no connection".into());
    };
    let jwks = match client.get_jwks(GetJwksRequest {}).await {
        Ok(r) => r.into_inner().keys,
        Err(e) => return fail(format!("GetJwks: {}", e.message())),
    };
    let Some(kid) = jwks.first().map(|k| k.kid.clone()) else {
        return fail("no published key".into());
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let claims = |iat: i64, exp: i64| {
        json!({
            "iss": target.issuer, "aud": target.audience,
            "sub": "00000000-0000-4000-8000-000000000001",
            "sid": "00000000-0000-4000-8000-000000000002",
            "email": "forged@abuse.test", "roles": ["admin"], "iat": iat, "exp": exp,
            "jti": "00000000-0000-4000-8000-000000000003",
        })
    };
    let header = |alg| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.clone());
        h
    };
    let sign =
        |h: &Header, c: &Value, k: &EncodingKey| jsonwebtoken::encode(h, c, k).unwrap_or_default();
    let fair = claims(now, now + 600);
    let mut crit = header(Algorithm::RS256);
    crit.crit = Some(vec!["exp".into()]);
    // The public key as an HMAC secret: the confusion RS256 pinning exists to stop.
    let public = jwks[0].n.as_bytes().to_vec();
    let cases = [
        (
            "control: a fair token signed with the key verifies",
            sign(&header(Algorithm::RS256), &fair, &key),
            "OK",
        ),
        (
            "a `crit` header is refused",
            sign(&crit, &fair, &key),
            "TOKEN_INVALID",
        ),
        (
            "`iat` a year ahead is refused",
            sign(
                &header(Algorithm::RS256),
                &claims(now + YEAR, now + YEAR + 600),
                &key,
            ),
            "TOKEN_INVALID",
        ),
        (
            "`exp` = i64::MAX is refused",
            sign(&header(Algorithm::RS256), &claims(now, i64::MAX), &key),
            "TOKEN_INVALID",
        ),
        (
            "alg none is refused",
            unsigned(&kid, &fair),
            "TOKEN_INVALID",
        ),
        (
            "HS256 keyed with the public key is refused",
            sign(
                &header(Algorithm::HS256),
                &fair,
                &EncodingKey::from_secret(&public),
            ),
            "TOKEN_INVALID",
        ),
    ];
    let mut verdicts = Vec::new();
    for (probe, token, expected) in cases {
        let answer = match client
            .verify(VerifyRequest {
                access_token: token,
            })
            .await
        {
            Ok(_) => "OK".to_owned(),
            Err(s) => s
                .get_details_error_info()
                .map_or_else(|| format!("{:?}", s.code()), |i| i.reason),
        };
        verdicts.push(Verdict::new("14", probe, answer == expected, answer));
    }
    verdicts
}

fn unsigned(kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}
