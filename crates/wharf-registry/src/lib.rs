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
pub mod limits;
mod linger;
pub mod listen;
pub mod metrics;
mod request_body;
pub mod routes;
pub mod server;
pub mod service;
pub mod storage;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, ConfigError};
pub use error::{Code, Error, StorageError};
pub use gate::Gate;
pub use routes::{router, router_with, routers};
pub use service::Registry;

/// Serves `registry` on `listener` until `shutdown` resolves; requests in flight finish
/// (within [`DEFAULT_SHUTDOWN_TIMEOUT`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(
        listener,
        registry,
        Gate::open(),
        Serving::default(),
        shutdown,
    )
    .await
}

/// How long requests in flight may take to finish after a shutdown is asked for.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's headers (counted from the connection's
/// start or the previous answer, so also how long a keep-alive connection may sit idle).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest a request body may arrive on average, after the client timeout's grace.
pub const DEFAULT_BODY_MIN_RATE: u64 = 1024;

/// Builds pages served beside the API (the web pages of `wharf-web`) from the registry and
/// its gate. They are merged into the registry's application, under its middleware
/// (access log, metrics, `nosniff`); they must not claim `/v2`, `/token`, `/healthz` or
/// `/metrics`.
pub type Pages = Arc<dyn Fn(Arc<Registry>, Arc<Gate>) -> axum::Router + Send + Sync>;

/// How [`serve_with`] serves.
#[derive(Clone)]
pub struct Serving {
    /// HTTPS with this configuration; None: plain HTTP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// A connection on which nothing moves for this long is closed ([`idle`]).
    pub client_timeout: Duration,
    /// Request headers must arrive within this.
    pub header_timeout: Duration,
    /// Bytes per second a request body must keep up, after a grace of `client_timeout`;
    /// 0: no minimum.
    pub body_min_rate: u64,
    /// Open connections at most (lowered to fit `ulimit -n`, [`limits::fitting`]).
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_client: usize,
    /// After a shutdown is asked for, connections still open this long are dropped.
    pub shutdown_timeout: Duration,
    /// Log every request (tracing at INFO).
    pub access_log: bool,
    /// Pages served beside the API; None: the API alone.
    pub pages: Option<Pages>,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            tls: None,
            client_timeout: idle::DEFAULT_CLIENT_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_min_rate: DEFAULT_BODY_MIN_RATE,
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: limits::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            access_log: true,
            pages: None,
        }
    }
}

/// Serves `registry` behind `gate` on `listener` as `serving` says, until `shutdown`
/// resolves; requests in flight finish within `serving.shutdown_timeout`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    gate: Gate,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_metrics(listener, None, registry, gate, serving, shutdown).await
}

/// [`serve_with`], and `/metrics` on `metrics` (plain HTTP, no auth, no access log)
/// instead of on `listener` when given.
pub async fn serve_with_metrics(
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    registry: Arc<Registry>,
    gate: Gate,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (mut app, metrics_app) =
        routes::routers(registry, gate, metrics.is_some(), serving.pages.as_ref());
    if serving.access_log {
        app = routes::with_access_log(app);
    }
    let (Some(metrics), Some(metrics_app)) = (metrics, metrics_app) else {
        return server::run(listener, app, &serving, shutdown).await;
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stopping = tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let metrics_serving = Serving {
        tls: None,
        ..serving.clone()
    };
    let served = tokio::try_join!(
        server::run(listener, app, &serving, until_stopped(stopped.clone())),
        server::run(
            metrics,
            metrics_app,
            &metrics_serving,
            until_stopped(stopped)
        ),
    );
    stopping.abort();
    served.map(|_| ())
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
