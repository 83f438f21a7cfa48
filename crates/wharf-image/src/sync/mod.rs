//! `sync`: many images from a registry into a registry, an OCI layout or the store, each
//! with the copy engine ([`crate::engine`]), as `skopeo sync` and `regsync` do.
//!
//! 1. The source names a namespace (every repository the catalog lists under it; the
//!    namespace alone when the registry has no catalog), one repository, or one image;
//!    a sync file ([`mod@file`]) lists many, each with its own tag filter ([`filter`]).
//! 2. Per image, what the destination's name points at (one `HEAD`, or a read of
//!    `index.json` or the store) is compared with the digest the source's tag names (one
//!    `HEAD`; for one platform of an index, the index is read): equal means up to date, and
//!    nothing else is sent. A run killed halfway therefore resumes where it stopped: the
//!    images it finished are up to date, and the blobs of the one it was sending are
//!    found by the destination's `HEAD` (or resumed from the store's partial ingest).
//! 3. Several images go at once, and the blobs of each several at once. One blob is sent
//!    by one image at a time ([`KnownBlobs`]): a blob another image of the run put into
//!    another repository of the destination registry is mounted from there, so a base
//!    layer shared by every image is sent once.
//! 4. `delete`: in each repository synced, destination tags the source (as filtered) no
//!    longer has are removed — by tag where the registry deletes tags; where it deletes
//!    only manifests (distribution 2.8), by digest unless a kept tag names the same
//!    manifest (then the tag stays, and the event says why).
//! 5. `dry_run` asks the same questions and changes nothing.

pub mod endpoint;
pub mod file;
pub mod filter;

use std::cell::RefCell;
use std::collections::BTreeSet;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use wharf_client::{Client, ClientError};
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Descriptor, Digest, Reference};
use wharf_store::{BlobLocations, Store};

use crate::catalog;
use crate::copy::referrers::copy_referrers;
use crate::engine::layout::LayoutSink;
use crate::engine::registry::{graph_of, target_of, RegistrySink, RegistrySource};
use crate::engine::store::StoreSink;
use crate::engine::{self, ImageSink, Select};
use crate::error::{ImageError, Result};
use crate::push::{KnownBlobs, SendOptions, Sent};
use crate::store_task::blocking;

pub use endpoint::{SyncDestination, SyncSource};

/// Images copied at once. Each sends up to `max_concurrent_uploads` blobs at once; a blob
/// two images share is sent by one of them, and the other finds or mounts it
/// ([`KnownBlobs`]).
const IMAGES_AT_ONCE: usize = 4;
pub use filter::TagFilter;

/// One source with the tags to take from it.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: SyncSource,
    pub filter: TagFilter,
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// One platform of each index (the host's, or the one given), or every platform.
    pub select: Select,
    /// Copy each image's referrers too (registry to registry).
    pub referrers: bool,
    /// Remove destination tags the source no longer has.
    pub delete: bool,
    /// Say what would happen; change nothing.
    pub dry_run: bool,
    pub send: SendOptions,
}

/// What a sync is doing, for a progress display.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// A source repository was listed: how many tags it has, how many the filter took.
    Listed {
        repository: String,
        tags: usize,
        selected: usize,
    },
    Copying {
        source: Reference,
        destination: String,
    },
    Copied {
        source: Reference,
        destination: String,
        digest: Digest,
        sent: Sent,
    },
    UpToDate {
        source: Reference,
        destination: String,
        digest: Digest,
    },
    WouldCopy {
        source: Reference,
        destination: String,
        digest: Digest,
    },
    Referrer {
        destination: String,
        referrer: Descriptor,
    },
    Deleted {
        destination: String,
    },
    WouldDelete {
        destination: String,
    },
    /// A tag `delete` could not remove alone; it stays.
    Kept {
        destination: String,
        reason: String,
    },
}

/// What a sync did (with `dry_run`: would do), in sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub copied: usize,
    pub up_to_date: usize,
    pub deleted: usize,
    pub referrers: usize,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_existing: usize,
    pub bytes_uploaded: u64,
}

/// Runs every job into `destination`. `store` is needed for a store destination; for a
/// registry destination its blob-info cache adds mount sources.
pub async fn sync(
    client: &Client,
    store: Option<&Store>,
    jobs: &[Job],
    destination: &SyncDestination,
    options: &SyncOptions,
    events: &dyn Fn(&SyncEvent),
) -> Result<SyncReport> {
    if options.referrers && !matches!(destination, SyncDestination::Registry { .. }) {
        return Err(ImageError::Invalid(
            "`--referrers` syncs into a registry only (`docker://`)".into(),
        ));
    }
    let run = Run {
        client,
        store,
        destination,
        options,
        events,
        known: KnownBlobs::new(match store {
            Some(s) => blocking(s, |s| s.blob_locations()).await?,
            None => BlobLocations::default(),
        }),
        report: RefCell::default(),
    };
    for job in jobs {
        // (source image, destination repository, tag), and each repository's selection.
        let mut images: Vec<(Reference, String, String)> = Vec::new();
        let mut selections: Vec<(String, Vec<String>)> = Vec::new();
        for repository in repositories(client, &job.source).await? {
            let tags = match &job.source.tag {
                Some(tag) => vec![tag.clone()],
                None => {
                    let all = client
                        .tags(&job.source.image(&repository, "latest")?)
                        .await?;
                    let selected = job.filter.select(&all);
                    events(&SyncEvent::Listed {
                        repository: format!("{}/{repository}", job.source.registry),
                        tags: all.len(),
                        selected: selected.len(),
                    });
                    selected
                }
            };
            let target = destination.repository(&job.source, &repository);
            for tag in &tags {
                let source = job.source.image(&repository, tag)?;
                images.push((source, target.clone(), tag.clone()));
            }
            selections.push((target, tags));
        }
        stream::iter(&images)
            .map(|(source, target, tag)| run.image(source, target, tag))
            .buffer_unordered(IMAGES_AT_ONCE)
            .try_collect::<()>()
            .await?;
        if options.delete && job.source.tag.is_none() {
            for (target, tags) in &selections {
                run.delete_others(target, tags).await?;
            }
        }
    }
    Ok(run.report.into_inner())
}

/// The repositories a source names: the catalog's under its namespace; the namespace
/// alone when the registry lists none there or has no catalog (Docker Hub, GHCR).
async fn repositories(client: &Client, source: &SyncSource) -> Result<Vec<String>> {
    if source.tag.is_some() || source.exact {
        return Ok(vec![source.namespace.clone()]);
    }
    match client.catalog(&source.registry).await {
        Ok(all) => {
            let found: Vec<String> = all.into_iter().filter(|r| source.contains(r)).collect();
            if found.is_empty() && source.namespace.is_empty() {
                return Err(ImageError::Invalid(format!(
                    "`{source}` lists no repositories"
                )));
            }
            Ok(if found.is_empty() {
                vec![source.namespace.clone()]
            } else {
                found
            })
        }
        Err(e) if !source.namespace.is_empty() => {
            tracing::debug!(error = %e, "no catalog; syncing the namespace as one repository");
            Ok(vec![source.namespace.clone()])
        }
        Err(e) => Err(e.into()),
    }
}

struct Run<'a> {
    client: &'a Client,
    store: Option<&'a Store>,
    destination: &'a SyncDestination,
    options: &'a SyncOptions,
    events: &'a dyn Fn(&SyncEvent),
    /// Where blobs are on the destination registry: the cache's, and this run's sends.
    known: KnownBlobs,
    report: RefCell<SyncReport>,
}

impl Run<'_> {
    fn store(&self) -> Result<&Store> {
        self.store
            .ok_or_else(|| ImageError::Invalid("this sync needs the local store".into()))
    }

    /// The destination image `repository:tag` as a reference (registry destinations).
    fn registry_image(&self, repository: &str, tag: &str) -> Result<Reference> {
        let SyncDestination::Registry { registry, .. } = self.destination else {
            unreachable!("only registry destinations have registry references")
        };
        Ok(Reference::parse_normalized(&format!(
            "{registry}/{repository}:{tag}"
        ))?)
    }

    fn sink(&self, repository: &str, tag: &str) -> Result<Box<dyn ImageSink + '_>> {
        Ok(match self.destination {
            SyncDestination::Registry { .. } => Box::new(RegistrySink {
                client: self.client,
                destination: self.registry_image(repository, tag)?,
                known: &self.known,
                options: self.options.send.clone(),
            }),
            SyncDestination::Layout { dir } => Box::new(LayoutSink {
                dir: dir.clone(),
                reference: Some(format!("{repository}:{tag}")),
            }),
            SyncDestination::Store { .. } => Box::new(StoreSink::new(
                self.store()?,
                &format!("{repository}:{tag}"),
            )?),
        })
    }

    async fn image(&self, source: &Reference, repository: &str, tag: &str) -> Result<()> {
        let destination = self.destination.describe(repository, tag);
        let select = &self.options.select;
        let sink = self.sink(repository, tag)?;
        let current = sink.current().await?;
        // Nothing at the destination: no need to ask what the source's tag names first.
        let digest = match (&current, self.options.dry_run) {
            (None, false) => None,
            _ => Some(source_digest(self.client, source, select).await?),
        };
        let copied = if (current.is_some() && current == digest) || self.options.dry_run {
            None
        } else {
            (self.events)(&SyncEvent::Copying {
                source: source.clone(),
                destination: destination.clone(),
            });
            let from = RegistrySource {
                client: self.client.clone(),
                repository: source.clone(),
            };
            Some(engine::copy(&from, sink.as_ref(), select, &|_| {}).await?)
        };
        drop(sink);
        let graph = match copied {
            Some(copied) => {
                let sent = copied.sent;
                {
                    let mut report = self.report.borrow_mut();
                    report.copied += 1;
                    report.blobs_uploaded += sent.uploaded.len();
                    report.blobs_mounted += sent.mounted.len();
                    report.blobs_existing += sent.existing.len();
                    report.bytes_uploaded += sent.bytes_uploaded;
                }
                (self.events)(&SyncEvent::Copied {
                    source: source.clone(),
                    destination: destination.clone(),
                    digest: copied.graph.top().digest.clone(),
                    sent,
                });
                Some(copied.graph)
            }
            None => {
                let digest = digest.expect("asked for whenever nothing is copied");
                if current.as_ref() != Some(&digest) {
                    self.report.borrow_mut().copied += 1;
                    (self.events)(&SyncEvent::WouldCopy {
                        source: source.clone(),
                        destination: destination.clone(),
                        digest,
                    });
                    return Ok(());
                }
                self.report.borrow_mut().up_to_date += 1;
                (self.events)(&SyncEvent::UpToDate {
                    source: source.clone(),
                    destination: destination.clone(),
                    digest,
                });
                None
            }
        };
        if self.options.referrers && !self.options.dry_run {
            // Signatures and SBOMs are often added to an image that did not change.
            let graph = match graph {
                Some(graph) => graph,
                None => graph_of(self.client, source, select).await?,
            };
            let to = self.registry_image(repository, tag)?;
            let copied = copy_referrers(
                self.client,
                source,
                &to,
                &graph,
                &self.known,
                &self.options.send,
            )
            .await?;
            for referrer in copied {
                self.report.borrow_mut().referrers += 1;
                (self.events)(&SyncEvent::Referrer {
                    destination: destination.clone(),
                    referrer,
                });
            }
        }
        Ok(())
    }

    /// Removes the destination tags of `repository` that are not in `keep`.
    async fn delete_others(&self, repository: &str, keep: &[String]) -> Result<()> {
        let existing = self.destination_tags(repository).await?;
        let keep_set: BTreeSet<&String> = keep.iter().collect();
        for tag in existing.iter().filter(|t| !keep_set.contains(t)) {
            let destination = self.destination.describe(repository, tag);
            if self.options.dry_run {
                self.report.borrow_mut().deleted += 1;
                (self.events)(&SyncEvent::WouldDelete { destination });
                continue;
            }
            match self.delete_tag(repository, tag, keep).await? {
                None => {
                    self.report.borrow_mut().deleted += 1;
                    (self.events)(&SyncEvent::Deleted { destination });
                }
                Some(reason) => (self.events)(&SyncEvent::Kept {
                    destination,
                    reason,
                }),
            }
        }
        Ok(())
    }

    async fn destination_tags(&self, repository: &str) -> Result<Vec<String>> {
        match self.destination {
            SyncDestination::Registry { .. } => {
                match self
                    .client
                    .tags(&self.registry_image(repository, "latest")?)
                    .await
                {
                    Ok(tags) => Ok(tags),
                    Err(e) if e.is_not_found() => Ok(Vec::new()),
                    Err(e) => Err(e.into()),
                }
            }
            SyncDestination::Layout { dir } => {
                let sink = LayoutSink {
                    dir: dir.clone(),
                    reference: None,
                };
                Ok(sink
                    .names()?
                    .iter()
                    .filter_map(|n| n.strip_prefix(repository)?.strip_prefix(':'))
                    .filter(|tag| !tag.contains(['/', ':']))
                    .map(str::to_string)
                    .collect())
            }
            SyncDestination::Store { .. } => {
                let wanted = Reference::parse_normalized(repository)?.canonical();
                let wanted = wanted.name();
                blocking(self.store()?, move |s| {
                    let index = s.read_index()?;
                    Ok(catalog::entries(&index)
                        .into_iter()
                        .filter_map(|e| e.name)
                        .filter(|n| n.name() == wanted)
                        .filter_map(|n| n.tag().map(str::to_string))
                        .collect())
                })
                .await?
            }
        }
    }

    /// Deletes one destination tag; `Some(reason)` when it had to stay.
    async fn delete_tag(
        &self,
        repository: &str,
        tag: &str,
        keep: &[String],
    ) -> Result<Option<String>> {
        match self.destination {
            SyncDestination::Registry { .. } => {
                let image = self.registry_image(repository, tag)?;
                match self.client.delete_manifest(&image).await {
                    Ok(()) => Ok(None),
                    Err(ClientError::Registry {
                        status: 400 | 405, ..
                    }) => self.delete_by_digest(repository, &image, keep).await,
                    Err(e) => Err(e.into()),
                }
            }
            SyncDestination::Layout { dir } => {
                let sink = LayoutSink {
                    dir: dir.clone(),
                    reference: None,
                };
                sink.untag(&format!("{repository}:{tag}"))?;
                Ok(None)
            }
            SyncDestination::Store { .. } => {
                let name = format!("{repository}:{tag}");
                blocking(self.store()?, move |s| {
                    crate::remove::remove(s, &name, false)
                })
                .await??;
                Ok(None)
            }
        }
    }

    /// For a registry that deletes manifests, not tags: the manifest `image` names goes,
    /// unless a tag that stays names it too.
    async fn delete_by_digest(
        &self,
        repository: &str,
        image: &Reference,
        keep: &[String],
    ) -> Result<Option<String>> {
        let digest = self.client.head_manifest(image).await?.digest;
        for kept in keep {
            let other = self.registry_image(repository, kept)?;
            match self.client.head_manifest(&other).await {
                Ok(found) if found.digest == digest => {
                    return Ok(Some(format!(
                        "the registry deletes manifests, not tags, and `{kept}` names the same manifest"
                    )))
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.client
            .delete_manifest(&image.with_digest(digest))
            .await?;
        Ok(None)
    }
}

/// The digest a copy of `source` would name at the destination: what its tag names
/// (one `HEAD`), or for one platform of an index, that platform's manifest.
async fn source_digest(client: &Client, source: &Reference, select: &Select) -> Result<Digest> {
    let top = client.head_manifest(source).await?;
    if select.all_platforms || media_type::kind(&top.media_type) != Kind::Index {
        return Ok(top.digest);
    }
    let (target, _) = target_of(client, source, select).await?;
    Ok(target.digest)
}
