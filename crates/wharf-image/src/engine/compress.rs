//! A source whose layers are (re)compressed on the way, as `skopeo copy
//! --dest-compress-format` does: a docker-archive's uncompressed layers always, and with
//! `recompress` every layer in another compression (gzip to zstd, zstd to gzip). Each
//! layer streams from the source (its digest checked as it arrives), is decompressed, and
//! goes through the layer builder's encoder (gzip or zstd on every core,
//! [`LayerEncoder`]) into a temporary file, its diff_id checked against the config; new
//! manifests (and, for several platforms, a new index) name the new blobs. The config,
//! and so the diff_ids and the image ID, stay the same; layer, manifest and index digests
//! are new (a manifest must name its blobs' digests, so they are known before anything is
//! sent).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use wharf_client::UploadSource;
use wharf_layer::build::{default_threads, LayerEncoder};
use wharf_spec::digest::HashingWriter;
use wharf_spec::media_type::{self, Compression, Kind};
use wharf_spec::{
    Algorithm, Descriptor, Digest, ImageIndex, ImageManifest, Manifest, RawManifest, Reference,
};

use super::stream::{read_small, with_blob};
use super::{image_config, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::ingest::Origin;
use crate::load::oci_dir::open_nofollow;
use crate::push::store_source::file_stream;
use crate::push::{graph, BlobSource, Graph};

pub struct Compressed {
    inner: Box<dyn ImageSource>,
    compression: Compression,
    /// Re-encode compressed layers in another compression too, not only plain ones.
    recompress: bool,
    /// Holds the compressed layers until the copy is done.
    dir: tempfile::TempDir,
    /// Compressed layers by their new digest: the file and its size.
    layers: Mutex<BTreeMap<Digest, (PathBuf, u64)>>,
}

impl Compressed {
    /// `inner` with its plain layers compressed as `compression` (gzip or zstd), and with
    /// `recompress` its layers in another compression re-encoded as `compression` too.
    pub fn new(
        inner: Box<dyn ImageSource>,
        compression: Compression,
        recompress: bool,
    ) -> Result<Compressed> {
        let dir = tempfile::Builder::new()
            .prefix("wharf-compress-")
            .tempdir()
            .map_err(ImageError::io("creating a directory for compressed layers"))?;
        Ok(Compressed {
            inner,
            compression,
            recompress,
            dir,
            layers: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether `layer` is re-encoded.
    fn changes(&self, layer: &Descriptor) -> bool {
        match media_type::kind(&layer.media_type) {
            Kind::Layer(Compression::None) => self.compression != Compression::None,
            Kind::Layer(current) => self.recompress && current != self.compression,
            _ => false,
        }
    }

    /// Encodes the layer `layer`, whose uncompressed bytes are `diff_id`, into a file;
    /// its new descriptor.
    async fn encode(&self, layer: &Descriptor, diff_id: &Digest) -> Result<Descriptor> {
        let origin = self.inner.origin(&layer.digest);
        let context = format!("compressing layer `{}` from {origin}", layer.digest);
        let failed = |e: io::Error| ImageError::io(context.clone())(e);
        let (file, path) = tempfile::NamedTempFile::new_in(self.dir.path())
            .map_err(failed)?
            .keep()
            .map_err(|e| failed(e.error))?;
        let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file), Algorithm::Sha256);
        let encoder = LayerEncoder::new(
            out,
            self.compression,
            level(self.compression),
            default_threads(),
        )
        .map_err(failed)?;
        let task = context.clone();
        // The blob is checked against its digest as it streams past (`with_blob`); the
        // encoder hashes what it is given, the layer's uncompressed bytes.
        let (digest, size, encoded_diff_id) =
            with_blob(self.inner.as_ref(), layer, move |chunks| {
                let failed = |e: io::Error| ImageError::io(task.clone())(e);
                let mut encoder = encoder;
                let (_, mut decoded) =
                    wharf_layer::decompress(io::BufReader::with_capacity(1 << 20, chunks))
                        .map_err(failed)?;
                io::copy(&mut decoded, &mut encoder).map_err(failed)?;
                let (out, diff_id, _) = encoder.finish().map_err(failed)?;
                let (mut file, digest, size) = out.finish();
                file.flush().map_err(failed)?;
                Ok((digest, size, diff_id))
            })
            .await?;
        if encoded_diff_id != *diff_id {
            return Err(ImageError::DiffIdMismatch {
                layer: layer.digest.clone(),
                expected: diff_id.clone(),
                actual: encoded_diff_id,
            });
        }
        self.layers
            .lock()
            .expect("compressed layers")
            .insert(digest.clone(), (path, size));
        let media = match self.compression {
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
            _ => media_type::OCI_LAYER_GZIP,
        };
        Ok(Descriptor::new(media, digest, size))
    }

    /// `manifest` over re-encoded layers, or `None` when none of its layers changes.
    /// `encoded` holds the layers done already (a layer shared by several platforms is
    /// encoded once).
    async fn reencode_image(
        &self,
        manifest: &ImageManifest,
        encoded: &mut BTreeMap<Digest, Descriptor>,
    ) -> Result<Option<RawManifest>> {
        if !manifest.layers.iter().any(|l| self.changes(l)) {
            return Ok(None);
        }
        let config = read_small(self.inner.as_ref(), &manifest.config).await?;
        let diff_ids = image_config(&config, manifest)?.rootfs.diff_ids;
        let mut layers = Vec::new();
        for (layer, diff_id) in manifest.layers.iter().zip(&diff_ids) {
            if !self.changes(layer) {
                layers.push(layer.clone());
                continue;
            }
            let new = match encoded.get(&layer.digest) {
                Some(done) => done.clone(),
                None => self.encode(layer, diff_id).await?,
            };
            encoded.insert(layer.digest.clone(), new.clone());
            layers.push(new);
        }
        let mut config = manifest.config.clone();
        if config.media_type == media_type::DOCKER_CONFIG {
            // The same bytes, named as an OCI manifest names a config.
            config.media_type = media_type::OCI_CONFIG.to_string();
        }
        Ok(Some(RawManifest::from_image(&ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.to_string()),
            artifact_type: manifest.artifact_type.clone(),
            config,
            layers,
            subject: manifest.subject.clone(),
            annotations: manifest.annotations.clone(),
        })))
    }

    fn compressed(&self, digest: &Digest) -> Option<(PathBuf, u64)> {
        self.layers
            .lock()
            .expect("compressed layers")
            .get(digest)
            .cloned()
    }
}

impl BlobSource for Compressed {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        match self.compressed(&descriptor.digest) {
            Some((path, size)) => Box::new(LayerFile { path, size }),
            None => self.inner.blob(descriptor),
        }
    }

    fn repository(&self) -> Option<&Reference> {
        self.inner.repository()
    }

    fn origin(&self, digest: &Digest) -> Origin {
        match self.compressed(digest) {
            Some((path, _)) => Origin::File(path),
            None => self.inner.origin(digest),
        }
    }
}

impl ImageSource for Compressed {
    /// The inner graph with new manifests over the re-encoded layers, children first;
    /// an index whose children changed is rewritten to name the new ones (as an OCI
    /// index: its children are OCI manifests now).
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        async move {
            let graph = self.inner.graph(select).await?;
            let mut encoded: BTreeMap<Digest, Descriptor> = BTreeMap::new();
            // Old manifest digest -> its rewrite.
            let mut rewritten: BTreeMap<Digest, RawManifest> = BTreeMap::new();
            for (descriptor, raw) in &graph.manifests {
                let new = match raw.manifest() {
                    Manifest::Image(image) => self.reencode_image(image, &mut encoded).await?,
                    Manifest::Index(index) => rewrite_index(index, &rewritten)?,
                };
                if let Some(new) = new {
                    rewritten.insert(descriptor.digest.clone(), new);
                }
            }
            let top = graph.top();
            let Some(new_top) = rewritten.get(&top.digest) else {
                return Ok(graph);
            };
            let mut target = top.clone();
            let replacement = new_top.descriptor();
            (target.media_type, target.digest, target.size) =
                (replacement.media_type, replacement.digest, replacement.size);
            let mut known: BTreeMap<Digest, RawManifest> = graph
                .manifests
                .iter()
                .map(|(d, raw)| (d.digest.clone(), raw.clone()))
                .collect();
            known.extend(
                rewritten
                    .values()
                    .map(|raw| (raw.digest().clone(), raw.clone())),
            );
            let mut new_graph = graph::build(target, |d| {
                let found = known.get(&d.digest).cloned();
                async move {
                    found.ok_or_else(|| {
                        ImageError::Invalid(format!("manifest `{}` was not read", d.digest))
                    })
                }
            })
            .await?;
            new_graph.index = graph.index.clone();
            Ok(new_graph)
        }
        .boxed_local()
    }
}

/// `index` naming the rewritten children, or `None` when none of them was rewritten.
fn rewrite_index(
    index: &ImageIndex,
    rewritten: &BTreeMap<Digest, RawManifest>,
) -> Result<Option<RawManifest>> {
    if !index
        .manifests
        .iter()
        .any(|c| rewritten.contains_key(&c.digest))
    {
        return Ok(None);
    }
    let mut new = index.clone();
    new.media_type = Some(media_type::OCI_INDEX.to_string());
    for child in &mut new.manifests {
        if let Some(raw) = rewritten.get(&child.digest) {
            let replacement = raw.descriptor();
            (child.media_type, child.digest, child.size) =
                (replacement.media_type, replacement.digest, replacement.size);
        }
    }
    let bytes = serde_json::to_vec(&new).expect("an index serializes");
    RawManifest::parse(bytes, Some(media_type::OCI_INDEX))
        .map(Some)
        .map_err(|e| ImageError::Invalid(format!("the rewritten index does not parse: {e}")))
}

struct LayerFile {
    path: PathBuf,
    size: u64,
}

impl UploadSource for LayerFile {
    fn open(&self, offset: u64) -> wharf_client::OpenFuture<'_> {
        let path = self.path.clone();
        let offset = offset.min(self.size);
        file_stream(offset, self.size - offset, move || open_nofollow(&path))
    }
}

/// gzip level 3 gives layers as small as Go's default level does (what Docker and skopeo
/// write when they compress: debian-python's large layer is 51.0 MB against skopeo's
/// 51.1 MB; level 6 gives 49.9 MB) in 0.96 s instead of 1.3 s on two cores. zstd keeps
/// its default.
fn level(compression: Compression) -> Option<i32> {
    match compression {
        Compression::Gzip => Some(3),
        _ => None,
    }
}
