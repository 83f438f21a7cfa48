//! A registry repository as a source (its graph read with the client, its blobs streamed
//! straight from it: nothing on disk) and as a sink ([`crate::push::send`]: `HEAD`,
//! cross-repository mount, upload, then the manifests).

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use wharf_client::{Client, RemoteBlob, Resolved, UploadSource};
use wharf_spec::{Descriptor, Digest, Platform, Reference};

use super::{ImageSink, ImageSource, Select};
use crate::error::Result;
use crate::ingest::Origin;
use crate::push::{graph, send, BlobSource, Graph, KnownBlobs, PushEvent, SendOptions, Sent};

/// The image `repository` (its tag or digest) names in its registry.
pub struct RegistrySource {
    pub client: Client,
    pub repository: Reference,
}

impl ImageSource for RegistrySource {
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        graph_of(
            &self.client,
            &self.repository,
            select.all_platforms,
            select.platform.as_ref(),
        )
        .boxed_local()
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
        Box::new(RemoteBlob {
            client: self.client.clone(),
            repository: self.repository.clone(),
            descriptor: descriptor.clone(),
        })
    }

    fn repository(&self) -> Option<&Reference> {
        Some(&self.repository)
    }

    fn origin(&self, _: &Digest) -> Origin {
        Origin::Registry(self.repository.domain().to_string())
    }
}

/// The graph `reference` names: with `all`, the whole index; else the manifest for
/// `platform` (the host's by default) when it names an index.
pub async fn graph_of(
    client: &Client,
    reference: &Reference,
    all: bool,
    platform: Option<&Platform>,
) -> Result<Graph> {
    let (target, top) = target_of(client, reference, all, platform).await?;
    graph_under(client, reference, target, Some(&top)).await
}

/// What a copy of `reference` sends (see [`graph_of`]), with the top manifest as read.
pub async fn target_of(
    client: &Client,
    reference: &Reference,
    all: bool,
    platform: Option<&Platform>,
) -> Result<(Descriptor, Resolved)> {
    let top: Resolved = client.resolve(reference).await?;
    let target = match top.index() {
        Some(_) if !all => {
            let wanted = platform.cloned().unwrap_or_else(Platform::host);
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
