//! The claims of a tessera access token.

use serde::{Deserialize, Serialize};

/// What an access token asserts. Nothing in it is secret: anyone holding the token
/// can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the configured `TESSERA_ISSUER`.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audiences. Issued as a single string; a list is accepted on verify.
    #[serde(with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not before, seconds since the Unix epoch; checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id, unique per token.
    pub jti: String,
    /// Session id: revoking the session revokes the token.
    pub sid: String,
    /// The user's email when the token was issued.
    pub email: String,
    /// The user's roles when the token was issued.
    pub roles: Vec<String>,
    /// Whether the user had verified their email when the token was issued (false
    /// when absent, in tokens of older builds).
    #[serde(default)]
    pub email_verified: bool,
}

mod one_or_many {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[String], s: S) -> Result<S::Ok, S::Error> {
        match value {
            [one] => s.serialize_str(one),
            many => s.collect_seq(many),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        })
    }
}
