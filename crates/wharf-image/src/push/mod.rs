//! `push`: an image from the store to a registry, the way `docker push` does it.
//!
//! It is the copy engine ([`crate::engine`]) from the store source to a registry sink:
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
pub mod known;
pub mod send;
pub mod store_source;

use wharf_client::{Client, UploadOptions};
use wharf_spec::media_type::Compression;
use wharf_spec::{Digest, Platform, Reference};
use wharf_store::{BlobLocation, Store};

use crate::engine::compress::Compressed;
use crate::engine::registry::RegistrySink;
use crate::engine::store::StoreSource;
use crate::engine::{self, ImageSource, Select};
use crate::error::Result;
use crate::store_task::blocking;

pub use event::PushEvent;
pub use graph::Graph;
pub use known::KnownBlobs;
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
    /// Re-encode every layer not in this compression on the way (`wharf push
    /// --dest-compress`): new layer and manifest digests, the same image ID.
    pub dest_compress: Option<Compression>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            platform: None,
            all_platforms: false,
            max_concurrent_uploads: wharf_client::config::DEFAULT_MAX_CONCURRENT_UPLOADS,
            upload: UploadOptions::default(),
            dest_compress: None,
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
    let known = KnownBlobs::new(blocking(store, |s| s.blob_locations()).await?);
    let sink = RegistrySink {
        client,
        destination: destination.clone(),
        known: &known,
        options: SendOptions {
            max_concurrent_uploads: options.max_concurrent_uploads,
            upload: options.upload.clone(),
        },
    };
    let select = Select {
        platform: options.platform.clone(),
        all_platforms: options.all_platforms,
        platforms: Vec::new(),
    };
    let stored: Box<dyn ImageSource> = Box::new(StoreSource::new(store, source));
    let source: Box<dyn ImageSource> = match options.dest_compress {
        Some(compression) => Box::new(Compressed::new(stored, compression, true)?),
        None => stored,
    };
    let copied = engine::copy(source.as_ref(), &sink, &select, events).await?;
    remember(store, copied.sent.locations.clone()).await;
    let top = copied.graph.top();
    Ok(PushReport {
        destination: destination.canonical(),
        digest: top.digest.clone(),
        size: top.size,
        sent: copied.sent,
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

pub(crate) async fn remember(store: &Store, seen: Vec<(Digest, BlobLocation)>) {
    let outcome = blocking(store, move |s| s.record_blob_locations(&seen)).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not update the blob-info cache"),
        Err(e) => tracing::debug!(error = %e, "could not update the blob-info cache"),
    }
}
