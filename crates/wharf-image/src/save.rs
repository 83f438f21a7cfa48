//! `wharf save`: images to a docker-archive (what `docker load` and
//! `skopeo copy docker-archive:` read: uncompressed layer tars, configs, `manifest.json`)
//! or to an OCI archive (the store's own blobs, byte for byte).
//!
//! Layers are decompressed on the fly and their diff_ids checked as they are written;
//! nothing is held in memory but one buffer.

use std::io::{self, Read, Write};

use futures_util::FutureExt;
use serde::Serialize;
use wharf_spec::{Descriptor, Platform, Reference};
use wharf_store::Store;

use crate::catalog::{self, Found};
use crate::engine::archive::{self, ArchiveImage, Contents};
use crate::engine::docker_archive::writer::DockerArchiveWriter;
use crate::engine::stream::BlobFeed;
use crate::engine::Select;
use crate::error::{ImageError, Result};
use crate::layers::layer_info;
use crate::push::{graph, Graph, StoreBlobs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
}

pub fn save(
    store: &Store,
    inputs: &[String],
    format: SaveFormat,
    platform: Option<&Platform>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut images = Vec::new();
    for input in inputs {
        let mut found = catalog::find(store, input, platform)?;
        // Saved by digest, an image carries no names, as with `docker save NAME@DIGEST`.
        if Reference::parse_normalized(input).is_ok_and(|r| r.digest().is_some()) {
            found.names.clear();
            found.matched_name = None;
        }
        images.push(found);
    }
    write_archive(store, &images, format, platform, out)
}

/// Writes `images` (each carrying the names to save, see [`Found::matched_name`]) as an
/// archive of `format`; `platform` is the one an OCI archive's `manifest.json` lists from
/// an index (the host's by default).
pub fn write_archive(
    store: &Store,
    images: &[Found],
    format: SaveFormat,
    platform: Option<&Platform>,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        SaveFormat::DockerArchive => {
            let mut tar = tar::Builder::new(out);
            write_docker_archive(store, images, &mut tar)?;
            tar.into_inner()
                .and_then(|w| w.flush())
                .map_err(ImageError::io("finishing the archive"))?;
            Ok(())
        }
        SaveFormat::OciArchive => write_oci_archive(store, images, platform, out),
    }
}

/// A name typed by the user is what the archive carries; an ID carries every name.
fn names_to_save(found: &Found) -> Vec<Reference> {
    match &found.matched_name {
        Some(name) => vec![name.clone()],
        None => found.names.clone(),
    }
}

#[derive(Serialize)]
pub(crate) struct ArchiveItem {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

fn write_docker_archive<W: Write>(
    store: &Store,
    images: &[Found],
    tar: &mut tar::Builder<W>,
) -> Result<()> {
    let mut writer = DockerArchiveWriter::default();
    for found in images {
        let r = &found.resolved;
        let mut diff_ids = Vec::new();
        for layer in &r.manifest.layers {
            let info = layer_info(store, layer)?;
            if !writer.has_layer(&info.diff_id) {
                let blob = store.open_blob(&layer.digest)?;
                let (_, mut decoded) =
                    wharf_layer::decompress(io::BufReader::with_capacity(1 << 20, blob))
                        .map_err(ImageError::io(format!("reading layer `{}`", layer.digest)))?;
                writer.layer(tar, layer, &info.diff_id, info.size, &mut decoded)?;
            }
            diff_ids.push(info.diff_id);
        }
        writer.image(tar, &r.config_bytes, &diff_ids, &names_to_save(found))?;
    }
    writer.finish(tar)
}

/// The images as an OCI archive, written by the copy engine's OCI archive writer
/// ([`archive::write_oci`], what `copy … oci-archive:` writes too): every blob read from
/// the store's file and checked against its digest as it goes into the archive.
fn write_oci_archive(
    store: &Store,
    images: &[Found],
    platform: Option<&Platform>,
    out: &mut dyn Write,
) -> Result<()> {
    let source = StoreBlobs {
        store: store.clone(),
    };
    let archived = images
        .iter()
        .map(|found| {
            Ok(ArchiveImage {
                graph: stored_graph(store, &found.resolved.target)?,
                names: names_to_save(found),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let select = Select {
        platform: platform.cloned(),
        ..Select::default()
    };
    let contents = Contents::of(&archived, &select, &source);
    // Local files: read on this thread, each checked as it is written.
    let open = |blob: &Descriptor| -> std::io::Result<Box<dyn Read + Send>> {
        let file = store
            .open_blob(&blob.digest)
            .map_err(std::io::Error::other)?;
        Ok(Box::new(file))
    };
    archive::write_oci(out, &contents, BlobFeed::Open(&open)).map(|_| ())
}

/// The graph of the store's image `target` (manifests read from the store).
fn stored_graph(store: &Store, target: &Descriptor) -> Result<Graph> {
    let build = graph::build(target.clone(), |descriptor| {
        let manifest = catalog::read_manifest(store, &descriptor);
        async move { manifest }
    });
    // Every manifest is read synchronously: the future is ready at its first poll.
    build.now_or_never().unwrap_or_else(|| {
        Err(ImageError::Invalid(
            "the store's graph did not resolve".into(),
        ))
    })
}

pub(crate) fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

pub(crate) fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> Result<()> {
    let mut h = header(bytes.len() as u64);
    tar.append_data(&mut h, name, bytes)
        .map_err(ImageError::io(format!("writing `{name}` to the archive")))
}

/// Appends exactly `size` bytes from `reader`; a short source is an error, not a bad tar.
pub(crate) fn append_stream<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    reader: &mut dyn Read,
) -> Result<()> {
    let mut h = header(size);
    let mut exact = ExactReader {
        inner: reader,
        left: size,
    };
    tar.append_data(&mut h, name, &mut exact)
        .map_err(ImageError::io(format!("writing `{name}` to the archive")))?;
    if exact.left != 0 {
        return Err(ImageError::Invalid(format!(
            "`{name}` ended {} bytes early",
            exact.left
        )));
    }
    Ok(())
}

struct ExactReader<'a> {
    inner: &'a mut dyn Read,
    left: u64,
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source ended early",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
