//! A registry repository as a source (its graph read with the client, its blobs streamed
//! straight from it: nothing on disk) and as a sink ([`crate::push::send`]: `HEAD`,
//! cross-repository mount, upload, then the manifests).

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use wharf_client::{Client, RemoteBlob, Resolved, UploadSource};
use wharf_spec::{Descriptor, Digest, ImageIndex, Platform, RawManifest, Reference};

use super::{ImageSink, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::ingest::Origin;
use crate::push::{graph, send, BlobSource, Graph, KnownBlobs, PushEvent, SendOptions, Sent};

/// The image `repository` (its tag or digest) names in its registry.
pub struct RegistrySource {
    pub client: Client,
    pub repository: Reference,
}

impl ImageSource for RegistrySource {
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        graph_of(&self.client, &self.repository, select).boxed_local()
    }
}

/// A registry repository to send to: the tag (or digest) of `destination` names the top.
pub struct RegistrySink<'a> {
    pub client: &'a Client,
    pub destination: Reference,
    /// Where blobs were seen on the destination's registry, for cross-repository mounts.
    pub known: &'a KnownBlobs,
    pub options: SendOptions,
}

impl ImageSink for RegistrySink<'_> {
    fn current(&self) -> LocalBoxFuture<'_, Result<Option<Digest>>> {
        async move {
            match self.client.head_manifest(&self.destination).await {
                Ok(found) => Ok(Some(found.digest)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        .boxed_local()
    }

    fn put<'b>(
        &'b self,
        graph: &'b Graph,
        source: &'b dyn BlobSource,
        events: &'b dyn Fn(PushEvent),
    ) -> LocalBoxFuture<'b, Result<Sent>> {
        send::send(
            self.client,
            &self.destination,
            graph,
            source,
            self.known,
            &self.options,
            events,
        )
        .boxed_local()
    }
}

impl BlobSource for RegistrySource {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        Box::new(RemoteBlob::new(
            self.client.clone(),
            self.repository.clone(),
            descriptor.clone(),
        ))
    }

    fn repository(&self) -> Option<&Reference> {
        Some(&self.repository)
    }

    fn origin(&self, _: &Digest) -> Origin {
        Origin::Registry(self.repository.domain().to_string())
    }
}

/// The graph `reference` names: with `all_platforms`, the whole index; with several
/// `platforms`, an index of just those; else the manifest for `platform` (the host's by
/// default) when it names an index.
pub async fn graph_of(client: &Client, reference: &Reference, select: &Select) -> Result<Graph> {
    let (target, top) = target_of(client, reference, select).await?;
    let chosen = target.digest != top.descriptor.digest;
    let mut graph = graph_under(client, reference, target, Some(&top)).await?;
    graph.index = chosen.then_some(top.descriptor);
    Ok(graph)
}

/// What a copy of `reference` sends (see [`graph_of`]), with the top manifest as read
/// (or, for several platforms, as narrowed).
pub async fn target_of(
    client: &Client,
    reference: &Reference,
    select: &Select,
) -> Result<(Descriptor, Resolved)> {
    let top: Resolved = client.resolve(reference).await?;
    let target = match top.index() {
        Some(index) if !select.all_platforms && select.platforms.len() > 1 => {
            let manifest = narrowed(&top.manifest, index, &select.platforms)?;
            let descriptor = manifest.descriptor();
            return Ok((
                descriptor.clone(),
                Resolved {
                    reference: top.reference,
                    descriptor,
                    manifest,
                },
            ));
        }
        Some(_) if !select.all_platforms => {
            let wanted = select.platform.clone().unwrap_or_else(Platform::host);
            match top.select_platform(&wanted) {
                Ok(chosen) => chosen.clone(),
                // Not among the index's own images: maybe in an index it nests.
                Err(_) => {
                    client
                        .select_platform_nested(&top, &wanted)
                        .await?
                        .descriptor
                }
            }
        }
        _ => top.descriptor.clone(),
    };
    Ok((target, top))
}

/// The index `raw` with only the entries for `wanted` (each must be there), in the
/// index's own order: a new index, with a digest of its own.
fn narrowed(raw: &RawManifest, index: &ImageIndex, wanted: &[Platform]) -> Result<RawManifest> {
    let mut keep: Vec<&Descriptor> = Vec::new();
    for platform in wanted {
        let found = wharf_client::select_platform(index, platform).ok_or_else(|| {
            ImageError::PlatformNotFound {
                wanted: platform.to_string(),
                available: wharf_client::available_platforms(index)
                    .iter()
                    .map(Platform::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        if !keep.contains(&found) {
            keep.push(found);
        }
    }
    let mut narrowed = index.clone();
    narrowed.manifests.retain(|d| keep.contains(&d));
    let bytes = serde_json::to_vec(&narrowed).expect("an index serializes");
    RawManifest::parse(bytes, Some(raw.media_type()))
        .map_err(|e| ImageError::Invalid(format!("the narrowed index does not parse: {e}")))
}

/// The graph under `target` in `repository`, reading every manifest from the registry
/// (but `known`, when it is one of them, already read).
pub async fn graph_under(
    client: &Client,
    repository: &Reference,
    target: Descriptor,
    known: Option<&Resolved>,
) -> Result<Graph> {
    graph::build(target, |descriptor| async move {
        if let Some(known) = known.filter(|k| k.descriptor.digest == descriptor.digest) {
            return Ok(known.manifest.clone());
        }
        Ok(client
            .fetch_manifest(repository, &descriptor)
            .await?
            .manifest)
    })
    .await
}
