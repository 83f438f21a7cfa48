//! `push`: an image from the store to a registry, the way `docker push` does it.
//!
//! 1. Find the image (`catalog::find`): one platform's manifest, or with `all_platforms`
//!    the index the name points at with every child.
//! 2. [`graph::build`] walks it children-first: layers and configs, then manifests, then
//!    the index.
//! 3. [`send::send`]: each blob `HEAD`ed (existing ones are skipped), mounted from another
//!    repository of the same registry when the blob-info cache knows one, else uploaded
//!    from the store file — several at once, resuming broken uploads; then the manifests.
//! 4. The blob-info cache learns where the blobs now are.
//!
//! The store's shared lock is held throughout, so gc cannot delete what is being sent.

pub mod event;
pub mod graph;
pub mod send;
pub mod store_source;

use wharf_client::{Client, UploadOptions};
use wharf_spec::{Digest, Platform, Reference};
use wharf_store::{BlobLocation, Store};

use crate::catalog;
use crate::error::{ImageError, Result};
use crate::pull::blocking;

pub use event::PushEvent;
pub use graph::Graph;
pub use send::{BlobSource, SendOptions, Sent};
pub use store_source::{StoreBlob, StoreBlobs};

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The platform to push from a multi-platform image; the host's when `None`.
    pub platform: Option<Platform>,
    /// Push the whole index (every platform must be in the store).
    pub all_platforms: bool,
    pub max_concurrent_uploads: usize,
    pub upload: UploadOptions,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            platform: None,
            all_platforms: false,
            max_concurrent_uploads: wharf_client::config::DEFAULT_MAX_CONCURRENT_UPLOADS,
            upload: UploadOptions::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushReport {
    /// Where the image went (`name:tag`).
    pub destination: Reference,
    /// The digest and size of what the tag names now.
    pub digest: Digest,
    pub size: u64,
    pub sent: Sent,
}

/// Pushes the store's image `source` (a name, `name@digest` or ID) to `destination`.
pub async fn push(
    store: &Store,
    client: &Client,
    source: &str,
    destination: &Reference,
    options: &PushOptions,
    events: &dyn Fn(PushEvent),
) -> Result<PushReport> {
    let _guard = blocking(store, |s| s.lock_shared()).await??;
    let input = source.to_string();
    let platform = options.platform.clone();
    let found = blocking(store, move |s| catalog::find(s, &input, platform.as_ref())).await??;
    let target = if options.all_platforms {
        found.resolved.target.clone()
    } else {
        found.resolved.manifest_descriptor.clone()
    };
    let graph = graph::build(target, |descriptor| async move {
        blocking(store, move |s| catalog::read_manifest(s, &descriptor)).await?
    })
    .await?;
    let blobs = graph.blobs.clone();
    let image = source.to_string();
    blocking(store, move |s| {
        for blob in &blobs {
            if s.blob_size(&blob.digest)? != Some(blob.size) {
                return Err(ImageError::Invalid(format!(
                    "blob `{}` of `{image}` is not in the store; pull or load the image again",
                    blob.digest
                )));
            }
        }
        Ok(())
    })
    .await??;

    let known = blocking(store, |s| s.blob_locations()).await?;
    let send_options = SendOptions {
        max_concurrent_uploads: options.max_concurrent_uploads,
        upload: options.upload.clone(),
    };
    let source = StoreBlobs {
        store: store.clone(),
    };
    let sent = send::send(
        client,
        destination,
        &graph,
        &source,
        &known,
        &send_options,
        events,
    )
    .await?;
    remember(store, sent.locations.clone()).await;
    let top = graph.top();
    Ok(PushReport {
        destination: destination.canonical(),
        digest: top.digest.clone(),
        size: top.size,
        sent,
    })
}

/// Notes in the blob-info cache that `digests` are in `repository`, so a later push to
/// another repository of that registry can mount them. A failure only loses a hint.
pub async fn remember_pulled(store: &Store, repository: &Reference, digests: Vec<Digest>) {
    let here = BlobLocation {
        registry: repository.domain().to_string(),
        repository: repository.path().to_string(),
    };
    let seen = digests.into_iter().map(|d| (d, here.clone())).collect();
    remember(store, seen).await;
}

async fn remember(store: &Store, seen: Vec<(Digest, BlobLocation)>) {
    let outcome = blocking(store, move |s| s.record_blob_locations(&seen)).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not update the blob-info cache"),
        Err(e) => tracing::debug!(error = %e, "could not update the blob-info cache"),
    }
}
