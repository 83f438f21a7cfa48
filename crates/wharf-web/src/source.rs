//! An image of the registry's own storage as a copy-engine source, so the layer analysis
//! of `wharf layers` (`wharf_image::analysis`) reads it: manifests from the metadata,
//! blobs streamed from the blob store. Nothing goes over HTTP.

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use wharf_client::{OpenFuture, UploadSource};
use wharf_image::engine::{BlobSource, Graph, ImageSource, Select};
use wharf_image::ingest::Origin;
use wharf_image::push::graph;
use wharf_image::{ImageError, Result};
use wharf_registry::service::ManifestRef;
use wharf_registry::Registry;
use wharf_spec::{Descriptor, Digest, RawManifest};

/// The manifest `top` in `repository`, and every blob it names.
pub struct StoredImage {
    pub registry: Arc<Registry>,
    pub repository: String,
    pub top: Descriptor,
}

impl StoredImage {
    async fn manifest(&self, descriptor: Descriptor) -> Result<RawManifest> {
        let stored = self
            .registry
            .manifest(
                &self.repository,
                &ManifestRef::Digest(descriptor.digest.clone()),
            )
            .await
            .map_err(|e| ImageError::Invalid(e.message))?;
        let raw = RawManifest::parse_with(
            stored.content,
            Some(&stored.media_type),
            descriptor.digest.algorithm(),
        )
        .map_err(|e| ImageError::Invalid(format!("manifest `{}`: {e}", descriptor.digest)))?;
        if raw.digest() != &descriptor.digest {
            return Err(ImageError::Invalid(format!(
                "the stored manifest `{}` has digest `{}`",
                descriptor.digest,
                raw.digest()
            )));
        }
        Ok(raw)
    }
}

impl BlobSource for StoredImage {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        Box::new(StoredBlob {
            registry: &self.registry,
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        })
    }

    fn origin(&self, _digest: &Digest) -> Origin {
        Origin::Registry("this registry's storage".into())
    }
}

impl ImageSource for StoredImage {
    fn graph<'a>(&'a self, _select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        graph::build(self.top.clone(), move |d| self.manifest(d)).boxed_local()
    }
}

struct StoredBlob<'a> {
    registry: &'a Registry,
    digest: Digest,
    size: u64,
}

impl UploadSource for StoredBlob<'_> {
    fn open(&self, offset: u64) -> OpenFuture<'_> {
        Box::pin(async move {
            self.registry
                .read_blob(&self.digest, offset..self.size)
                .await
                .map_err(|e| std::io::Error::other(e.message))
        })
    }
}
