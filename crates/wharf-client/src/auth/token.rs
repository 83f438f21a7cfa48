//! The Bearer token flow: ask the realm named by a challenge for a token covering the
//! scopes a request needs — `GET realm?service=…&scope=…` with Basic credentials when there
//! are some, or an OAuth2 refresh-token `POST` for identity tokens.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::credentials::{Credential, Secret};
use super::Scope;
use crate::endpoint::{allows_plain_http, Endpoint};
use crate::error::{ClientError, Result};
use crate::transport::Transport;

/// The spec's default when a token server does not say how long a token lives.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// A bearer token. `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: String,
    pub expires_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Still good for a request about to be made: a token is renewed a little before it
    /// expires, so it does not run out between the check and the registry's.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now + Duration::from_secs(5) < self.expires_at
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Parses a token server's answer: `token` or `access_token` (Docker Hub sends both; some
/// servers only one), and `expires_in` seconds.
pub(crate) fn parse_response(body: &[u8], now: Instant) -> std::result::Result<Token, String> {
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|e| format!("answer is not token JSON: {e}"))?;
    let value = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or("answer has neither `token` nor `access_token`")?;
    let lifetime = parsed
        .expires_in
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME);
    Ok(Token {
        value,
        expires_at: now + lifetime,
    })
}

pub(crate) async fn fetch(
    transport: &Transport,
    endpoint: &Endpoint,
    realm: &str,
    service: Option<&str>,
    scope: &Scope,
    credential: Option<&Credential>,
) -> Result<Token> {
    let registry = endpoint.display();
    let fail = |reason: String| ClientError::Token {
        registry: registry.clone(),
        reason,
    };
    let realm_url = Url::parse(realm).map_err(|_| fail(format!("invalid realm `{realm}`")))?;
    let realm_host = realm_url
        .host_str()
        .map(|h| match realm_url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
        .unwrap_or_default();
    match realm_url.scheme() {
        "https" => {}
        "http" if allows_plain_http(&realm_host, transport.insecure()) => {}
        // Sending a password in the clear to a host nobody allowed that for: no.
        "http" if credential.is_some() => {
            return Err(fail(format!(
                "realm `{}` is plain HTTP; credentials are only sent over HTTPS (or to registries listed insecure)",
                crate::error::redact(&realm_url)
            )))
        }
        "http" => {}
        other => return Err(fail(format!("realm has unsupported scheme `{other}`"))),
    }

    let scopes: Vec<&str> = scope.iter().collect();
    let http = transport.http_for(&realm_host)?;
    let started = Instant::now();
    let response = match credential.map(|c| &c.secret) {
        Some(Secret::IdentityToken(refresh)) => {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", "wharf"),
            ];
            form.extend(service.map(|s| ("service", s)));
            let joined = scopes.join(" ");
            if !joined.is_empty() {
                form.push(("scope", joined.as_str()));
            }
            transport
                .send_plain(&registry, "token request", || {
                    http.request(Method::POST, realm_url.clone()).form(&form)
                })
                .await?
        }
        _ => {
            let mut query: Vec<(&str, &str)> =
                service.map(|s| ("service", s)).into_iter().collect();
            query.extend(scopes.iter().map(|s| ("scope", *s)));
            let basic = credential.and_then(Credential::basic_pair);
            transport
                .send_plain(&registry, "token request", || {
                    let mut req = http.get(realm_url.clone()).query(&query);
                    if let Some((user, password)) = basic {
                        req = req.basic_auth(user, Some(password));
                    }
                    req
                })
                .await?
        }
    };
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(ClientError::Unauthorized {
            registry,
            credentials: credential.is_some(),
            reason: match credential {
                Some(c) => format!(
                    "rejected the credentials from {} (its token server answered {status})",
                    c.source
                ),
                None => format!(
                    "requires authentication: its token server answered {status} to an anonymous request"
                ),
            },
        });
    }
    let body = crate::response::read_capped(response, 1 << 20, &registry, "token request").await?;
    if !status.is_success() {
        let snippet = String::from_utf8_lossy(&body);
        let snippet: String = snippet.trim().chars().take(200).collect();
        return Err(fail(format!("answered {status}: {snippet}")));
    }
    parse_response(&body, started).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_or_access_token_and_lifetime() {
        let now = Instant::now();
        let t = parse_response(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value, "abc");
        assert_eq!(t.expires_at, now + Duration::from_secs(300));
        let t = parse_response(br#"{"access_token":"xyz"}"#, now).unwrap();
        assert_eq!(t.value, "xyz");
        assert_eq!(t.expires_at, now + DEFAULT_LIFETIME);
        let t = parse_response(br#"{"token":"","access_token":"a","expires_in":0}"#, now).unwrap();
        assert_eq!(t.value, "a");
        assert!(parse_response(br#"{"expires_in":5}"#, now).is_err());
        assert!(parse_response(b"<html>", now).is_err());
    }

    #[test]
    fn freshness_leaves_a_margin() {
        let now = Instant::now();
        let t = Token {
            value: "SECRETVALUE".into(),
            expires_at: now + Duration::from_secs(60),
        };
        assert!(t.is_fresh(now));
        assert!(!t.is_fresh(now + Duration::from_secs(56)));
        assert!(!format!("{t:?}").contains("SECRETVALUE"));
    }
}
