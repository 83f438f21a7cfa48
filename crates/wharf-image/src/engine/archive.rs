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
use super::stream::{blob_channel, feed, Chunks, Message};
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
            let (tx, rx) = blob_channel();
            let blobs: Vec<(Descriptor, Origin)> = graph
                .blobs
                .iter()
                .map(|b| (b.clone(), source.origin(&b.digest)))
                .collect();
            let documents = Documents::of(graph, self.name.as_ref(), &self.select);
            let path = self.path.clone();
            let writer =
                tokio::task::spawn_blocking(move || write_archive(&path, &blobs, documents, rx));
            feed(&graph.blobs, source, tx).await;
            writer
                .await
                .map_err(ImageError::internal("archive writer"))??;
            Ok(Sent {
                uploaded: graph.blobs.iter().map(|b| b.digest.clone()).collect(),
                bytes_uploaded: graph.blobs.iter().map(|b| b.size).sum(),
                ..Sent::default()
            })
        }
        .boxed_local()
    }
}

/// The archive's own documents, built before any blob is written.
struct Documents {
    manifests: Vec<(Descriptor, Vec<u8>)>,
    index: Vec<u8>,
    docker_manifest: Vec<u8>,
}

impl Documents {
    fn of(graph: &Graph, name: Option<&Reference>, select: &Select) -> Documents {
        let top = graph.top();
        let mut entry = top.clone();
        entry.annotations = None;
        if let Some(name) = name {
            entry.set_annotation(ANNOTATION_CONTAINERD_IMAGE_NAME, name.to_string());
            entry.set_annotation(ANNOTATION_REF_NAME, name.tag().unwrap_or("latest"));
        }
        let mut index = ImageIndex::empty();
        index.manifests.push(entry);
        // Docker before 25 reads only `manifest.json`: the image of one platform.
        let blob = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.hex());
        let image = docker_image(graph, select);
        let items: Vec<ArchiveItem> = image
            .map(|m| ArchiveItem {
                config: blob(&m.config.digest),
                repo_tags: name.map(|n| vec![n.familiar()]),
                layers: m.layers.iter().map(|l| blob(&l.digest)).collect(),
            })
            .into_iter()
            .collect();
        Documents {
            manifests: graph
                .manifests
                .iter()
                .map(|(d, raw)| (d.clone(), raw.bytes().to_vec()))
                .collect(),
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

fn write_archive(
    path: &std::path::Path,
    blobs: &[(Descriptor, Origin)],
    documents: Documents,
    mut rx: mpsc::Receiver<Message>,
) -> Result<()> {
    let file = AtomicFile::create(path)?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for (blob, origin) in blobs {
        let member = format!("blobs/{}/{}", blob.digest.algorithm(), blob.digest.hex());
        let mut chunks = Chunks::new(&mut rx, blob.digest.algorithm());
        let written = append_stream(&mut tar, &member, blob.size, &mut chunks);
        chunks.verify(blob, origin, written)?;
    }
    for (descriptor, bytes) in &documents.manifests {
        let member = format!(
            "blobs/{}/{}",
            descriptor.digest.algorithm(),
            descriptor.digest.hex()
        );
        append_bytes(&mut tar, &member, bytes)?;
    }
    append_bytes(&mut tar, "index.json", &documents.index)?;
    append_bytes(&mut tar, "manifest.json", &documents.docker_manifest)?;
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
