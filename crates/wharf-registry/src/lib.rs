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

pub mod error;
pub mod routes;
pub mod service;
pub mod storage;

use std::future::Future;
use std::sync::Arc;

pub use error::{Code, Error, StorageError};
pub use routes::router;
pub use service::Registry;

/// Serves `registry` on `listener` until `shutdown` resolves; requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
