//! Logins of the web pages: a signed cookie (a JWT, HMAC-SHA256) naming the user. It also
//! carries a fingerprint of the user's password hash, so changing a password or removing
//! the user from the htpasswd file ends every session they had.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthSetupError;

/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The audience of session tokens: a bearer token of the API is never a login, nor the
/// reverse.
const AUDIENCE: &str = "wharf-web-session";

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    /// The fingerprint of the user's password hash when they logged in.
    pwd: String,
}

impl Sessions {
    /// Signed with the secret in `key`, or a random one (sessions end with the process).
    pub fn load(key: Option<&Path>) -> Result<Sessions, AuthSetupError> {
        let secret = match key {
            None => super::token::random_secret(),
            Some(path) => super::token::read_secret(path)?,
        };
        Ok(Sessions {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
        })
    }

    /// The cookie value of a login of `user`, whose password hash has `fingerprint`.
    pub fn issue(&self, user: &str, fingerprint: &str) -> String {
        let now = crate::storage::now().max(0) as u64;
        let claims = Claims {
            sub: user.to_string(),
            aud: AUDIENCE.to_string(),
            exp: now + SESSION_LIFETIME.as_secs(),
            iat: now,
            pwd: fingerprint.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail")
    }

    /// The user and password fingerprint of a valid, unexpired session cookie.
    pub fn verify(&self, cookie: &str) -> Option<(String, String)> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Claims>(cookie, &self.decoding, &validation)
            .ok()?
            .claims;
        Some((claims.sub, claims.pwd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_only_with_their_secret() {
        let sessions = Sessions::load(None).unwrap();
        let cookie = sessions.issue("alice", "f1");
        assert_eq!(
            sessions.verify(&cookie),
            Some(("alice".to_string(), "f1".to_string()))
        );
        assert!(Sessions::load(None).unwrap().verify(&cookie).is_none());
        assert!(sessions.verify(&format!("{cookie}x")).is_none());
        assert!(sessions.verify("").is_none());
    }
}
