//! A registry image as a copy source: its graph read with the client, its blobs streamed
//! straight from the source registry into the destination's uploads (nothing on disk).

use wharf_client::{Client, RemoteBlob, Resolved, UploadSource};
use wharf_spec::{Descriptor, Platform, Reference};

use crate::error::Result;
use crate::push::{graph, BlobSource, Graph};

pub struct RemoteBlobs {
    pub client: Client,
    pub repository: Reference,
}

impl BlobSource for RemoteBlobs {
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
}

/// The graph `reference` names: with `all`, the whole index; else the manifest for
/// `platform` (the host's by default) when it names an index.
pub async fn graph_of(
    client: &Client,
    reference: &Reference,
    all: bool,
    platform: Option<&Platform>,
) -> Result<Graph> {
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
    graph_under(client, reference, target, Some(&top)).await
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
