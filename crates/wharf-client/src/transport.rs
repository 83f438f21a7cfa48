//! Sending one registry request: HTTPS with rustls (plain HTTP only where allowed), the
//! `Authorization` header and the `401` dance, redirects followed by hand so credentials
//! never go to another host, and retries with backoff.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, AUTHORIZATION, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::auth::{Auth, Scope};
use crate::config::ClientConfig;
use crate::endpoint::{allows_plain_http, Endpoint};
use crate::error::{describe, ClientError, Result};
use crate::event::{ClientEvent, EventHandler};
use crate::retry::{is_retryable_error, is_retryable_status, RetryPolicy};

const MAX_REDIRECTS: usize = 10;

pub(crate) struct Transport {
    /// Checks certificates against the system's roots and the configured CAs. Built on
    /// first use: loading and parsing the system's roots (hundreds of PEM files) costs a
    /// few milliseconds and a few hundred KiB that a pull from a plain-HTTP registry
    /// never needs. The configured CA files are checked up front all the same.
    secure: OnceLock<std::result::Result<reqwest::Client, String>>,
    ca_certs: Vec<reqwest::Certificate>,
    config: SecureConfig,
    /// Accepts any certificate: only for hosts allowed plain HTTP anyway (Docker's
    /// "insecure registry" semantics).
    lenient: reqwest::Client,
    insecure: Vec<String>,
    /// By endpoint: the scheme a loopback or insecure endpoint turned out to speak.
    schemes: Mutex<HashMap<String, &'static str>>,
    pub retry: RetryPolicy,
    events: Option<EventHandler>,
}

/// A request body. A stream can be sent once, so a request carrying one is not retried.
pub(crate) enum Body {
    Empty,
    Bytes(Bytes),
    Stream(Option<reqwest::Body>),
}

impl Body {
    fn replayable(&self) -> bool {
        !matches!(self, Body::Stream(_))
    }

    fn take(&mut self) -> Option<reqwest::Body> {
        match self {
            Body::Empty => None,
            Body::Bytes(b) => Some(reqwest::Body::from(b.clone())),
            Body::Stream(s) => s.take(),
        }
    }
}

pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    pub scope: &'a Scope,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, url: Url, scope: &'a Scope) -> Call<'a> {
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            scope,
        }
    }

    /// Names the request in messages: method and path, never the query.
    pub fn what(&self) -> String {
        format!("{} {}", self.method, self.url.path())
    }
}

enum Sent {
    Response(Response),
    Failed(reqwest::Error),
}

/// What the lazily built secure client needs from the [`ClientConfig`].
struct SecureConfig {
    user_agent: String,
    connect_timeout: Duration,
    read_timeout: Duration,
    resolve: Vec<(String, std::net::SocketAddr)>,
}

/// Reads and parses every configured CA file, so a bad one is reported when the client
/// is made, not at its first HTTPS request.
fn load_ca_certs(config: &ClientConfig) -> Result<Vec<reqwest::Certificate>> {
    let mut out = Vec::new();
    for path in &config.ca_certs {
        let pem = std::fs::read(path).map_err(|e| ClientError::Config {
            path: path.clone(),
            reason: format!("cannot read CA certificate: {e}"),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Config {
                path: path.clone(),
                reason: format!("not a PEM certificate bundle: {}", describe(e)),
            })?;
        if certs.is_empty() {
            return Err(ClientError::Config {
                path: path.clone(),
                reason: "holds no PEM certificate".into(),
            });
        }
        out.extend(certs);
    }
    Ok(out)
}

fn build_client(
    config: &SecureConfig,
    ca_certs: &[reqwest::Certificate],
    lenient: bool,
) -> std::result::Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(config.user_agent.clone())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_idle_timeout(Duration::from_secs(60));
    for cert in ca_certs {
        builder = builder.add_root_certificate(cert.clone());
    }
    for (host, addr) in &config.resolve {
        builder = builder.resolve(host, *addr);
    }
    if lenient {
        // Nothing is checked, so the system's roots need not be loaded for this one.
        builder = builder
            .danger_accept_invalid_certs(true)
            .tls_built_in_root_certs(false);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", describe(e)))
}

/// Whether a request failed because nothing answered at all (refused, timed out), as
/// opposed to an answer that was not what was asked for (plain HTTP to a TLS hello).
fn unreachable(error: &reqwest::Error) -> bool {
    if error.is_timeout() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
            ) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Transport {
    pub fn new(config: &ClientConfig) -> Result<Transport> {
        let ca_certs = load_ca_certs(config)?;
        let secure_config = SecureConfig {
            user_agent: config.user_agent.clone(),
            connect_timeout: config.connect_timeout,
            read_timeout: config.read_timeout,
            resolve: config
                .resolve
                .iter()
                .map(|(h, a)| (h.clone(), *a))
                .collect(),
        };
        let lenient = build_client(&secure_config, &ca_certs, true).map_err(ClientError::Setup)?;
        Ok(Transport {
            secure: OnceLock::new(),
            ca_certs,
            config: secure_config,
            lenient,
            insecure: config.insecure.clone(),
            schemes: Mutex::new(HashMap::new()),
            retry: config.retry.clone(),
            events: config.events.clone(),
        })
    }

    pub fn insecure(&self) -> &[String] {
        &self.insecure
    }

    pub fn emit(&self, event: ClientEvent) {
        if let Some(handler) = &self.events {
            handler.emit(&event);
        }
    }

    /// The HTTP client for a `host[:port]`: certificate checks are skipped only where plain
    /// HTTP would be allowed anyway.
    pub fn http_for(&self, host: &str) -> Result<&reqwest::Client> {
        if allows_plain_http(host, &self.insecure) {
            return Ok(&self.lenient);
        }
        self.secure
            .get_or_init(|| build_client(&self.config, &self.ca_certs, false))
            .as_ref()
            .map_err(|reason| ClientError::Setup(reason.clone()))
    }

    /// `scheme://host[/prefix]/v2/` for an endpoint. A loopback or insecure endpoint is
    /// asked over HTTPS first and falls back to plain HTTP, as Docker does; the answer is
    /// remembered once something answered.
    pub async fn base_url(&self, endpoint: &Endpoint) -> Result<Url> {
        let scheme = match endpoint.scheme {
            Some(s) => s,
            None if !endpoint.allow_http => "https",
            None => self.probe(endpoint).await,
        };
        let text = format!("{scheme}://{}{}/v2/", endpoint.host, endpoint.prefix);
        Url::parse(&text).map_err(|e| ClientError::Setup(format!("bad registry URL `{text}`: {e}")))
    }

    async fn probe(&self, endpoint: &Endpoint) -> &'static str {
        let key = format!("{}{}", endpoint.host, endpoint.prefix);
        if let Some(s) = self.schemes.lock().unwrap().get(&key) {
            return s;
        }
        let ping = self
            .lenient
            .get(format!("https://{key}/v2/"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let scheme = match &ping {
            Ok(_) => "https",
            // Something listens but does not speak TLS: plain HTTP, without a second ping
            // to confirm it (the request itself will tell).
            Err(e) if !unreachable(e) => "http",
            // Nothing answered: say plain HTTP, whose error the request will then report,
            // and ask again next time.
            Err(_) => return "http",
        };
        tracing::debug!(host = %endpoint.host, scheme, "registry scheme");
        self.schemes.lock().unwrap().insert(key, scheme);
        scheme
    }

    /// Sends a registry request with auth, redirects and retries. Any status comes back as
    /// a response (after retries ran out for retryable ones), except `401` after
    /// authenticating, which is an [`ClientError::Unauthorized`].
    pub async fn send(
        &self,
        auth: &Auth,
        endpoint: &Endpoint,
        mut call: Call<'_>,
    ) -> Result<Response> {
        let mut reauthenticated = false;
        let mut attempt = 1;
        loop {
            let sent = self
                .send_once(auth, endpoint, &mut call, &mut reauthenticated)
                .await?;
            let can_retry = attempt < self.retry.max_attempts && call.body.replayable();
            let (reason, delay) = match sent {
                Sent::Response(r) if can_retry && is_retryable_status(r.status()) => (
                    format!("answered {}", r.status()),
                    self.retry.delay_for(attempt, r.headers()),
                ),
                Sent::Response(r) => return Ok(r),
                Sent::Failed(e) if can_retry && is_retryable_error(&e) => {
                    (describe(e), self.retry.backoff(attempt))
                }
                Sent::Failed(e) => {
                    return Err(ClientError::Unreachable {
                        registry: endpoint.display(),
                        reason: format!("{}: {}", call.what(), describe(e)),
                    })
                }
            };
            tracing::debug!(registry = %endpoint.display(), what = %call.what(), attempt, ?delay, %reason, "retrying");
            self.emit(ClientEvent::Retrying {
                registry: endpoint.display(),
                what: call.what(),
                attempt,
                delay,
                reason,
            });
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        auth: &Auth,
        endpoint: &Endpoint,
        call: &mut Call<'_>,
        reauthenticated: &mut bool,
    ) -> Result<Sent> {
        let mut url = call.url.clone();
        let mut method = call.method.clone();
        let mut redirects = 0;
        loop {
            // Credentials go only to the origin the request was made for; a redirect to
            // object storage (another host, or another scheme or port) gets none.
            let same = same_origin(&url, &call.url);
            let mut request = self
                .http_for(&host_port(&url))?
                .request(method.clone(), url.clone())
                .headers(call.headers.clone());
            let authorization = match same {
                true => auth.authorization(self, endpoint, call.scope).await?,
                false => None,
            };
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value.clone());
            }
            if method != Method::GET && method != Method::HEAD {
                if let Some(body) = call.body.take() {
                    request = request.body(body);
                }
            }
            let mut response = match request.send().await {
                Ok(r) => r,
                Err(e) => return Ok(Sent::Failed(e)),
            };
            let status = response.status();
            // Only a refusal needs to know (a credential helper may be a process to run).
            if (status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED)
                && authorization.is_some()
                && auth.credential(endpoint).await.ok().flatten().is_some()
            {
                response
                    .extensions_mut()
                    .insert(crate::response::CredentialsUsed);
            }
            if status == StatusCode::UNAUTHORIZED && same {
                if *reauthenticated || !call.body.replayable() {
                    return Err(auth.rejected(endpoint).await);
                }
                auth.challenged(
                    self,
                    endpoint,
                    call.scope,
                    response.headers(),
                    authorization.as_ref(),
                )
                .await?;
                *reauthenticated = true;
                continue;
            }
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(Sent::Response(response));
            }
            let Some(location) = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(Sent::Response(response));
            };
            let next = url
                .join(location)
                .map_err(|_| ClientError::InvalidResponse {
                    registry: endpoint.display(),
                    what: call.what(),
                    reason: "redirect to an invalid location".into(),
                })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(ClientError::InvalidResponse {
                    registry: endpoint.display(),
                    what: call.what(),
                    reason: format!("redirect to unsupported scheme `{}`", next.scheme()),
                });
            }
            let keeps_method = matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            );
            if !keeps_method && method != Method::HEAD {
                method = Method::GET;
                call.body = Body::Empty;
            } else if !call.body.replayable() {
                return Ok(Sent::Response(response));
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(ClientError::InvalidResponse {
                    registry: endpoint.display(),
                    what: call.what(),
                    reason: format!("more than {MAX_REDIRECTS} redirects"),
                });
            }
            tracing::debug!(from = %crate::error::redact(&url), to = %crate::error::redact(&next), "redirect");
            url = next;
        }
    }

    /// Sends a request that is not a registry API call (a token request) with retries.
    pub async fn send_plain(
        &self,
        registry: &str,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let mut attempt = 1;
        loop {
            let can_retry = attempt < self.retry.max_attempts;
            let (reason, delay) = match build().send().await {
                Ok(r) if can_retry && is_retryable_status(r.status()) => (
                    format!("answered {}", r.status()),
                    self.retry.delay_for(attempt, r.headers()),
                ),
                Ok(r) => return Ok(r),
                Err(e) if can_retry && is_retryable_error(&e) => {
                    (describe(e), self.retry.backoff(attempt))
                }
                Err(e) => {
                    return Err(ClientError::Unreachable {
                        registry: registry.to_string(),
                        reason: format!("{what}: {}", describe(e)),
                    })
                }
            };
            self.emit(ClientEvent::Retrying {
                registry: registry.to_string(),
                what: what.to_string(),
                attempt,
                delay,
                reason,
            });
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://r.io/v2/a"),
            &u("https://r.io:443/v2/b?x")
        ));
        assert!(!same_origin(
            &u("https://r.io/v2/a"),
            &u("http://r.io/v2/a")
        ));
        assert!(!same_origin(
            &u("https://r.io/v2/a"),
            &u("https://s3.r.io/v2/a")
        ));
        assert!(!same_origin(
            &u("http://127.0.0.1:5000/"),
            &u("http://127.0.0.1:5001/")
        ));
        assert_eq!(host_port(&u("http://[::1]:5000/v2/")), "[::1]:5000");
        assert_eq!(host_port(&u("https://r.io/v2/")), "r.io");
    }
}
