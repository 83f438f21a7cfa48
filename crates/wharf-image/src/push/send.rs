//! Sending a [`Graph`] to a registry repository: every blob checked with `HEAD` and, when
//! missing, mounted from a repository of the same registry known to have it or uploaded
//! from the source — several at once — then the manifests, children first, the top under
//! the destination's tag.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::{self, Either};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use wharf_client::{Client, UploadOptions, UploadProgress, UploadSource, Uploaded};
use wharf_spec::{Descriptor, Digest, Reference};
use wharf_store::BlobLocation;

use super::graph::Graph;
use super::known::KnownBlobs;
use super::PushEvent;
use crate::error::Result;
use crate::ingest::Origin;

/// How often a running upload reports its byte count.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Repositories tried for a cross-repository mount before uploading.
const MAX_MOUNT_CANDIDATES: usize = 3;

/// Where a graph's blobs come from.
pub trait BlobSource: Send + Sync {
    /// A reopenable stream of the blob's bytes.
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_>;

    /// The registry repository these blobs are in, when there is one: a destination on
    /// the same registry mounts from it.
    fn repository(&self) -> Option<&Reference> {
        None
    }

    /// Where the blob `digest` is read from, as a mismatch names it.
    fn origin(&self, digest: &Digest) -> Origin;
}

#[derive(Debug, Clone)]
pub struct SendOptions {
    pub max_concurrent_uploads: usize,
    pub upload: UploadOptions,
}

#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// Blobs the registry had already.
    pub existing: Vec<Digest>,
    /// Blobs mounted from another repository.
    pub mounted: Vec<Digest>,
    /// Blobs whose bytes were sent, and how many bytes that was.
    pub uploaded: Vec<Digest>,
    pub bytes_uploaded: u64,
    /// Where each blob is now known to be (for the blob-info cache).
    pub locations: Vec<(Digest, BlobLocation)>,
}

enum Outcome {
    Existed,
    Mounted,
    Uploaded(u64),
}

/// Sends `graph` to `destination` (its tag, else `latest`; by digest when it has one).
pub async fn send(
    client: &Client,
    destination: &Reference,
    graph: &Graph,
    source: &dyn BlobSource,
    known: &KnownBlobs,
    options: &SendOptions,
    events: &dyn Fn(PushEvent),
) -> Result<Sent> {
    let repository = destination.canonical();
    events(PushEvent::Started {
        repository: repository.clone(),
    });
    for digest in graph.layers_for_display() {
        events(PushEvent::LayerPreparing(digest));
    }
    let slots = options.max_concurrent_uploads.max(1);
    // Largest first, so the long uploads start early and overlap the small ones.
    let mut order: Vec<&Descriptor> = graph.blobs.iter().collect();
    order.sort_by_key(|d| std::cmp::Reverse(d.size));
    let outcomes: Vec<(Digest, Outcome)> = stream::iter(order)
        .map(|blob| {
            let repository = &repository;
            async move {
                let outcome = send_blob(
                    client,
                    repository,
                    blob,
                    graph.layers.contains(&blob.digest),
                    source,
                    known,
                    &options.upload,
                    events,
                )
                .await?;
                Ok::<_, crate::error::ImageError>((blob.digest.clone(), outcome))
            }
        })
        .buffer_unordered(slots)
        .try_collect()
        .await?;

    let mut sent = Sent::default();
    let here = BlobLocation {
        registry: repository.domain().to_string(),
        repository: repository.path().to_string(),
    };
    for (digest, outcome) in outcomes {
        match outcome {
            Outcome::Existed => sent.existing.push(digest.clone()),
            Outcome::Mounted => sent.mounted.push(digest.clone()),
            Outcome::Uploaded(bytes) => {
                sent.uploaded.push(digest.clone());
                sent.bytes_uploaded += bytes;
            }
        }
        sent.locations.push((digest, here.clone()));
    }

    let top = graph.top().digest.clone();
    for (descriptor, raw) in &graph.manifests {
        let target = if descriptor.digest == top {
            match repository.digest() {
                Some(d) if *d != top => {
                    return Err(crate::error::ImageError::Invalid(format!(
                        "cannot push `{}` as `{}`: the digests differ",
                        top,
                        repository.familiar()
                    )))
                }
                _ => repository.clone(),
            }
        } else {
            repository.with_digest(descriptor.digest.clone())
        };
        client.put_manifest(&target, raw).await?;
        events(PushEvent::ManifestPushed {
            reference: target,
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        });
    }
    Ok(sent)
}

#[allow(clippy::too_many_arguments)]
async fn send_blob(
    client: &Client,
    repository: &Reference,
    blob: &Descriptor,
    is_layer: bool,
    source: &dyn BlobSource,
    known: &KnownBlobs,
    upload: &UploadOptions,
    events: &dyn Fn(PushEvent),
) -> Result<Outcome> {
    let event = |e: PushEvent| {
        if is_layer {
            events(e)
        }
    };
    let here = BlobLocation {
        registry: repository.domain().to_string(),
        repository: repository.path().to_string(),
    };
    let alone = async {
        let outcome = send_blob_alone(client, repository, blob, source, known, upload, &event);
        let outcome = outcome.await?;
        known.note(&blob.digest, &here);
        Ok::<_, crate::error::ImageError>(outcome)
    };
    let outcome = known.one_at_a_time(&blob.digest, &here, alone).await?;
    Ok(outcome)
}

/// [`send_blob`], which runs it while no other send of the run sends the same blob
/// ([`KnownBlobs::one_at_a_time`]).
async fn send_blob_alone(
    client: &Client,
    repository: &Reference,
    blob: &Descriptor,
    source: &dyn BlobSource,
    known: &KnownBlobs,
    upload: &UploadOptions,
    event: &dyn Fn(PushEvent),
) -> Result<Outcome> {
    let here = BlobLocation {
        registry: repository.domain().to_string(),
        repository: repository.path().to_string(),
    };
    // What this run put here is here; what it put in another repository of this registry
    // is mounted without asking first (a mount of a blob the repository has succeeds too).
    let existed = known.sent_to(&blob.digest, &here)
        || (!known.sent_beside(&blob.digest, &here)
            && client.head_blob(repository, &blob.digest).await?.is_some());
    if existed {
        event(PushEvent::LayerAlreadyExists(blob.digest.clone()));
        return Ok(Outcome::Existed);
    }
    let from = mount_candidates(repository, &blob.digest, source, known);
    let progress = UploadProgress::new();
    let reader = source.blob(blob);
    let uploading = client.upload_blob(repository, blob, reader.as_ref(), &from, upload, &progress);
    let outcome = watch(uploading, &progress, |done| {
        event(PushEvent::LayerPushing {
            digest: blob.digest.clone(),
            done,
            total: blob.size,
        })
    })
    .await?;
    Ok(match outcome {
        Uploaded::Mounted(from) => {
            event(PushEvent::LayerMounted {
                digest: blob.digest.clone(),
                from,
            });
            Outcome::Mounted
        }
        Uploaded::Sent { .. } => {
            event(PushEvent::LayerPushing {
                digest: blob.digest.clone(),
                done: blob.size,
                total: blob.size,
            });
            event(PushEvent::LayerPushed(blob.digest.clone()));
            Outcome::Uploaded(blob.size)
        }
    })
}

/// Another repository of the destination's registry that has the blob: the source's own
/// (a copy within one registry), else the most recent one the cache knows.
/// Where on the destination's registry the blob may be mounted from, best first, at most
/// [`MAX_MOUNT_CANDIDATES`] (as Docker, so a stale blob-info record costs little): the
/// source repository when it is on the same registry, then the repositories the
/// blob-info cache has seen it in.
fn mount_candidates(
    repository: &Reference,
    digest: &Digest,
    source: &dyn BlobSource,
    known: &KnownBlobs,
) -> Vec<Reference> {
    let elsewhere =
        |r: &Reference| r.domain() == repository.domain() && r.path() != repository.path();
    let mut tried = BTreeSet::new();
    let from_source = source.repository().filter(|r| elsewhere(r)).cloned();
    let seen = known
        .get(digest)
        .into_iter()
        .filter(|l| l.registry == repository.domain())
        .filter_map(|l| {
            Reference::parse_normalized(&format!("{}/{}", l.registry, l.repository)).ok()
        })
        .filter(|r| elsewhere(r));
    from_source
        .into_iter()
        .chain(seen)
        .filter(|r| tried.insert(r.path().to_string()))
        .take(MAX_MOUNT_CANDIDATES)
        .collect()
}

/// Runs `work`, reporting `progress` every [`PROGRESS_EVERY`] while it changes.
async fn watch<F: std::future::Future>(
    work: F,
    progress: &UploadProgress,
    report: impl Fn(u64),
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let mut last = None;
    loop {
        let tick = std::pin::pin!(tokio::time::sleep(PROGRESS_EVERY));
        match future::select(work.as_mut(), tick).await {
            Either::Left((out, _)) => return out,
            Either::Right(_) => {
                let now = progress.sent();
                if last != Some(now) {
                    report(now);
                    last = Some(now);
                }
            }
        }
    }
}
