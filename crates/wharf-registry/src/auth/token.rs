//! Bearer tokens issued by this registry (Docker's token-auth protocol): JWTs signed with
//! HMAC-SHA256, carrying the granted scopes as `access` claims, as distribution reads them.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Action, AuthSetupError, Identity};
use crate::config::TokenConfig;

/// A secret shorter than this is refused: it could be guessed.
const MIN_SECRET: usize = 32;

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub service: String,
    pub issuer: String,
    pub realm: Option<String>,
    pub expires_in: Duration,
}

/// One `access` entry: a resource and the actions granted on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceActions {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl ResourceActions {
    /// The scope string clients send and challenges name: `repository:NAME:pull,push`.
    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }

    /// Parses one scope; `None` for anything malformed (it is then not granted).
    pub fn parse(scope: &str) -> Option<ResourceActions> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(ResourceActions {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether this entry grants `action` on repository `name`.
    pub fn grants(&self, kind: &str, name: &str, action: &str) -> bool {
        self.kind == kind
            && self.name == name
            && self.actions.iter().any(|a| a == action || a == "*")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    #[serde(default)]
    access: Vec<ResourceActions>,
}

/// What a verified token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Identity,
    pub access: Vec<ResourceActions>,
}

impl Verified {
    pub fn grants_repository(&self, name: &str, action: Action) -> bool {
        self.access
            .iter()
            .any(|a| a.grants("repository", name, action.name()))
    }

    pub fn grants_catalog(&self) -> bool {
        self.access
            .iter()
            .any(|a| a.grants("registry", "catalog", "*"))
    }
}

impl Tokens {
    pub fn from_config(config: &TokenConfig) -> Result<Tokens, AuthSetupError> {
        let secret = match &config.key {
            Some(path) => read_secret(path)?,
            None => random_secret(),
        };
        Ok(Tokens {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            service: config.service.clone(),
            issuer: config.issuer.clone(),
            realm: config.realm.clone(),
            expires_in: config.expires_in,
        })
    }

    /// Signs a token for `identity` with exactly `access`.
    pub fn issue(&self, identity: &Identity, access: Vec<ResourceActions>) -> String {
        let now = crate::storage::now().max(0) as u64;
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: identity.subject().to_string(),
            aud: self.service.clone(),
            exp: now + self.expires_in.as_secs(),
            // A little slack for clocks of other replicas.
            nbf: now.saturating_sub(10),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            access,
        };
        // HS256 over serializable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature, issuer, audience and lifetime.
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&self.service]);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        Some(Verified {
            identity: match claims.sub.as_str() {
                "" => Identity::Anonymous,
                user => Identity::User(user.to_string()),
            },
            access: claims.access,
        })
    }
}

/// An HMAC secret from a file (surrounding whitespace dropped): [`MIN_SECRET`] bytes or
/// more, or an error that says how to make one.
pub(super) fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, AuthSetupError> {
    let bytes = std::fs::read(path).map_err(|source| AuthSetupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let trimmed = bytes.trim_ascii().to_vec();
    if trimmed.len() < MIN_SECRET {
        return Err(AuthSetupError::TokenKey {
            path: path.to_path_buf(),
            message: format!(
                "the secret is {} bytes; use {MIN_SECRET} or more (`head -c 32 /dev/urandom > {}`)",
                trimmed.len(),
                path.display()
            ),
        });
    }
    Ok(trimmed)
}

/// 244 random bits: a v4 UUID is drawn from the operating system's CSPRNG.
pub(super) fn random_secret() -> Vec<u8> {
    let mut secret = Vec::with_capacity(32);
    secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::from_config(&TokenConfig {
            realm: None,
            service: "svc".into(),
            issuer: "iss".into(),
            key: None,
            expires_in: Duration::from_secs(60),
        })
        .unwrap()
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_grants() {
        let t = tokens();
        let access = vec![ResourceActions::parse("repository:team/app:pull,push").unwrap()];
        let jwt = t.issue(&Identity::User("alice".into()), access.clone());
        let v = t.verify(&jwt).unwrap();
        assert_eq!(v.identity, Identity::User("alice".into()));
        assert!(v.grants_repository("team/app", Action::Push));
        assert!(!v.grants_repository("team/app", Action::Delete));
        assert!(!v.grants_repository("team/other", Action::Pull));
        // Another secret does not verify it; neither does tampering.
        assert!(tokens().verify(&jwt).is_none());
        assert!(t.verify(&format!("{jwt}x")).is_none());
    }

    #[test]
    fn scopes_parse() {
        let s = ResourceActions::parse("repository:a/b:pull").unwrap();
        assert_eq!((s.kind.as_str(), s.name.as_str()), ("repository", "a/b"));
        assert_eq!(s.scope(), "repository:a/b:pull");
        assert!(ResourceActions::parse("registry:catalog:*")
            .unwrap()
            .grants("registry", "catalog", "*"));
        assert!(ResourceActions::parse("nonsense").is_none());
    }
}
