//! `pull`: a registry image into the store, the way `docker pull` does it.
//!
//! 1. [`plan`]: when the store has the name, one `HEAD` to learn what the reference names
//!    now; when the store already has that image under this name with all its blobs, stop
//!    there (up to date). By digest, an image the store holds under another name is only
//!    named ([`record`]).
//! 2. Otherwise the copy engine moves the image from the registry source into the store
//!    sink ([`crate::engine::store::StoreSink::pull`]): the manifest read (an index narrows
//!    to one platform, or to all of them), every blob the store lacks streamed into its
//!    verifying ingest, several at once (never more than the client's download slots),
//!    resuming any partial a broken or killed earlier pull left; the configs read and
//!    checked beside them; one `Store::commit` publishes the blobs and names the image.
//!
//! The store's shared lock is held throughout, so gc cannot delete what the pull relies on.

mod event;
mod plan;
mod record;

use wharf_client::Client;
use wharf_spec::{Descriptor, Digest, Manifest, Platform, Reference};
use wharf_store::Store;

use crate::engine::registry::RegistrySource;
use crate::engine::store::StoreSink;
use crate::engine::{self, Select};
use crate::error::Result;
use crate::store_task::blocking;

pub use event::PullEvent;
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
    let _guard = blocking(store, |s| s.lock_shared()).await??;
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

    let source = RegistrySource {
        client: client.clone(),
        repository: reference.clone(),
    };
    let slots = client.config().max_concurrent_downloads;
    let sink = StoreSink::pull(store, &reference, slots, events);
    let select = Select {
        platform: options.platform.clone(),
        all_platforms: options.all_platforms,
        platforms: Vec::new(),
    };
    let copied = engine::copy(&source, &sink, &select, &|_| {}).await?;
    let graph = &copied.graph;
    // What the registry named: the index, when one platform was taken from it.
    let digest = graph.index.as_ref().unwrap_or(graph.top()).digest.clone();
    events(PullEvent::Digest(digest.clone()));
    events(PullEvent::Status { up_to_date: false });
    let images = graph
        .manifests
        .iter()
        .filter(|(_, raw)| matches!(raw.manifest(), Manifest::Image(_)))
        .map(|(d, _)| d.clone())
        .collect();
    Ok(PullReport {
        reference,
        digest,
        up_to_date: false,
        images,
        bytes_downloaded: copied.sent.bytes_uploaded,
    })
}
