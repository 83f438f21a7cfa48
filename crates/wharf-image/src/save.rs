//! `wharf save`: images to a docker-archive (what `docker load` and
//! `skopeo copy docker-archive:` read: uncompressed layer tars, configs, `manifest.json`)
//! or to an OCI archive (the store's own blobs, byte for byte).
//!
//! Layers are decompressed on the fly and their diff_ids checked as they are written;
//! nothing is held in memory but one buffer.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};

use serde::Serialize;
use wharf_spec::descriptor::{ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME};
use wharf_spec::{Digest, ImageIndex, Platform, Reference};
use wharf_store::Store;

use crate::catalog::{self, Found};
use crate::engine::docker_archive::writer::DockerArchiveWriter;
use crate::error::{ImageError, Result};
use crate::graph::blobs_of;
use crate::layers::layer_info;

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
    write_archive(store, &images, format, out)
}

/// Writes `images` (each carrying the names to save, see [`Found::matched_name`]) as an
/// archive of `format`.
pub fn write_archive(
    store: &Store,
    images: &[Found],
    format: SaveFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    match format {
        SaveFormat::DockerArchive => write_docker_archive(store, images, &mut tar)?,
        SaveFormat::OciArchive => write_oci_archive(store, images, &mut tar)?,
    }
    tar.into_inner()
        .and_then(|w| w.flush())
        .map_err(ImageError::io("finishing the archive"))?;
    Ok(())
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

fn write_oci_archive<W: Write>(
    store: &Store,
    images: &[Found],
    tar: &mut tar::Builder<W>,
) -> Result<()> {
    append_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut index = ImageIndex::empty();
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    for found in images {
        let target = &found.resolved.target;
        for (digest, size) in blobs_of(store, target)? {
            if written.insert(digest.clone()) {
                let member = format!("blobs/{}/{}", digest.algorithm(), digest.hex());
                let mut blob = store.open_blob(&digest)?;
                append_stream(tar, &member, size, &mut blob)?;
            }
        }
        let names = names_to_save(found);
        let mut base = target.clone();
        base.annotations = None;
        if names.is_empty() {
            index.manifests.push(base.clone());
        }
        for name in names {
            let mut entry = base.clone();
            entry.set_annotation(ANNOTATION_CONTAINERD_IMAGE_NAME, name.to_string());
            entry.set_annotation(ANNOTATION_REF_NAME, name.tag().unwrap_or("latest"));
            index.manifests.push(entry);
        }
    }
    append_bytes(
        tar,
        "index.json",
        &serde_json::to_vec(&index).expect("json"),
    )?;
    // Docker ≥ 25 writes this beside the OCI layout, and Docker before 25 reads only it.
    let items = docker_manifest(images);
    append_bytes(
        tar,
        "manifest.json",
        &serde_json::to_vec(&items).expect("json"),
    )
}

/// `manifest.json` pointing into `blobs/`: the platform each image resolved to.
fn docker_manifest(images: &[Found]) -> Vec<ArchiveItem> {
    let blob = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.hex());
    images
        .iter()
        .map(|found| {
            let names: Vec<String> = names_to_save(found)
                .iter()
                .map(Reference::familiar)
                .collect();
            ArchiveItem {
                config: blob(found.resolved.id()),
                repo_tags: (!names.is_empty()).then_some(names),
                layers: found
                    .resolved
                    .manifest
                    .layers
                    .iter()
                    .map(|l| blob(&l.digest))
                    .collect(),
            }
        })
        .collect()
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
