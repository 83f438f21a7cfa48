//! A docker-archive (`docker-archive:PATH[:REF]`) as a source and as a sink.
//!
//! - Source: the archive is indexed in place ([`TarIndex`]); `REF` picks the image by
//!   its `RepoTags`. A Docker ≥ 25 archive is an OCI layout inside, read as one (its
//!   manifests keep their digests); a legacy one has no registry manifest, so wharf
//!   writes the one `wharf load` writes. Its layers are plain tars named by their
//!   diff_id: they are read as they are, and the sink's verifying write checks them.
//!   Copied anywhere but the store or another docker-archive they are compressed on the
//!   way ([`crate::engine::compress`]).
//! - Sink: one platform's image written as `docker save` writes it (`writer`), each
//!   layer decompressed from the source's stream, its digest and diff_id checked as it
//!   is written; the archive is a temporary file until the last member is in.

pub(crate) mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use tokio::sync::mpsc;
use wharf_client::UploadSource;
use wharf_fs::{AtomicFile, Durability};
use wharf_spec::media_type;
use wharf_spec::{
    Algorithm, Descriptor, Digest, HashingReader, ImageConfig, RawManifest, Reference,
};

use super::archive::{docker_image, OciArchiveSource};
use super::stream::{self, blob_channel, feed, Chunks, Message};
use super::tar_index::TarIndex;
use super::{image_config, ImageSink, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::ingest::Origin;
use crate::load::docker_archive::{
    check_compressed_layer, manifest_for, parse_config, parse_items,
};
use crate::load::members::normalize;
use crate::push::{graph, BlobSource, Graph, PushEvent, Sent};
use writer::DockerArchiveWriter;

/// The image `reference` names in the docker-archive at `path` (its only one without).
/// Blocking file work: call it off the async runtime.
pub fn open(path: &Path, reference: Option<String>) -> Result<Box<dyn ImageSource>> {
    let index = TarIndex::open(path)?;
    if index.contains("index.json") && index.contains("oci-layout") {
        return Ok(Box::new(OciArchiveSource {
            index,
            reference,
            image_names: true,
        }));
    }
    Ok(Box::new(LegacyArchiveSource::open(index, reference)?))
}

/// A legacy docker-archive's image, with the manifest wharf writes for it.
struct LegacyArchiveSource {
    index: TarIndex,
    manifest: RawManifest,
    /// The member each blob (config, layers) is read from.
    members: BTreeMap<Digest, String>,
}

impl LegacyArchiveSource {
    fn open(index: TarIndex, reference: Option<String>) -> Result<LegacyArchiveSource> {
        let path = index.archive.clone();
        let items = parse_items(&path, &index.read_small("manifest.json").map_err(|_| {
            ImageError::archive(
                &path,
                "not an image archive: it holds neither `index.json` (OCI) nor `manifest.json` (docker-archive)",
            )
        })?)?;
        let wanted = reference
            .as_deref()
            .and_then(|r| Reference::parse_normalized(r).ok().map(|n| n.canonical()));
        let named = |tag: &String| {
            Reference::parse_normalized(tag).is_ok_and(|name| match reference.as_deref() {
                None => true,
                Some(r) => name.tag() == Some(r) || Some(name.canonical()) == wanted,
            })
        };
        let mut chosen: Vec<_> = items
            .iter()
            .filter(|item| match &reference {
                None => true,
                Some(_) => item.repo_tags.iter().flatten().any(named),
            })
            .collect();
        chosen.dedup_by(|a, b| a.config == b.config);
        let item = match chosen.as_slice() {
            [one] => *one,
            [] => {
                return Err(ImageError::archive(
                    &path,
                    format!("holds no image named `{}`", reference.unwrap_or_default()),
                ))
            }
            many => {
                return Err(ImageError::archive(
                    &path,
                    format!("holds {} images; name one as `PATH:REF`", many.len()),
                ))
            }
        };
        let member = |name: &str| {
            let normalized = normalize(name).unwrap_or_default();
            match index.span(&normalized) {
                Some(span) => Ok((normalized, span)),
                None => Err(ImageError::archive(
                    &path,
                    format!("`{name}` named in `manifest.json` is missing from the archive"),
                )),
            }
        };
        let (config_member, _) = member(&item.config)?;
        let config_bytes = index.read_small(&config_member)?;
        let config: ImageConfig = parse_config(&path, item, &config_bytes)?;
        let mut members = BTreeMap::new();
        members.insert(Digest::sha256_of(&config_bytes), config_member);
        let mut layers = Vec::new();
        for (name, diff_id) in item.layers.iter().zip(&config.rootfs.diff_ids) {
            let (normalized, span) = member(name)?;
            let layer = layer_of(&index, name, span, diff_id)?;
            members.insert(layer.digest.clone(), normalized);
            layers.push(layer);
        }
        Ok(LegacyArchiveSource {
            manifest: manifest_for(&config_bytes, layers),
            index,
            members,
        })
    }
}

/// A layer member as a descriptor. A plain tar is its own diff_id: named by it here and
/// checked by the sink as it is written (no extra read). A compressed one is read once
/// now, for its digest and to check its diff_id.
fn layer_of(
    index: &TarIndex,
    name: &str,
    span: (u64, u64),
    diff_id: &Digest,
) -> Result<Descriptor> {
    let context = format!("reading layer `{name}` of `{}`", index.archive.display());
    let failed = |e: io::Error| ImageError::io(context.clone())(e);
    let mut head = io::BufReader::new(index.reader(span).map_err(&failed)?);
    if wharf_layer::detect(&mut head).map_err(&failed)? == wharf_layer::Compression::None {
        return Ok(Descriptor::new(
            media_type::OCI_LAYER_TAR,
            diff_id.clone(),
            span.1,
        ));
    }
    let mut hashing = HashingReader::new(head, Algorithm::Sha256);
    let (media_type, _) = check_compressed_layer(&index.archive, name, diff_id, &mut hashing)?;
    io::copy(&mut hashing, &mut io::sink()).map_err(&failed)?;
    let (digest, size) = hashing.finish();
    Ok(Descriptor::new(media_type, digest, size))
}

impl BlobSource for LegacyArchiveSource {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        let member = self
            .members
            .get(&descriptor.digest)
            .map_or("", String::as_str);
        self.index.stream(member)
    }

    fn origin(&self, digest: &Digest) -> Origin {
        Origin::Member {
            archive: self.index.archive.clone(),
            name: self.members.get(digest).cloned().unwrap_or_default(),
        }
    }
}

impl ImageSource for LegacyArchiveSource {
    /// One image: the archive holds one platform of it.
    fn graph<'a>(&'a self, _select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        let raw = self.manifest.clone();
        async move { graph::build(raw.descriptor(), |_| async { Ok(raw.clone()) }).await }
            .boxed_local()
    }
}

/// A docker-archive at `path`, naming its image `name` when given.
pub struct DockerArchiveSink {
    pub path: PathBuf,
    pub name: Option<Reference>,
    /// The platform written when the source is an index (the host's by default).
    pub select: Select,
}

impl ImageSink for DockerArchiveSink {
    /// An archive is written whole every time: it names nothing worth comparing.
    fn current(&self) -> LocalBoxFuture<'_, Result<Option<Digest>>> {
        async { Ok(None) }.boxed_local()
    }

    fn put<'a>(
        &'a self,
        graph: &'a Graph,
        source: &'a dyn BlobSource,
        _events: &'a dyn Fn(PushEvent),
    ) -> LocalBoxFuture<'a, Result<Sent>> {
        async move {
            let image = docker_image(graph, &self.select).ok_or_else(|| {
                ImageError::Invalid(format!(
                    "`{}` is not an image: a docker-archive holds images only",
                    graph.top().digest
                ))
            })?;
            let config = stream::read_small(source, &image.config).await?;
            let diff_ids = image_config(&config, &image)?.rootfs.diff_ids;
            // Each layer is written once, in order: a repeated diff_id is not sent again.
            let mut seen = BTreeSet::new();
            let layers: Vec<(Descriptor, Digest, Origin)> = image
                .layers
                .iter()
                .zip(&diff_ids)
                .filter(|(_, diff_id)| seen.insert((*diff_id).clone()))
                .map(|(l, d)| (l.clone(), d.clone(), source.origin(&l.digest)))
                .collect();
            let sent: Vec<Descriptor> = layers.iter().map(|(l, _, _)| l.clone()).collect();
            let contents = Contents {
                layers,
                config,
                diff_ids,
                names: self.name.iter().cloned().collect(),
            };
            let (tx, rx) = blob_channel();
            let path = self.path.clone();
            let writer = tokio::task::spawn_blocking(move || write_archive(&path, contents, rx));
            feed(&sent, source, tx).await;
            writer
                .await
                .map_err(ImageError::internal("archive writer"))??;
            Ok(Sent {
                uploaded: sent.iter().map(|b| b.digest.clone()).collect(),
                bytes_uploaded: sent.iter().map(|b| b.size).sum(),
                ..Sent::default()
            })
        }
        .boxed_local()
    }
}

/// What the archive holds besides the layers' bytes, known before any is written.
struct Contents {
    /// The layers to write, each with its diff_id and where it is read from.
    layers: Vec<(Descriptor, Digest, Origin)>,
    config: Vec<u8>,
    diff_ids: Vec<Digest>,
    names: Vec<Reference>,
}

fn write_archive(path: &Path, contents: Contents, mut rx: mpsc::Receiver<Message>) -> Result<()> {
    let file = AtomicFile::create(path)?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let mut writer = DockerArchiveWriter::default();
    for (layer, diff_id, origin) in &contents.layers {
        let mut chunks = Chunks::new(&mut rx, layer.digest.algorithm());
        let written = match wharf_layer::decompress(&mut chunks) {
            Ok((_, mut decoded)) => writer.layer_unsized(&mut tar, layer, diff_id, &mut decoded),
            Err(e) => Err(ImageError::io(format!("reading layer `{}`", layer.digest))(
                e,
            )),
        };
        // A layer whose bytes are wrong is reported as that, not as what decoding them did.
        chunks.verify(layer, origin, written)?;
    }
    writer.image(
        &mut tar,
        &contents.config,
        &contents.diff_ids,
        &contents.names,
    )?;
    writer.finish(&mut tar)?;
    let failed = |e: io::Error| ImageError::Io {
        context: format!("write `{}`", path.display()),
        source: e,
    };
    let mut out = tar.into_inner().map_err(failed)?;
    out.flush().map_err(failed)?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.commit(Durability::Durable)?;
    Ok(())
}
