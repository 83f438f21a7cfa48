//! Authentication: which scheme each registry asked for (learned from its first `401`),
//! the credential for it, and Bearer tokens cached per registry and scope until they expire.

pub mod challenge;
pub mod credentials;
pub mod store;
pub(crate) mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};

use crate::endpoint::Endpoint;
use crate::error::{ClientError, Result};
use crate::transport::Transport;
use credentials::{Credential, CredentialProvider, Secret};
use token::Token;

/// The access a request needs, as token-server scopes (`repository:library/redis:pull`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Scope(Vec<String>);

impl Scope {
    pub fn none() -> Scope {
        Scope::default()
    }

    pub fn pull(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull")])
    }

    pub fn push(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }

    /// Listing the registry's repositories (`GET /v2/_catalog`), as distribution's token
    /// auth names it.
    pub fn catalog() -> Scope {
        Scope(vec!["registry:catalog:*".to_string()])
    }

    /// Deleting in `repository` (distribution asks for `delete`; others take `push`).
    pub fn delete(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push,delete")])
    }

    /// Space-separated scopes, as a challenge's `scope` parameter holds them.
    pub fn parse(text: &str) -> Scope {
        Scope::default().and(Scope(text.split(' ').map(str::to_string).collect()))
    }

    pub fn and(mut self, other: Scope) -> Scope {
        self.0.extend(other.0);
        self.0.retain(|s| !s.is_empty());
        self.0.sort();
        self.0.dedup();
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    fn key(&self) -> String {
        self.0.join(" ")
    }
}

#[derive(Debug, Clone)]
enum AuthScheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

pub(crate) struct Auth {
    provider: Arc<dyn CredentialProvider>,
    /// By credential key: looked up once per client (a helper program may be slow).
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    /// By endpoint: what its last `401` asked for.
    schemes: Mutex<HashMap<String, AuthScheme>>,
    /// By endpoint and scope. The async lock makes concurrent requests that need the same
    /// new token wait for one fetch instead of each fetching it.
    tokens: tokio::sync::Mutex<HashMap<(String, String), Token>>,
}

fn endpoint_key(endpoint: &Endpoint) -> String {
    format!("{}{}", endpoint.host, endpoint.prefix)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bearer(token: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ClientError::Setup("a bearer token holds characters a header cannot".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn basic(user: &str, password: &str) -> Result<HeaderValue> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut v = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| ClientError::Setup("invalid Basic credentials".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Auth {
    pub fn new(provider: Arc<dyn CredentialProvider>) -> Auth {
        Auth {
            provider,
            credentials: Mutex::new(HashMap::new()),
            schemes: Mutex::new(HashMap::new()),
            tokens: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub async fn credential(&self, endpoint: &Endpoint) -> Result<Option<Credential>> {
        let key = endpoint.credential_key().to_string();
        if let Some(found) = lock(&self.credentials).get(&key) {
            return Ok(found.clone());
        }
        let provider = self.provider.clone();
        let lookup = key.clone();
        let found = tokio::task::spawn_blocking(move || provider.credential(&lookup))
            .await
            .map_err(|e| ClientError::Credentials {
                registry: key.clone(),
                reason: format!("lookup failed: {e}"),
            })??;
        lock(&self.credentials).insert(key, found.clone());
        Ok(found)
    }

    /// The `Authorization` header for a request, from what the endpoint asked for before.
    /// Nothing until its first `401`: anonymous access is tried first, as containerd does.
    pub async fn authorization(
        &self,
        transport: &Transport,
        endpoint: &Endpoint,
        scope: &Scope,
    ) -> Result<Option<HeaderValue>> {
        let scheme = lock(&self.schemes).get(&endpoint_key(endpoint)).cloned();
        let credential = match scheme {
            None => return Ok(None),
            Some(_) => self.credential(endpoint).await?,
        };
        if let Some(Secret::RegistryToken(t)) = credential.as_ref().map(|c| &c.secret) {
            return bearer(t).map(Some);
        }
        match scheme {
            Some(AuthScheme::Basic) => match credential.as_ref().and_then(Credential::basic_pair) {
                Some((user, password)) => basic(user, password).map(Some),
                None => Ok(None),
            },
            Some(AuthScheme::Bearer { realm, service }) => {
                let token = self
                    .token(
                        transport,
                        endpoint,
                        &realm,
                        service.as_deref(),
                        scope,
                        None,
                        None,
                    )
                    .await?;
                bearer(&token).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Learns from a `401`: records the scheme and, for Bearer, fetches a token (with the
    /// challenge's own scope added, for `insufficient_scope`). Errors when nothing more can
    /// be tried: no credentials for Basic, or the credentials just sent were refused.
    pub async fn challenged(
        &self,
        transport: &Transport,
        endpoint: &Endpoint,
        scope: &Scope,
        headers: &HeaderMap,
        sent: Option<&HeaderValue>,
    ) -> Result<()> {
        let challenges: Vec<_> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(challenge::parse)
            .collect();
        let key = endpoint_key(endpoint);
        if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = c
                .param("realm")
                .ok_or_else(|| ClientError::InvalidResponse {
                    registry: endpoint.display(),
                    what: "a request".into(),
                    reason: "its Bearer challenge names no realm".into(),
                })?
                .to_string();
            let service = c.param("service").map(str::to_string);
            lock(&self.schemes).insert(
                key,
                AuthScheme::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                },
            );
            let extra = c.param("scope").map(Scope::parse);
            let stale = sent
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            self.token(
                transport,
                endpoint,
                &realm,
                service.as_deref(),
                scope,
                extra,
                stale,
            )
            .await?;
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            lock(&self.schemes).insert(key, AuthScheme::Basic);
            let usable = self
                .credential(endpoint)
                .await?
                .is_some_and(|c| c.basic_pair().is_some());
            if !usable || sent.is_some() {
                return Err(self.rejected(endpoint).await);
            }
            return Ok(());
        }
        Err(ClientError::Unauthorized {
            registry: endpoint.display(),
            reason: "answered 401 without a Basic or Bearer challenge".into(),
            credentials: sent.is_some(),
        })
    }

    /// The error for a request still refused after authenticating.
    pub async fn rejected(&self, endpoint: &Endpoint) -> ClientError {
        let (reason, credentials) = match self.credential(endpoint).await {
            Ok(Some(c)) => (
                format!(
                    "did not accept the credentials from {} (wrong credentials, or no access to this repository)",
                    c.source
                ),
                true,
            ),
            Ok(None) => (
                format!(
                    "requires authentication, and no credentials were found for `{}`",
                    endpoint.credential_key()
                ),
                false,
            ),
            Err(e) => return e,
        };
        ClientError::Unauthorized {
            registry: endpoint.display(),
            reason,
            credentials,
        }
    }

    /// A token for `scope`: the cached one while it is fresh, else a new one. `renew` is a
    /// token the registry just refused: it is replaced, unless the cache already holds
    /// another (a concurrent request renewed it meanwhile).
    #[allow(clippy::too_many_arguments)]
    async fn token(
        &self,
        transport: &Transport,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
        extra: Option<Scope>,
        renew: Option<&str>,
    ) -> Result<String> {
        let key = (endpoint_key(endpoint), scope.key());
        let mut tokens = self.tokens.lock().await;
        if let Some(cached) = tokens.get(&key) {
            let refused = renew.is_some_and(|r| r == cached.value);
            if cached.is_fresh(Instant::now()) && !refused {
                return Ok(cached.value.clone());
            }
        }
        let credential = self.credential(endpoint).await?;
        let wanted = match extra {
            Some(extra) => scope.clone().and(extra),
            None => scope.clone(),
        };
        let token = token::fetch(
            transport,
            endpoint,
            realm,
            service,
            &wanted,
            credential.as_ref(),
        )
        .await?;
        let value = token.value.clone();
        tokens.insert(key, token);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_merge_sorted_and_unique() {
        let s = Scope::pull("library/redis").and(Scope::parse(
            "repository:library/redis:pull  repository:a/b:pull",
        ));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            ["repository:a/b:pull", "repository:library/redis:pull"]
        );
        assert_eq!(Scope::push("x").key(), "repository:x:pull,push");
        assert_eq!(Scope::none().iter().count(), 0);
    }

    #[test]
    fn auth_headers_are_sensitive() {
        let b = basic("alice", "pw").unwrap();
        assert!(b.is_sensitive());
        assert_eq!(b.to_str().unwrap(), "Basic YWxpY2U6cHc=");
        assert!(bearer("t").unwrap().is_sensitive());
    }
}
