//! The [`Client`]: shared, cheap to clone, safe to use from many tasks at once.

use std::future::Future;
use std::sync::Arc;

use reqwest::{Method, Response, StatusCode, Url};
use tokio::sync::Semaphore;

use crate::auth::{Auth, Scope};
use crate::config::ClientConfig;
use crate::endpoint::Endpoint;
use crate::error::{ClientError, Result};
use crate::event::ClientEvent;
use crate::response::{error_from, Subject};
use crate::transport::{Call, Transport};

/// An OCI Distribution client. Clones share connections, credentials, tokens and the
/// download limit.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: ClientConfig,
    pub transport: Transport,
    pub auth: Auth,
    /// Bounds blob downloads in flight across the whole client.
    pub downloads: Arc<Semaphore>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client> {
        if config.max_concurrent_downloads == 0 {
            return Err(ClientError::Setup(
                "`max_concurrent_downloads` must be at least 1".into(),
            ));
        }
        if config.retry.max_attempts == 0 {
            return Err(ClientError::Setup(
                "`retry.max_attempts` must be at least 1".into(),
            ));
        }
        for (registry, mirrors) in &config.mirrors {
            for mirror in mirrors {
                Endpoint::mirror(registry, mirror, &config.insecure)?;
            }
        }
        let transport = Transport::new(&config)?;
        let auth = Auth::new(config.credentials.clone());
        let downloads = Arc::new(Semaphore::new(config.max_concurrent_downloads));
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                transport,
                auth,
                downloads,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Checks that `registry` (a reference domain such as `docker.io` or
    /// `localhost:5000`) answers the API and accepts the configured credentials: what
    /// `login` does before storing them.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let endpoint = Endpoint::origin(registry, &self.inner.config.insecure);
        let scope = Scope::none();
        let url = self.url(&endpoint, "").await?;
        let call = Call::new(Method::GET, url, &scope);
        let what = call.what();
        let response = self.send(&endpoint, call).await?;
        match response.status() {
            StatusCode::OK => Ok(()),
            _ => Err(error_from(
                response,
                &endpoint.display(),
                &what,
                Subject::Repository { repository: "" },
            )
            .await),
        }
    }

    /// The endpoints for a registry, in the order to try them: its mirrors (for reads),
    /// then the registry itself.
    pub(crate) fn endpoints(&self, domain: &str, with_mirrors: bool) -> Vec<Endpoint> {
        let config = &self.inner.config;
        let mut out = Vec::new();
        if with_mirrors {
            if let Some(mirrors) = config.mirrors.get(domain) {
                // Validated in `Client::new`.
                out.extend(
                    mirrors
                        .iter()
                        .filter_map(|m| Endpoint::mirror(domain, m, &config.insecure).ok()),
                );
            }
        }
        out.push(Endpoint::origin(domain, &config.insecure));
        out
    }

    /// Runs `op` against each endpoint in turn until one succeeds; a failing mirror is
    /// reported and skipped, the registry's own answer is final.
    pub(crate) async fn on_endpoints<T, F, Fut>(
        &self,
        domain: &str,
        with_mirrors: bool,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut(Endpoint) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut endpoints = self.endpoints(domain, with_mirrors);
        let origin = endpoints.pop().expect("the registry itself is always last");
        for mirror in endpoints {
            let name = mirror.host.clone();
            match op(mirror).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    tracing::debug!(registry = domain, mirror = %name, error = %e, "mirror failed");
                    self.inner.transport.emit(ClientEvent::MirrorFailed {
                        registry: domain.to_string(),
                        mirror: name,
                        reason: e.to_string(),
                    });
                }
            }
        }
        op(origin).await
    }

    /// `scheme://host/v2/{path}`.
    pub(crate) async fn url(&self, endpoint: &Endpoint, path: &str) -> Result<Url> {
        let base = self.inner.transport.base_url(endpoint).await?;
        let text = format!("{base}{path}");
        Url::parse(&text).map_err(|e| ClientError::Setup(format!("bad request URL: {e}")))
    }

    pub(crate) async fn send(&self, endpoint: &Endpoint, call: Call<'_>) -> Result<Response> {
        self.inner
            .transport
            .send(&self.inner.auth, endpoint, call)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use wharf_spec::{Descriptor, Digest, Platform, RawManifest, Reference};

    fn send<T: Send>(_: &T) {}

    /// The pull operation runs these on spawned tasks: they must stay `Send`.
    #[test]
    fn operations_are_send_and_the_client_is_shareable() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Client>();
        let client = Client::new(ClientConfig::default()).unwrap();
        let r = Reference::parse_normalized("localhost:5000/x:1").unwrap();
        let d = Descriptor::new("application/octet-stream", Digest::sha256_of(b""), 0);
        let p = Platform::host();
        let m = RawManifest::parse(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec(),
            None,
        )
        .unwrap();
        send(&client.resolve(&r));
        send(&client.resolve_platform(&r, &p));
        send(&client.head_manifest(&r));
        send(&client.fetch_manifest(&r, &d));
        send(&client.fetch_blob(&r, &d, 0));
        send(&client.fetch_blob_bytes(&r, &d));
        send(&client.head_blob(&r, &d.digest));
        send(&client.push_blob(
            &r,
            &d,
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::new())]),
        ));
        send(&client.push_blob_bytes(&r, Bytes::new()));
        send(&client.mount_blob(&r, &d.digest, &r));
        send(&client.put_manifest(&r, &m));
        send(&client.tags(&r));
        send(&client.ping("localhost:5000"));
    }

    #[test]
    fn setup_errors_are_clear() {
        let bad = |c: ClientConfig| Client::new(c).unwrap_err().to_string();
        let err = bad(ClientConfig {
            max_concurrent_downloads: 0,
            ..ClientConfig::default()
        });
        assert!(err.contains("max_concurrent_downloads"), "{err}");
        let err = bad(ClientConfig {
            mirrors: [("docker.io".to_string(), vec!["ftp://m".to_string()])].into(),
            ..ClientConfig::default()
        });
        assert!(
            err.contains("ftp://m") && err.contains("docker.io"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("ca.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = bad(ClientConfig {
            ca_certs: vec![junk],
            ..ClientConfig::default()
        });
        assert!(err.contains("ca.pem"), "{err}");
    }
}
