//! An OCI archive (`oci-archive:PATH[:REF]`) as a source and as a sink.
//!
//! - Source: the archive is indexed once ([`TarIndex`]: where each member's bytes start,
//!   links followed, a compressed archive decompressed once into a temporary tar) and
//!   then read like a layout directory, any blob at any offset.
//! - Sink: the layout written as one tar, straight from the source's streams. Members
//!   come in the order `wharf save` writes them (`oci-layout`, every blob, `index.json`,
//!   then Docker ≥ 25's `manifest.json`), so the result reads the same to `docker load`,
//!   skopeo and `wharf load`. Each blob is hashed as it is written; the archive is a
//!   temporary file beside `PATH` until the last member is in, so a mismatch or a failure
//!   leaves no archive behind.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use tokio::sync::mpsc;
use wharf_client::UploadSource;
use wharf_fs::{AtomicFile, Durability};
use wharf_spec::descriptor::{ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME};
use wharf_spec::{Descriptor, Digest, ImageIndex, Manifest, Platform, Reference};

use super::layout::{choose_entry, layout_graph};
use super::stream::{blob_channel, feed, BlobFeed, Message};
use super::tar_index::TarIndex;
use super::{ImageSink, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::ingest::{self, Origin};
use crate::load::layout::{check_layout_file, check_size, parse_index};
use crate::push::{BlobSource, Graph, PushEvent, Sent};
use crate::save::{append_bytes, append_stream, ArchiveItem};

/// An OCI archive at `path`, naming its image `name` when given.
pub struct OciArchiveSink {
    pub path: PathBuf,
    pub name: Option<Reference>,
    /// The platform `manifest.json` lists when the archive holds a whole index.
    pub select: Select,
}

impl ImageSink for OciArchiveSink {
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
            let image = ArchiveImage {
                graph: graph.clone(),
                names: self.name.iter().cloned().collect(),
            };
            let contents = Contents::of(&[image], &self.select, source);
            let blobs = contents
                .blobs
                .iter()
                .map(|(b, _)| b.clone())
                .collect::<Vec<_>>();
            let (tx, rx) = blob_channel();
            let path = self.path.clone();
            let writer = tokio::task::spawn_blocking(move || write_file(&path, &contents, rx));
            feed(&blobs, source, tx).await;
            writer
                .await
                .map_err(ImageError::internal("archive writer"))??;
            Ok(Sent {
                uploaded: blobs.iter().map(|b| b.digest.clone()).collect(),
                bytes_uploaded: blobs.iter().map(|b| b.size).sum(),
                ..Sent::default()
            })
        }
        .boxed_local()
    }
}

/// An image an OCI archive holds, with the names its `index.json` entries carry (none:
/// one entry without a name).
pub(crate) struct ArchiveImage {
    pub graph: Graph,
    pub names: Vec<Reference>,
}

/// What an OCI archive of some images holds, known before any blob is written: the blobs
/// to stream (each once, with where it comes from), then its own documents.
pub(crate) struct Contents {
    pub blobs: Vec<(Descriptor, Origin)>,
    manifests: Vec<(Descriptor, Vec<u8>)>,
    index: Vec<u8>,
    docker_manifest: Vec<u8>,
}

impl Contents {
    /// The archive of `images` (`select` picks the platform `manifest.json` lists from an
    /// index), its blobs read from `source`.
    pub fn of(images: &[ArchiveImage], select: &Select, source: &dyn BlobSource) -> Contents {
        let mut blobs: Vec<(Descriptor, Origin)> = Vec::new();
        let mut manifests: Vec<(Descriptor, Vec<u8>)> = Vec::new();
        let mut index = ImageIndex::empty();
        let mut items: Vec<ArchiveItem> = Vec::new();
        let member = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.hex());
        for image in images {
            let graph = &image.graph;
            for blob in &graph.blobs {
                if !blobs.iter().any(|(b, _)| b.digest == blob.digest) {
                    blobs.push((blob.clone(), source.origin(&blob.digest)));
                }
            }
            for (descriptor, raw) in &graph.manifests {
                if !manifests.iter().any(|(d, _)| d.digest == descriptor.digest) {
                    manifests.push((descriptor.clone(), raw.bytes().to_vec()));
                }
            }
            let mut entry = graph.top().clone();
            entry.annotations = None;
            if image.names.is_empty() {
                index.manifests.push(entry.clone());
            }
            for name in &image.names {
                let mut named = entry.clone();
                named.set_annotation(ANNOTATION_CONTAINERD_IMAGE_NAME, name.to_string());
                named.set_annotation(ANNOTATION_REF_NAME, name.tag().unwrap_or("latest"));
                index.manifests.push(named);
            }
            // Docker before 25 reads only `manifest.json`: the image of one platform.
            if let Some(m) = docker_image(graph, select) {
                let names: Vec<String> = image.names.iter().map(Reference::familiar).collect();
                items.push(ArchiveItem {
                    config: member(&m.config.digest),
                    repo_tags: (!names.is_empty()).then_some(names),
                    layers: m.layers.iter().map(|l| member(&l.digest)).collect(),
                });
            }
        }
        Contents {
            blobs,
            manifests,
            index: serde_json::to_vec(&index).expect("an index serializes"),
            docker_manifest: serde_json::to_vec(&items).expect("json"),
        }
    }
}

/// The image manifest `manifest.json` describes: the top one, or in an index the one for
/// the selected platform (the host's by default).
pub(crate) fn docker_image(graph: &Graph, select: &Select) -> Option<wharf_spec::ImageManifest> {
    let image_of = |digest: &Digest| {
        graph
            .manifests
            .iter()
            .find_map(|(d, raw)| match raw.manifest() {
                Manifest::Image(m) if d.digest == *digest => Some(m.clone()),
                _ => None,
            })
    };
    match graph.manifests.last()?.1.manifest() {
        Manifest::Image(m) => Some(m.clone()),
        Manifest::Index(index) => {
            let wanted = select.platform.clone().unwrap_or_else(Platform::host);
            let chosen = wharf_client::select_platform(index, &wanted)?;
            image_of(&chosen.digest)
        }
    }
}

/// Writes the archive into a temporary file beside `path`, renamed over it when whole.
fn write_file(path: &Path, contents: &Contents, rx: mpsc::Receiver<Message>) -> Result<()> {
    let failed = |e: io::Error| ImageError::Io {
        context: format!("write `{}`", path.display()),
        source: e,
    };
    let file = AtomicFile::create(path)?;
    let out = write_oci(
        BufWriter::with_capacity(1 << 20, file),
        contents,
        BlobFeed::Channel(rx),
    )?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.commit(Durability::Durable)?;
    Ok(())
}

/// Writes the OCI archive `contents` describes into `out` as one tar, in the order
/// `wharf save` has always written it (`oci-layout`, every blob, `index.json`, then
/// `manifest.json`), each blob's bytes taken from `blobs` in the order of
/// `contents.blobs` and checked against its digest as it is written. Returns `out`,
/// flushed.
pub(crate) fn write_oci<W: Write>(
    out: W,
    contents: &Contents,
    mut blobs: BlobFeed<'_>,
) -> Result<W> {
    let mut tar = tar::Builder::new(out);
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for (blob, origin) in &contents.blobs {
        let member = format!("blobs/{}/{}", blob.digest.algorithm(), blob.digest.hex());
        let mut chunks = blobs.next(blob);
        let written = append_stream(&mut tar, &member, blob.size, &mut chunks);
        chunks.verify(blob, origin, written)?;
    }
    for (descriptor, bytes) in &contents.manifests {
        let member = format!(
            "blobs/{}/{}",
            descriptor.digest.algorithm(),
            descriptor.digest.hex()
        );
        append_bytes(&mut tar, &member, bytes)?;
    }
    append_bytes(&mut tar, "index.json", &contents.index)?;
    append_bytes(&mut tar, "manifest.json", &contents.docker_manifest)?;
    let failed = ImageError::io("finishing the archive");
    let mut out = tar.into_inner().map_err(failed)?;
    out.flush()
        .map_err(ImageError::io("finishing the archive"))?;
    Ok(out)
}

/// The image `reference` names in an OCI archive, read in place ([`TarIndex`]).
pub struct OciArchiveSource {
    pub index: TarIndex,
    pub reference: Option<String>,
    /// `reference` may name the image as `RepoTags` do (`docker-archive:` of a Docker ≥ 25
    /// archive; see `choose_entry`).
    pub image_names: bool,
}

impl OciArchiveSource {
    /// The image `reference` names in the OCI archive at `path`. Blocking file work: call
    /// it off the async runtime.
    pub fn open(path: &Path, reference: Option<String>) -> Result<OciArchiveSource> {
        Ok(OciArchiveSource {
            index: TarIndex::open(path)?,
            reference,
            image_names: false,
        })
    }

    fn member_of(digest: &Digest) -> String {
        format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
    }

    fn read_small(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let bytes = self
            .index
            .read_small(&Self::member_of(&descriptor.digest))?;
        check_size(descriptor, bytes.len() as u64)?;
        ingest::check_bytes(&bytes, &descriptor.digest, &self.origin(&descriptor.digest))?;
        Ok(bytes)
    }
}

impl BlobSource for OciArchiveSource {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        self.index.stream(&Self::member_of(&descriptor.digest))
    }

    fn origin(&self, digest: &Digest) -> Origin {
        Origin::Member {
            archive: self.index.archive.clone(),
            name: Self::member_of(digest),
        }
    }
}

impl ImageSource for OciArchiveSource {
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        async move {
            let path = &self.index.archive;
            let layout_file = self.index.read_small("oci-layout").map_err(|_| {
                ImageError::archive(path, "not an OCI archive: `oci-layout` is missing")
            })?;
            check_layout_file(path, &layout_file)?;
            let index = parse_index(path, &self.index.read_small("index.json")?)?;
            let entry = choose_entry(path, &index, self.reference.as_deref(), self.image_names)?;
            let check_blob =
                |blob: &Descriptor| match self.index.span(&Self::member_of(&blob.digest)) {
                    Some((_, size)) => check_size(blob, size),
                    None => Err(ImageError::archive(
                        path,
                        format!("blob `{}` is missing from the archive", blob.digest),
                    )),
                };
            layout_graph(entry, select, |d| self.read_small(d), check_blob).await
        }
        .boxed_local()
    }
}
