//! An OCI image layout directory (`oci:PATH[:REF]`) as a source and as a sink.
//!
//! - Source: the `index.json` entry `REF` names (its `org.opencontainers.image.ref.name`,
//!   or the only image when no `REF` is given); manifests are read capped and checked
//!   against their digests; no link inside the layout is followed.
//! - Sink: beside any images already there. Each blob is written under a temporary name,
//!   hashed as it is written and renamed into place only when its digest and size match;
//!   files and the directories they were renamed in are fsynced before `index.json` is
//!   replaced (by rename, last), so a reader never sees an entry over missing blobs.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use futures_util::FutureExt;
use wharf_client::UploadSource;
use wharf_fs::{AtomicFile, Durability};
use wharf_spec::descriptor::{ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME};
use wharf_spec::digest::HashingWriter;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Descriptor, Digest, ImageIndex, Manifest, Platform, Reference};

use super::{stream::write_blob, ImageSink, ImageSource, Select};
use crate::catalog::parse_manifest;
use crate::error::{ImageError, Result};
use crate::ingest::{self, Mismatch, Origin};
use crate::load::layout::{check_layout_file, check_size, is_image_entry, parse_index};
use crate::load::oci_dir::{blob_path, open_nofollow, read_capped, refuse_link};
use crate::push::store_source::file_stream;
use crate::push::{graph, BlobSource, Graph, PushEvent, Sent};

/// Runs file work (fsyncs, renames, small writes) on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ImageError::internal("layout writer"))?
}

/// Blobs written into the layout at once.
const WRITERS: usize = 4;

/// The image `reference` names in the layout at `dir`.
pub struct LayoutSource {
    pub dir: PathBuf,
    pub reference: Option<String>,
}

impl LayoutSource {
    /// A manifest or config: read whole (capped), size and digest checked.
    fn read_small(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let path = blob_path(&self.dir, &descriptor.digest)?;
        let meta = fs::symlink_metadata(&path).map_err(|_| self.missing(descriptor))?;
        refuse_link(&path, &meta)?;
        let bytes = read_capped(&self.dir, &path)?;
        check_size(descriptor, bytes.len() as u64)?;
        ingest::check_bytes(&bytes, &descriptor.digest, &Origin::File(path))?;
        Ok(bytes)
    }

    fn missing(&self, descriptor: &Descriptor) -> ImageError {
        ImageError::archive(
            &self.dir,
            format!("blob `{}` is missing from the layout", descriptor.digest),
        )
    }

    /// The `index.json` entry the reference names.
    fn entry(&self) -> Result<Descriptor> {
        let dir = &self.dir;
        let layout_file = read_capped(dir, &dir.join("oci-layout")).map_err(|_| {
            ImageError::archive(dir, "not an OCI image layout: `oci-layout` is missing")
        })?;
        check_layout_file(dir, &layout_file)?;
        let index = parse_index(dir, &read_capped(dir, &dir.join("index.json"))?)?;
        choose_entry(dir, &index, self.reference.as_deref(), false)
    }
}

/// The image entry of a layout's `index.json` that `reference` names (its `ref.name`, and
/// with `image_names` its `io.containerd.image.name`, which Docker ≥ 25 archives carry as
/// their `RepoTags`), or its only image; artifacts at the top are not images.
pub(crate) fn choose_entry(
    layout: &Path,
    index: &ImageIndex,
    reference: Option<&str>,
    image_names: bool,
) -> Result<Descriptor> {
    let mut chosen: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|entry| is_image_entry(entry))
        .filter(|entry| match reference {
            None => true,
            Some(wanted) => {
                names_match(entry.annotation(ANNOTATION_REF_NAME), wanted)
                    || (image_names
                        && names_match(entry.annotation(ANNOTATION_CONTAINERD_IMAGE_NAME), wanted))
            }
        })
        .collect();
    chosen.dedup_by(|a, b| a.digest == b.digest);
    match chosen.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ImageError::archive(
            layout,
            format!("holds no image named `{}`", reference.unwrap_or("")),
        )),
        many => Err(ImageError::archive(
            layout,
            format!("holds {} images; name one as `PATH:REF`", many.len()),
        )),
    }
}

/// The graph a copy takes from a layout (a directory or an archive): the chosen entry,
/// narrowed to one platform unless `select` takes them all, every manifest read with
/// `read_small` (capped, checked against its digest) and every other blob checked with
/// `check_blob` (there, and of the size its descriptor gives).
pub(crate) async fn layout_graph(
    entry: Descriptor,
    select: &Select,
    read_small: impl Fn(&Descriptor) -> Result<Vec<u8>>,
    check_blob: impl Fn(&Descriptor) -> Result<()>,
) -> Result<Graph> {
    let mut target = entry;
    if media_type::kind(&target.media_type) == Kind::Index && !select.all_platforms {
        let wanted = select.platform.clone().unwrap_or_else(Platform::host);
        target = pick_platform(
            parse_manifest(read_small(&target)?, &target)?,
            &target,
            &wanted,
        )?;
    }
    let read_small = &read_small;
    let graph = graph::build(target, |descriptor| async move {
        parse_manifest(read_small(&descriptor)?, &descriptor)
    })
    .await?;
    for blob in &graph.blobs {
        check_blob(blob)?;
    }
    Ok(graph)
}

/// The manifest for `wanted` in the index `raw` (the entry itself when it is an image).
fn pick_platform(
    raw: wharf_spec::RawManifest,
    entry: &Descriptor,
    wanted: &Platform,
) -> Result<Descriptor> {
    let Manifest::Index(index) = raw.manifest() else {
        return Ok(entry.clone());
    };
    if let Some(found) = wharf_client::select_platform(index, wanted) {
        return Ok(found.clone());
    }
    Err(ImageError::PlatformNotFound {
        wanted: wanted.to_string(),
        available: wharf_client::available_platforms(index)
            .iter()
            .map(Platform::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Whether an entry's `ref.name` is what the user wrote: the same text, or the same image
/// name once normalized, or a full name whose tag it is.
fn names_match(entry: Option<&str>, wanted: &str) -> bool {
    let Some(entry) = entry else {
        return false;
    };
    if entry == wanted {
        return true;
    }
    let Ok(name) = Reference::parse_normalized(entry) else {
        return false;
    };
    name.tag() == Some(wanted)
        || Reference::parse_normalized(wanted).is_ok_and(|w| w.canonical() == name.canonical())
}

impl BlobSource for LayoutSource {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        Box::new(LayoutBlob {
            dir: self.dir.clone(),
            digest: descriptor.digest.clone(),
        })
    }

    fn origin(&self, digest: &Digest) -> Origin {
        Origin::File(
            self.dir
                .join("blobs")
                .join(digest.algorithm().name())
                .join(digest.hex()),
        )
    }
}

struct LayoutBlob {
    dir: PathBuf,
    digest: Digest,
}

impl UploadSource for LayoutBlob {
    fn open(&self, offset: u64) -> wharf_client::OpenFuture<'_> {
        let (dir, digest) = (self.dir.clone(), self.digest.clone());
        file_stream(offset, u64::MAX, move || {
            let path = blob_path(&dir, &digest).map_err(io::Error::other)?;
            open_nofollow(&path)
        })
    }
}

impl ImageSource for LayoutSource {
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        async move {
            let check_blob = |blob: &Descriptor| {
                let path = blob_path(&self.dir, &blob.digest)?;
                let meta = fs::symlink_metadata(&path).map_err(|_| self.missing(blob))?;
                refuse_link(&path, &meta)?;
                check_size(blob, meta.len())
            };
            layout_graph(self.entry()?, select, |d| self.read_small(d), check_blob).await
        }
        .boxed_local()
    }
}

/// The layout at `dir`, naming what it takes `reference` (a `ref.name`) when given.
#[derive(Clone)]
pub struct LayoutSink {
    pub dir: PathBuf,
    pub reference: Option<String>,
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(io::Error) -> ImageError {
    let context = format!("{what} `{}`", path.display());
    move |e: io::Error| ImageError::Io { context, source: e }
}

impl LayoutSink {
    fn read_index(&self) -> Result<Option<ImageIndex>> {
        let path = self.dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ImageError::archive(&path, format!("not an OCI index: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Every `ref.name` in `index.json`.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .read_index()?
            .map(|index| {
                index
                    .manifests
                    .iter()
                    .filter_map(|d| d.annotation(ANNOTATION_REF_NAME).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Removes the entry named `name` from `index.json` (its blobs stay).
    pub fn untag(&self, name: &str) -> Result<()> {
        let _locked = self.lock_index()?;
        let Some(mut index) = self.read_index()? else {
            return Ok(());
        };
        index
            .manifests
            .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(name));
        let bytes = serde_json::to_vec(&index).expect("an index serializes");
        Ok(wharf_fs::replace(
            &self.dir.join("index.json"),
            &bytes,
            Durability::Durable,
        )?)
    }

    /// Holds the layout directory's `flock` while `index.json` is read, edited and replaced,
    /// so that images named at once (a sync writes several), in this process or another,
    /// never lose each other's entries.
    fn lock_index(&self) -> Result<fs::File> {
        let dir = fs::File::open(&self.dir).map_err(io_err("open", &self.dir))?;
        dir.lock().map_err(io_err("lock", &self.dir))?;
        Ok(dir)
    }

    /// Creates the layout directory and its `oci-layout` file when missing.
    fn start(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(io_err("create", &self.dir))?;
        let layout = self.dir.join("oci-layout");
        if !layout.exists() {
            wharf_fs::replace(
                &layout,
                br#"{"imageLayoutVersion":"1.0.0"}"#,
                Durability::Durable,
            )?;
        }
        Ok(())
    }

    /// `blobs/<alg>/` for `digest`, created when missing.
    fn blob_dir(&self, digest: &Digest) -> Result<PathBuf> {
        let dir = self.dir.join("blobs").join(digest.algorithm().name());
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(dir)
    }

    /// Writes one blob from `source`; `false` when the layout had it already.
    async fn write_blob(&self, blob: &Descriptor, source: &dyn BlobSource) -> Result<bool> {
        let path = self.blob_dir(&blob.digest)?.join(blob.digest.hex());
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == blob.size) {
            return Ok(false);
        }
        let file = HashingWriter::new(AtomicFile::create(&path)?, blob.digest.algorithm());
        let origin = source.origin(&blob.digest);
        let (file, written) = write_blob(source.blob(blob).as_ref(), 0, file, &|_| {}).await?;
        written.map_err(io_err("write", &path))?;
        let (file, actual, size) = file.finish();
        let mismatch = if size != blob.size {
            Some(Mismatch::Size {
                expected: blob.size,
                actual: size,
            })
        } else if actual != blob.digest {
            Some(Mismatch::Digest { actual })
        } else {
            None
        };
        if let Some(mismatch) = mismatch {
            return Err(ImageError::CorruptBlob {
                digest: blob.digest.clone(),
                origin,
                mismatch,
            });
        }
        // Each directory is fsynced once, after all its blobs.
        blocking(move || Ok(file.commit(Durability::Content)?)).await?;
        Ok(true)
    }

    fn write_manifest(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<bool> {
        let path = self
            .blob_dir(&descriptor.digest)?
            .join(descriptor.digest.hex());
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == descriptor.size) {
            return Ok(false);
        }
        let mut file = AtomicFile::create(&path)?;
        file.write_all(bytes).map_err(io_err("write", &path))?;
        file.commit(Durability::Content)?;
        Ok(true)
    }

    /// Points `reference` (or an unnamed entry) at `top` in `index.json`, replaced by rename.
    fn name(&self, top: &Descriptor) -> Result<()> {
        let _locked = self.lock_index()?;
        let mut index = self.read_index()?.unwrap_or_else(ImageIndex::empty);
        let mut entry = top.clone();
        entry.annotations = None;
        match &self.reference {
            Some(r) => {
                index
                    .manifests
                    .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(r.as_str()));
                entry.set_annotation(ANNOTATION_REF_NAME, r);
            }
            None => index
                .manifests
                .retain(|d| d.digest != entry.digest || d.annotations.is_some()),
        }
        index.manifests.push(entry);
        let bytes = serde_json::to_vec(&index).expect("an index serializes");
        let path = self.dir.join("index.json");
        Ok(wharf_fs::replace(&path, &bytes, Durability::Durable)?)
    }
}

impl ImageSink for LayoutSink {
    fn current(&self) -> LocalBoxFuture<'_, Result<Option<Digest>>> {
        async move {
            let Some(reference) = &self.reference else {
                return Ok(None);
            };
            Ok(self.read_index()?.and_then(|index| {
                index
                    .manifests
                    .into_iter()
                    .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(reference.as_str()))
                    .map(|d| d.digest)
            }))
        }
        .boxed_local()
    }

    fn put<'a>(
        &'a self,
        graph: &'a Graph,
        source: &'a dyn BlobSource,
        _events: &'a dyn Fn(PushEvent),
    ) -> LocalBoxFuture<'a, Result<Sent>> {
        async move {
            let layout = self.clone();
            blocking(move || layout.start()).await?;
            let mut order: Vec<&Descriptor> = graph.blobs.iter().collect();
            order.sort_by_key(|d| std::cmp::Reverse(d.size));
            let outcomes: Vec<(&Descriptor, bool)> = stream::iter(order)
                .map(|blob| async move {
                    Ok::<_, ImageError>((blob, self.write_blob(blob, source).await?))
                })
                .buffer_unordered(WRITERS)
                .try_collect()
                .await?;
            let mut sent = Sent::default();
            let mut renamed_in = BTreeSet::new();
            for (blob, written) in outcomes {
                if written {
                    sent.uploaded.push(blob.digest.clone());
                    sent.bytes_uploaded += blob.size;
                    renamed_in.insert(blob.digest.algorithm());
                } else {
                    sent.existing.push(blob.digest.clone());
                }
            }
            // Manifests are small; they, the directory fsyncs and `index.json` go on one
            // blocking task (the runtime may be a single thread that also drives the network).
            let (layout, top) = (self.clone(), graph.top().clone());
            let manifests: Vec<(Descriptor, Vec<u8>)> = graph
                .manifests
                .iter()
                .map(|(d, raw)| (d.clone(), raw.bytes().to_vec()))
                .collect();
            blocking(move || {
                for (descriptor, bytes) in &manifests {
                    if layout.write_manifest(descriptor, bytes)? {
                        renamed_in.insert(descriptor.digest.algorithm());
                    }
                }
                for algorithm in renamed_in {
                    wharf_fs::fsync_dir(&layout.dir.join("blobs").join(algorithm.name()))?;
                }
                layout.name(&top)
            })
            .await?;
            Ok(sent)
        }
        .boxed_local()
    }
}
