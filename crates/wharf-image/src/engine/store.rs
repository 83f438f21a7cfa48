//! The local store as a source (an image found by name, `name@digest` or ID; blobs read
//! from its files) and as a sink (every blob through the verifying ingest,
//! [`super::into_store`], resuming a partial an interrupted run left; configs checked;
//! one commit publishes the blobs and names the image). A pull is the registry source
//! into this sink.

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use futures_util::FutureExt;
use wharf_client::UploadSource;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Descriptor, Digest, ImageManifest, Manifest, Reference};
use wharf_store::{StagedBlob, Store};

use super::into_store::{blob_into_store, Fetched, Step};
use super::{ImageSink, ImageSource, Select};
use crate::catalog;
use crate::error::{ImageError, Result};
use crate::ingest::{self, Ingested, Origin};
use crate::names;
use crate::pull::PullEvent;
use crate::push::{graph, BlobSource, Graph, PushEvent, Sent, StoreBlobs};
use crate::store_task::blocking;

/// Blobs written into the store at once.
const WRITERS: usize = 4;

/// The store's image `input` (a name, `name@digest` or ID).
pub struct StoreSource {
    pub blobs: StoreBlobs,
    pub input: String,
}

impl StoreSource {
    pub fn new(store: &Store, input: &str) -> StoreSource {
        StoreSource {
            blobs: StoreBlobs {
                store: store.clone(),
            },
            input: input.to_string(),
        }
    }
}

impl BlobSource for StoreSource {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        self.blobs.blob(descriptor)
    }

    fn origin(&self, digest: &Digest) -> Origin {
        self.blobs.origin(digest)
    }
}

impl ImageSource for StoreSource {
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        async move {
            let store = &self.blobs.store;
            let (input, platform) = (self.input.clone(), select.platform.clone());
            let found =
                blocking(store, move |s| catalog::find(s, &input, platform.as_ref())).await??;
            let (index, manifest) = (found.resolved.target, found.resolved.manifest_descriptor);
            let chosen = !select.all_platforms && index.digest != manifest.digest;
            let target = if select.all_platforms { index.clone() } else { manifest };
            let mut graph = graph::build(target, |descriptor| async move {
                blocking(store, move |s| catalog::read_manifest(s, &descriptor)).await?
            })
            .await?;
            graph.index = chosen.then_some(index);
            let (blobs, image) = (graph.blobs.clone(), self.input.clone());
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
            Ok(graph)
        }
        .boxed_local()
    }
}

/// The store, naming what it takes `name`. What it takes from a registry repository of
/// the same name is recorded as pulled from there, as `docker pull` records it.
pub struct StoreSink<'e> {
    pub store: Store,
    pub name: Reference,
    /// Blobs written at once.
    pub writers: usize,
    /// Each layer's progress, as a pull shows it.
    pub progress: &'e dyn Fn(PullEvent),
}

fn no_progress(_: PullEvent) {}

impl StoreSink<'static> {
    /// A sink that names the image `name` (a name with a tag, not a digest).
    pub fn new(store: &Store, name: &str) -> Result<StoreSink<'static>> {
        let name = Reference::parse_normalized(name)?;
        if name.digest().is_some() {
            return Err(ImageError::Invalid(format!(
                "cannot name an image in the store with a digest: `{}`",
                name.familiar()
            )));
        }
        Ok(StoreSink {
            store: store.clone(),
            name: name.canonical(),
            writers: WRITERS,
            progress: &no_progress,
        })
    }
}

impl<'e> StoreSink<'e> {
    /// The sink a pull of `reference` writes into: the image is named as pulled (by tag,
    /// or `name@digest`), `writers` blobs at once, each layer's progress told to
    /// `progress`.
    pub fn pull(
        store: &Store,
        reference: &Reference,
        writers: usize,
        progress: &'e dyn Fn(PullEvent),
    ) -> StoreSink<'e> {
        StoreSink {
            store: store.clone(),
            name: reference.canonical(),
            writers: writers.max(1),
            progress,
        }
    }

    /// Whether the image comes from the registry repository this sink names, so that
    /// `name@digest` is a true repo digest.
    fn pulled_from(&self, source: &dyn BlobSource) -> bool {
        source
            .repository()
            .is_some_and(|r| r.domain() == self.name.domain() && r.path() == self.name.path())
    }
}

impl ImageSink for StoreSink<'_> {
    /// Every image config is read whole beside the blob writes, checked, and staged.
    fn checks_configs(&self) -> bool {
        true
    }

    fn current(&self) -> LocalBoxFuture<'_, Result<Option<Digest>>> {
        let key = self.name.to_string();
        async move {
            blocking(&self.store, move |s| {
                let index = s.read_index()?;
                Ok(catalog::entries(&index)
                    .into_iter()
                    .find(|e| e.name.as_ref().map(Reference::to_string) == Some(key.clone()))
                    .map(|e| e.target.digest))
            })
            .await?
        }
        .boxed_local()
    }

    fn put<'a>(
        &'a self,
        graph: &'a Graph,
        source: &'a dyn BlobSource,
        _events: &'a dyn Fn(PushEvent),
    ) -> LocalBoxFuture<'a, Result<Sent>> {
        async move {
            let store = &self.store;
            let _guard = blocking(store, |s| s.lock_shared()).await??;
            let configs = image_configs(graph);
            let blobs: Vec<&Descriptor> = graph
                .blobs
                .iter()
                .filter(|b| !configs.iter().any(|(c, _)| c.digest == b.digest))
                .collect();
            let layers = self.announce_layers(graph, &blobs).await?;
            // The configs are read (and checked) beside the blobs, and asked for first, so
            // they take a slot before the layers do. The largest blobs start first: the
            // copy lasts at least as long as its largest one, and small ones fill the
            // slots beside it (longest-first scheduling).
            let mut by_size = blobs;
            by_size.sort_by_key(|b| std::cmp::Reverse(b.size));
            let writes = stream::iter(by_size)
                .map(|blob| self.write(graph, blob, source))
                .buffer_unordered(self.writers)
                .try_collect::<Vec<(Digest, Fetched)>>();
            let (documents, written) =
                futures_util::future::try_join(read_configs(&configs, source), writes).await?;
            let mut sent = Sent::default();
            let mut staged: Vec<StagedBlob> = Vec::new();
            for (digest, fetched) in written {
                sent.bytes_uploaded += fetched.received;
                match fetched.ingested {
                    Ingested::Present(_) => sent.existing.push(digest),
                    Ingested::Staged(blob) => {
                        sent.uploaded.push(digest);
                        staged.push(blob);
                    }
                }
            }
            let mut documents = documents;
            documents.extend(
                graph
                    .manifests
                    .iter()
                    .map(|(d, raw)| (d.clone(), raw.bytes().to_vec())),
            );
            let origin = source.origin(&graph.top().digest);
            staged.extend(stage_documents(store, documents, origin).await?);
            self.commit(graph, source, staged).await?;
            for digest in &layers {
                (self.progress)(PullEvent::LayerComplete(digest.clone()));
            }
            Ok(sent)
        }
        .boxed_local()
    }
}

impl StoreSink<'_> {
    /// Tells `progress` which layers the store has and which wait for a slot; returns
    /// the waiting ones, in graph order.
    async fn announce_layers(&self, graph: &Graph, blobs: &[&Descriptor]) -> Result<Vec<Digest>> {
        let layers: Vec<Descriptor> = blobs
            .iter()
            .filter(|b| graph.layers.contains(&b.digest))
            .map(|b| (*b).clone())
            .collect();
        let (present, missing) = blocking(&self.store, move |s| -> Result<_> {
            let mut present = Vec::new();
            let mut missing = Vec::new();
            for layer in layers {
                match s.blob_size(&layer.digest)? {
                    Some(size) if size == layer.size => present.push(layer.digest),
                    _ => missing.push(layer.digest),
                }
            }
            Ok((present, missing))
        })
        .await??;
        for digest in present {
            (self.progress)(PullEvent::LayerAlreadyExists(digest));
        }
        for digest in &missing {
            (self.progress)(PullEvent::LayerWaiting(digest.clone()));
        }
        Ok(missing)
    }

    /// One blob into the store, a layer's progress told as it goes.
    async fn write(
        &self,
        graph: &Graph,
        blob: &Descriptor,
        source: &dyn BlobSource,
    ) -> Result<(Digest, Fetched)> {
        let layer = graph.layers.contains(&blob.digest);
        let report = |step: Step| {
            if !layer {
                return;
            }
            (self.progress)(match step {
                Step::Writing { done } => PullEvent::LayerDownloading {
                    digest: blob.digest.clone(),
                    done,
                    total: blob.size,
                },
                Step::Verifying => PullEvent::LayerVerifying(blob.digest.clone()),
            })
        };
        let fetched = blob_into_store(&self.store, blob, source, &report).await?;
        if layer && !matches!(fetched.ingested, Ingested::Present(_)) {
            (self.progress)(PullEvent::LayerDownloaded(blob.digest.clone()));
        }
        Ok((blob.digest.clone(), fetched))
    }

    /// Publishes `staged` and names the graph's top, in one commit. From the registry
    /// repository of the sink's name, the entry is marked pulled (and, for one platform of
    /// an index, carries the index's digest, so the next pull of the name knows it is up
    /// to date with one `HEAD`), and where the blobs were seen is remembered for mounts.
    async fn commit(
        &self,
        graph: &Graph,
        source: &dyn BlobSource,
        staged: Vec<StagedBlob>,
    ) -> Result<()> {
        let pulled = self.pulled_from(source);
        let top = graph.top().clone();
        let name = self.name.clone();
        let index_digest = graph.index.as_ref().map(|i| i.digest.to_string());
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let commit = blocking(&self.store, move |s| {
            s.commit(staged, |index| {
                if pulled {
                    names::set_pulled_name(index, &top, &name, index_digest);
                } else {
                    names::set_name(index, &top, &name, Some(&now));
                }
                Ok(())
            })
        });
        // Where these blobs live, so a push to another repository there can mount them.
        // That is true of the registry whether or not the commit succeeds, so the hint is
        // written beside the commit, not after it.
        let remember = async {
            if let Some(repository) = source.repository() {
                let seen = graph.blobs.iter().map(|b| b.digest.clone()).collect();
                crate::push::remember_pulled(&self.store, repository, seen).await;
            }
        };
        let (committed, ()) = futures_util::future::join(commit, remember).await;
        committed??;
        Ok(())
    }
}

/// Each image manifest's config (image configs only: an artifact's config is a blob like
/// any other), once, with the manifest that names it.
fn image_configs(graph: &Graph) -> Vec<(Descriptor, ImageManifest)> {
    let mut configs: Vec<(Descriptor, ImageManifest)> = Vec::new();
    for (_, raw) in &graph.manifests {
        if let Manifest::Image(image) = raw.manifest() {
            let config = &image.config;
            if media_type::kind(&config.media_type) == Kind::Config
                && !configs.iter().any(|(c, _)| c.digest == config.digest)
            {
                configs.push((config.clone(), image.clone()));
            }
        }
    }
    configs
}

/// Reads each config whole (configs are small) and checks it names a diff_id per layer:
/// the store holds no image its commands cannot read.
async fn read_configs(
    configs: &[(Descriptor, ImageManifest)],
    source: &dyn BlobSource,
) -> Result<Vec<(Descriptor, Vec<u8>)>> {
    let mut documents = Vec::new();
    for (config, image) in configs {
        let bytes = super::stream::read_small(source, config).await?;
        super::image_config(&bytes, image)?;
        documents.push((config.clone(), bytes));
    }
    Ok(documents)
}

/// Stages configs and manifests read whole, each checked against its digest.
async fn stage_documents(
    store: &Store,
    documents: Vec<(Descriptor, Vec<u8>)>,
    origin: Origin,
) -> Result<Vec<StagedBlob>> {
    blocking(store, move |s| -> Result<Vec<StagedBlob>> {
        let mut staged = Vec::new();
        for (descriptor, bytes) in &documents {
            let d = &descriptor.digest;
            let got = ingest::into_store(s, d, descriptor.size, &origin, |_| Ok(bytes.as_slice()))?;
            staged.extend(got.staged());
        }
        Ok(staged)
    })
    .await?
}
