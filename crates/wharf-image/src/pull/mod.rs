//! `pull`: a registry image into the store, the way `docker pull` does it.
//!
//! 1. [`plan`]: when the store has the name, one `HEAD` to learn what the reference names
//!    now; when the store already has that image under this name with all its blobs, stop
//!    there (up to date).
//! 2. Otherwise fetch the manifest (an index narrows to one platform, or to all of them).
//! 3. [`fetch`]: every blob the store lacks is streamed into its verifying ingest,
//!    several at once (never more than the client's download slots), resuming any partial
//!    ingest a broken or killed earlier pull left. Beside them, each image's config is
//!    fetched and checked; the configs and manifests are staged after the layers.
//! 4. [`record`]: one `Store::commit` publishes the blobs and names the image.
//!
//! The store's shared lock is held throughout, so gc cannot delete what the pull relies on.

mod event;
mod fetch;
mod plan;
mod record;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use wharf_client::Client;
use wharf_spec::{Descriptor, Digest, Platform, Reference};
use wharf_store::{StagedBlob, Store};

use crate::error::Result;

pub use event::PullEvent;
pub(crate) use fetch::blocking;
pub use record::ANNOTATION_INDEX_DIGEST;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The platform to pick from an index; the host's when `None`.
    pub platform: Option<Platform>,
    /// Pull every platform of an index (the index itself is then what the name points at).
    pub all_platforms: bool,
}

#[derive(Debug, Clone)]
pub struct PullReport {
    /// What was pulled: `name:tag`, or `name@digest` when a digest was given.
    pub reference: Reference,
    /// The digest the registry gave for the reference (an index's, for an index).
    pub digest: Digest,
    pub up_to_date: bool,
    /// The image manifests now in the store (one per platform pulled).
    pub images: Vec<Descriptor>,
    /// Bytes received from the registry for blobs (a resumed blob counts only the rest).
    pub bytes_downloaded: u64,
}

/// Pulls `reference` from its registry into `store`, reporting progress to `events`.
pub async fn pull(
    store: &Store,
    client: &Client,
    reference: &Reference,
    options: PullOptions,
    events: &dyn Fn(PullEvent),
) -> Result<PullReport> {
    let reference = reference.canonical();
    let _guard = fetch::blocking(store, |s| s.lock_shared()).await??;
    events(PullEvent::Resolving {
        reference: reference.clone(),
    });

    // One read of the store's names: it decides whether the `HEAD` is worth sending and,
    // after it, whether the store is up to date.
    if let Some(entry) = plan::named_entry(store, &reference).await? {
        if let Some(digest) = plan::head(client, &reference).await? {
            if plan::is_up_to_date(store, entry, &digest, &options).await? {
                events(PullEvent::Digest(digest.clone()));
                events(PullEvent::Status { up_to_date: true });
                return Ok(PullReport {
                    reference,
                    digest,
                    up_to_date: true,
                    images: Vec::new(),
                    bytes_downloaded: 0,
                });
            }
        }
    }

    // By digest, an image the store holds completely under another name only needs
    // this name too: nothing to ask the registry, nothing to download.
    if let Some(digest) = reference.digest() {
        if let Some((target, index_digest)) = plan::stored_image(store, digest, &options).await? {
            record::name(store, &reference, target, index_digest).await?;
            events(PullEvent::Digest(digest.clone()));
            events(PullEvent::Status { up_to_date: true });
            return Ok(PullReport {
                reference: reference.clone(),
                digest: digest.clone(),
                up_to_date: true,
                images: Vec::new(),
                bytes_downloaded: 0,
            });
        }
    }

    let plan = plan::resolve(client, &reference, &options).await?;
    let (layers, present) = plan::missing_blobs(store, &plan).await?;
    for digest in &present {
        events(PullEvent::LayerAlreadyExists(digest.clone()));
    }
    for layer in &layers {
        events(PullEvent::LayerWaiting(layer.digest.clone()));
    }

    // Blob ingests are opened only when a slot is near, so buffers stay bounded. The
    // largest layers start first: the pull lasts at least as long as its largest
    // download, and small ones fill the slots beside it (longest-first scheduling).
    let slots = client.config().max_concurrent_downloads.max(1);
    let mut by_size: Vec<&Descriptor> = layers.iter().collect();
    by_size.sort_by_key(|layer| std::cmp::Reverse(layer.size));
    let downloads = stream::iter(by_size)
        .map(|layer| fetch::blob(store, client, &reference, layer, events))
        .buffer_unordered(slots)
        .try_collect::<Vec<fetch::Fetched>>();
    // The configs are fetched (and checked) beside the layers, and asked for first, so
    // they take a download slot before the layers do.
    let (documents, fetched) =
        futures_util::future::try_join(plan::fetch_documents(client, &reference, &plan), downloads)
            .await?;
    let bytes_downloaded = fetched.iter().map(|f| f.received).sum();
    let mut staged: Vec<StagedBlob> = fetched.into_iter().filter_map(|f| f.staged).collect();
    staged.extend(plan::stage_documents(store, documents).await?);

    let target = record::commit(store, &reference, &plan, staged).await?;
    for layer in &layers {
        events(PullEvent::LayerComplete(layer.digest.clone()));
    }
    events(PullEvent::Digest(plan.top.digest.clone()));
    events(PullEvent::Status { up_to_date: false });
    Ok(PullReport {
        reference,
        digest: plan.top.digest.clone(),
        up_to_date: false,
        images: target,
        bytes_downloaded,
    })
}
