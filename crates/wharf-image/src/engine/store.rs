//! The local store as a source (an image found by name, `name@digest` or ID; blobs read
//! from its files) and as a sink (every blob through the verifying ingest, resuming a
//! partial an interrupted run left; one commit publishes the blobs and names the image).

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use futures_util::FutureExt;
use wharf_client::UploadSource;
use wharf_spec::{Descriptor, Digest, Reference};
use wharf_store::{StagedBlob, Store};

use super::{stream::write_blob, ImageSink, ImageSource, Select};
use crate::catalog;
use crate::error::{ImageError, Result};
use crate::ingest::{self, Origin, Started};
use crate::names;
use crate::pull::blocking;
use crate::push::{graph, BlobSource, Graph, PushEvent, Sent, StoreBlobs};

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
            let target = if select.all_platforms {
                found.resolved.target
            } else {
                found.resolved.manifest_descriptor
            };
            let graph = graph::build(target, |descriptor| async move {
                blocking(store, move |s| catalog::read_manifest(s, &descriptor)).await?
            })
            .await?;
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

/// The store, naming what it takes `name`.
pub struct StoreSink {
    pub store: Store,
    pub name: Reference,
}

impl StoreSink {
    /// A sink that names the image `name` (a name with a tag, not a digest).
    pub fn new(store: &Store, name: &str) -> Result<StoreSink> {
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
        })
    }
}

impl ImageSink for StoreSink {
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
            let written: Vec<(Digest, Written)> = stream::iter(&graph.blobs)
                .map(|blob| async move {
                    let blob_source = source.blob(blob);
                    let origin = source.origin(&blob.digest);
                    let written = ingest_stream(store, blob, blob_source.as_ref(), &origin).await?;
                    Ok::<_, ImageError>((blob.digest.clone(), written))
                })
                .buffer_unordered(WRITERS)
                .try_collect()
                .await?;
            let mut sent = Sent::default();
            let mut staged: Vec<StagedBlob> = Vec::new();
            for (digest, outcome) in written {
                match outcome {
                    Written::Present => sent.existing.push(digest),
                    Written::Staged { blob, bytes } => {
                        sent.uploaded.push(digest);
                        sent.bytes_uploaded += bytes;
                        staged.push(blob);
                    }
                }
            }
            let manifests: Vec<(Descriptor, Vec<u8>)> = graph
                .manifests
                .iter()
                .map(|(d, raw)| (d.clone(), raw.bytes().to_vec()))
                .collect();
            let origin = source.origin(&graph.top().digest);
            let documents = blocking(store, move |s| -> Result<Vec<StagedBlob>> {
                let mut staged = Vec::new();
                for (descriptor, bytes) in &manifests {
                    let d = &descriptor.digest;
                    let got = ingest::into_store(s, d, descriptor.size, &origin, |_| {
                        Ok(bytes.as_slice())
                    })?;
                    staged.extend(got.staged());
                }
                Ok(staged)
            })
            .await??;
            staged.extend(documents);
            let (top, name) = (graph.top().clone(), self.name.clone());
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            blocking(store, move |s| {
                s.commit(staged, |index| {
                    names::set_name(index, &top, &name, Some(&now));
                    Ok(())
                })
            })
            .await??;
            Ok(sent)
        }
        .boxed_local()
    }
}

enum Written {
    Present,
    Staged { blob: StagedBlob, bytes: u64 },
}

/// One blob from `blob` into the store: resumed from a partial, hashed as it is written,
/// a short stream kept as a prefix for the next run ([`ImageError::TruncatedBlob`]).
async fn ingest_stream(
    store: &Store,
    descriptor: &Descriptor,
    blob: &dyn UploadSource,
    origin: &Origin,
) -> Result<Written> {
    let (digest, size) = (descriptor.digest.clone(), descriptor.size);
    let ingest = match blocking(store, move |s| ingest::start(s, &digest, size)).await?? {
        Started::Present(_) => return Ok(Written::Present),
        Started::Staged(blob) => return Ok(Written::Staged { blob, bytes: 0 }),
        Started::Write(ingest) => ingest,
    };
    let offset = ingest.offset();
    let (ingest, written) = write_blob(blob, offset, ingest).await?;
    let digest = &descriptor.digest;
    let bytes = written.map_err(ImageError::io(format!(
        "copy blob `{digest}` from {origin}"
    )))?;
    let (digest, from) = (digest.clone(), origin.clone());
    let blob = blocking(store, move |_| {
        ingest::finish_written(ingest, &digest, size, &from)
    })
    .await??;
    Ok(Written::Staged { blob, bytes })
}
