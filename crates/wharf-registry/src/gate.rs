//! The HTTP side of auth: reading credentials from `Authorization`, answering 401 with the
//! `WWW-Authenticate` challenge clients follow (Basic, or Bearer with realm, service and
//! scope), 403 `DENIED`, and the token endpoint (`/token`) that issues bearer tokens.
//!
//! The Bearer challenge's realm is `[auth.token] realm`, or else `/token` on the address the
//! server is bound to; never the request's `Host` header, which a caller chooses (a forged
//! one would send clients' passwords elsewhere).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::auth::{Action, Auth, Caller, Credentials, Decision, Identity, ResourceActions};
use crate::error::{Code, Error, Result};

/// Auth as the router applies it: `None` lets every request through (the default, for a
/// registry on loopback).
pub struct Gate {
    auth: Option<Auth>,
    /// Where clients get tokens (with `[auth.token]`): configured, or derived once from the
    /// listening address.
    realm: Option<String>,
}

/// The auth setup cannot serve on this address.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(
        "`[auth.token]` has no `realm`, and `{addr}` listens on all interfaces: no address to send clients to for tokens\n\
         hint: set `realm` in `[auth.token]` to the URL clients reach `/token` at, e.g. `realm = \"https://registry.example.com/token\"`"
    )]
    RealmNeeded { addr: SocketAddr },
}

/// What a request is allowed, once its caller is known.
pub struct Access<'a> {
    gate: &'a Gate,
    caller: Caller,
}

impl Access<'_> {
    /// Whether the catalog lists `repository` to this caller: the rules decide (the token
    /// carries `registry:catalog:*`, not one scope per repository).
    pub fn lists(&self, repository: &str) -> bool {
        match &self.gate.auth {
            None => true,
            Some(auth) => auth.rules_allow(&self.caller, repository, Action::Pull),
        }
    }

    /// The user's name, for callers that identified themselves.
    pub fn user(&self) -> Option<String> {
        match self.caller.identity() {
            Identity::User(name) => Some(name),
            Identity::Anonymous => None,
        }
    }

    /// Whether the caller may do `action` on `repository` (mounts and catalog filtering).
    pub fn can(&self, repository: &str, action: Action) -> bool {
        match &self.gate.auth {
            None => true,
            Some(auth) => auth.decide(&self.caller, repository, action) == Decision::Allow,
        }
    }
}

impl Gate {
    pub fn open() -> Gate {
        Gate {
            auth: None,
            realm: None,
        }
    }

    /// Auth for a server bound to `listening` (with TLS when `tls`). Without a configured
    /// realm the token endpoint is announced as `http[s]://<listening>/token`, which needs
    /// a concrete address: on all interfaces (`0.0.0.0`, `[::]`) the realm must be set.
    pub fn new(auth: Option<Auth>, tls: bool, listening: SocketAddr) -> Result<Gate, GateError> {
        let realm = match auth.as_ref().and_then(Auth::tokens) {
            None => None,
            Some(tokens) => Some(token_realm(tokens.realm.as_deref(), tls, listening)?),
        };
        Ok(Gate { auth, realm })
    }

    pub fn is_open(&self) -> bool {
        self.auth.is_none()
    }

    /// Authenticates the request; wrong credentials are a 401 whatever is asked.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Access<'_>> {
        let Some(auth) = &self.auth else {
            return Ok(Access {
                gate: self,
                caller: Caller::Anonymous,
            });
        };
        let credentials = credentials(headers);
        let caller = match credentials {
            Some(c) => auth
                .authenticate(c)
                .await
                .map_err(|()| self.challenge(None, false, "the credentials are not valid"))?,
            None => {
                return Err(self.challenge(None, false, "the `Authorization` header is malformed"))
            }
        };
        Ok(Access { gate: self, caller })
    }

    /// A caller of the web pages: credentials in `Authorization` as the API takes them,
    /// else the user a login cookie names, else anonymous. Wrong credentials are a 401; a
    /// stale or forged cookie only means anonymous.
    pub async fn visitor(&self, headers: &HeaderMap, session: Option<&str>) -> Result<Access<'_>> {
        let (Some(auth), Some(cookie)) = (&self.auth, session) else {
            return self.caller(headers).await;
        };
        if headers.contains_key(header::AUTHORIZATION) {
            return self.caller(headers).await;
        }
        Ok(Access {
            gate: self,
            caller: auth.session(cookie).unwrap_or(Caller::Anonymous),
        })
    }

    /// A web login: the session cookie's value when the password is the user's. None also
    /// when the registry has no auth (there is nothing to log in to).
    pub async fn log_in(&self, user: &str, password: &str) -> Option<String> {
        self.auth.as_ref()?.log_in(user, password).await
    }

    /// `GET /v2/`: open registries answer anyone; otherwise callers must identify.
    pub fn check_base(&self, access: &Access<'_>) -> Result<()> {
        if self.auth.is_some() && matches!(access.caller, Caller::Anonymous) {
            return Err(self.challenge(None, false, "authentication required"));
        }
        Ok(())
    }

    /// 401 or 403 unless `access` may do `action` on `repository`.
    pub fn require(&self, access: &Access<'_>, repository: &str, action: Action) -> Result<()> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let scope = ResourceActions {
            kind: "repository".into(),
            name: repository.into(),
            actions: match action {
                // Docker's convention: a push asks for pull and push in one token.
                Action::Push => vec!["pull".into(), "push".into()],
                a => vec![a.name().into()],
            },
        };
        self.decided(auth.decide(&access.caller, repository, action), &scope)
    }

    pub fn require_catalog(&self, access: &Access<'_>) -> Result<()> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let scope = ResourceActions {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        };
        self.decided(auth.decide_catalog(&access.caller), &scope)
    }

    fn decided(&self, decision: Decision, scope: &ResourceActions) -> Result<()> {
        match decision {
            Decision::Allow => Ok(()),
            Decision::Challenge { insufficient_scope } => {
                Err(self.challenge(Some(scope), insufficient_scope, "authentication required"))
            }
            Decision::Deny => Err(Error::new(
                Code::Denied,
                format!(
                    "requested access to the resource is denied: `{}`",
                    scope.scope()
                ),
            )),
        }
    }

    /// 401 `UNAUTHORIZED` with the challenge that tells the client how to authenticate.
    fn challenge(
        &self,
        scope: Option<&ResourceActions>,
        insufficient_scope: bool,
        message: &str,
    ) -> Error {
        let value = match self.auth.as_ref().and_then(Auth::tokens) {
            Some(tokens) => {
                let realm = self.realm.as_deref().unwrap_or_default();
                let mut value = format!("Bearer realm=\"{realm}\",service=\"{}\"", tokens.service);
                if let Some(scope) = scope {
                    value.push_str(&format!(",scope=\"{}\"", scope.scope()));
                }
                if insufficient_scope {
                    value.push_str(",error=\"insufficient_scope\"");
                }
                value
            }
            None => "Basic realm=\"wharf\"".to_string(),
        };
        Error::new(Code::Unauthorized, message).with_header(header::WWW_AUTHENTICATE, value)
    }
}

/// The token realm of a server bound to `listening`: `configured`, or `/token` there. A
/// server about to bind checks it first, so a missing setting fails before anything starts.
pub fn token_realm(
    configured: Option<&str>,
    tls: bool,
    listening: SocketAddr,
) -> Result<String, GateError> {
    match configured {
        Some(realm) => Ok(realm.to_string()),
        None if listening.ip().is_unspecified() => Err(GateError::RealmNeeded { addr: listening }),
        None => {
            let scheme = if tls { "https" } else { "http" };
            Ok(format!("{scheme}://{listening}/token"))
        }
    }
}

/// `Some(Credentials::None)` without an `Authorization` header, `None` for a malformed one.
fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Some(Credentials::None);
    };
    let value = value.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(Credentials::Basic {
            user: user.to_string(),
            password: password.to_string(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Credentials::Bearer(rest.to_string()))
    } else {
        None
    }
}

/// `GET /token?service=&scope=...` (Basic credentials or none) and the OAuth2 form
/// `POST /token` (`grant_type=password`): a token for what the caller may have of the
/// scopes asked. Wrong credentials: 401, so `docker login` and `wharf login` fail loudly.
pub async fn token_endpoint(
    State(gate): State<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match issue(&gate, method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn issue(
    gate: &Gate,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let not_here = || {
        Error::new(Code::Unsupported, "this registry issues no tokens")
            .with_status(StatusCode::NOT_FOUND)
    };
    let auth = gate.auth.as_ref().ok_or_else(not_here)?;
    let tokens = auth.tokens().ok_or_else(not_here)?;
    let mut params: Vec<(String, String)> =
        Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
    let mut identity = Identity::Anonymous;
    if method == Method::POST {
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.map_err(|_| {
            Error::new(Code::Unsupported, "the token request body is too large")
                .with_status(StatusCode::BAD_REQUEST)
        })?;
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if field("grant_type") != "password" {
            return Err(Error::new(
                Code::Unsupported,
                "only `grant_type=password` is supported; or `GET` this endpoint with Basic credentials",
            )
            .with_status(StatusCode::BAD_REQUEST));
        }
        let user = field("username");
        if !auth.check_password(&user, &field("password")).await {
            return Err(wrong_password());
        }
        identity = Identity::User(user);
        params.extend(form.into_iter().filter(|(k, _)| k == "scope"));
    } else if method == Method::GET {
        match credentials(headers) {
            Some(Credentials::None) => {}
            Some(Credentials::Basic { user, password }) => {
                if !auth.check_password(&user, &password).await {
                    return Err(wrong_password());
                }
                identity = Identity::User(user);
            }
            _ => return Err(wrong_password()),
        }
    } else {
        return Err(Error::new(
            Code::Unsupported,
            format!("`{method}` is not supported on `/token`"),
        ));
    }
    let requested: Vec<ResourceActions> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| {
            v.split(' ')
                .filter_map(ResourceActions::parse)
                .collect::<Vec<_>>()
        })
        .collect();
    let granted = auth.grant(&identity, &requested);
    let token = tokens.issue(&identity, granted);
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": tokens.expires_in.as_secs(),
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

fn wrong_password() -> Error {
    Error::new(Code::Unauthorized, "incorrect username or password").with_header(
        header::WWW_AUTHENTICATE,
        "Basic realm=\"wharf\"".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Htpasswd, Rules, Tokens};

    fn token_auth(realm: Option<&str>) -> Auth {
        let config: crate::config::AuthConfig = toml::from_str(&format!(
            "htpasswd = \"x\"\n[token]\n{}",
            realm.map_or(String::new(), |r| format!("realm = \"{r}\"\n"))
        ))
        .unwrap();
        let tokens = Tokens::from_config(config.token.as_ref().unwrap()).unwrap();
        Auth::new(
            Htpasswd::parse("").unwrap(),
            Rules::from_config(&config),
            Some(tokens),
        )
    }

    #[test]
    fn the_realm_is_the_listening_address_or_the_configured_one() {
        let addr = |a: &str| a.parse::<SocketAddr>().unwrap();
        let gate = Gate::new(Some(token_auth(None)), true, addr("[::1]:5443")).unwrap();
        assert_eq!(gate.realm.as_deref(), Some("https://[::1]:5443/token"));
        let gate = Gate::new(Some(token_auth(None)), false, addr("10.0.0.7:5000")).unwrap();
        assert_eq!(gate.realm.as_deref(), Some("http://10.0.0.7:5000/token"));

        // All interfaces name no host to send clients to: the realm must be configured.
        for all in ["0.0.0.0:5000", "[::]:5000"] {
            let err = Gate::new(Some(token_auth(None)), false, addr(all))
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(&format!("`{all}`")), "{err}");
            assert!(err.contains("hint: set `realm` in `[auth.token]`"), "{err}");
        }
        let configured = Some("https://registry.example.com/token");
        let gate = Gate::new(Some(token_auth(configured)), false, addr("0.0.0.0:5000")).unwrap();
        assert_eq!(gate.realm.as_deref(), configured);

        // Basic auth and open registries announce no realm URL.
        assert!(Gate::new(None, false, addr("0.0.0.0:5000")).is_ok());
    }
}
