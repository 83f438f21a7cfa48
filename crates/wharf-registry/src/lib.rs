//! wharf-registry: the OCI Distribution registry behind `wharf serve`.
//!
//! Layered as routes → services → storage:
//! - [`routes`]: HTTP only — paths, headers, status codes, the OCI error JSON.
//! - [`service`]: what the registry does (uploads, mounts, manifests, listings), in terms of
//!   names, digests and byte streams.
//! - [`storage`]: blobs through `object_store` ([`storage::BlobStore`]), upload sessions'
//!   bytes in local files ([`storage::UploadArea`]), metadata in SQL through `sqlx`.
//!
//! It does not link the local image store (`wharf-store`): a registry is its own storage.

pub mod auth;
pub mod config;
pub mod error;
pub mod gate;
pub mod gc;
pub mod idle;
pub mod metrics;
pub mod routes;
pub mod service;
pub mod storage;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, ConfigError};
pub use error::{Code, Error, StorageError};
pub use gate::Gate;
pub use routes::{router, router_with};
pub use service::Registry;

/// Serves `registry` on `listener` until `shutdown` resolves; requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = idle::IdleTimeout::new(listener, idle::DEFAULT_CLIENT_TIMEOUT);
    axum::serve(listener, routes::with_access_log(router(registry)))
        .with_graceful_shutdown(shutdown)
        .await
}

/// How [`serve_with`] serves.
#[derive(Clone)]
pub struct Serving {
    /// HTTPS with this configuration; None: plain HTTP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// A connection on which nothing moves for this long is closed ([`idle`]).
    pub client_timeout: Duration,
    /// Log every request (tracing at INFO).
    pub access_log: bool,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            tls: None,
            client_timeout: idle::DEFAULT_CLIENT_TIMEOUT,
            access_log: true,
        }
    }
}

/// Serves `registry` behind `gate` on `listener` as `serving` says, until `shutdown`
/// resolves; requests in flight finish.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    gate: Gate,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = router_with(registry, gate);
    if serving.access_log {
        app = routes::with_access_log(app);
    }
    match serving.tls {
        None => {
            let listener = idle::IdleTimeout::new(listener, serving.client_timeout);
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            let listener = idle::IdleTimeout::new(listener, serving.client_timeout);
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (inside a
/// runtime), not when it is first polled, so a signal right after start is not fatal.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
