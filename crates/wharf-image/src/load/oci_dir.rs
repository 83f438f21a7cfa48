//! An OCI image layout directory as a load source. Blobs are copied into the store's
//! staging area concurrently (largest first), hashed as they are written; a partial
//! ingest left by an interrupted load resumes where it stopped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wharf_spec::{Descriptor, Digest, MAX_MANIFEST_SIZE};
use wharf_store::{StagedBlob, Store};

use super::layout::{self, BlobSource};
use super::naming::Candidate;
use crate::error::{ImageError, Result, TaskFailure};
use crate::ingest::{self, Origin};

pub fn read(store: &Store, dir: &Path) -> Result<(Vec<Candidate>, Vec<StagedBlob>)> {
    let layout_file = read_capped(dir, &dir.join("oci-layout"))
        .map_err(|_| ImageError::archive(dir, "not an OCI image layout: `oci-layout` is missing (a docker-archive must be given as its .tar file)"))?;
    layout::check_layout_file(dir, &layout_file)?;
    let index = layout::parse_index(dir, &read_capped(dir, &dir.join("index.json"))?)?;
    let mut source = DirSource {
        store,
        dir,
        staged: BTreeMap::new(),
        to_copy: Vec::new(),
    };
    let (candidates, _) = layout::walk_index(&mut source, &index)?;
    let DirSource {
        mut staged,
        to_copy,
        ..
    } = source;
    for blob in copy_all(store, dir, to_copy)? {
        staged.insert(blob.digest().clone(), blob);
    }
    Ok((candidates, staged.into_values().collect()))
}

struct DirSource<'a> {
    store: &'a Store,
    dir: &'a Path,
    staged: BTreeMap<Digest, StagedBlob>,
    to_copy: Vec<Descriptor>,
}

impl BlobSource for DirSource<'_> {
    fn read_small(&mut self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let path = blob_path(self.dir, &descriptor.digest)?;
        if descriptor.size > MAX_MANIFEST_SIZE {
            return Err(ImageError::archive(
                &path,
                format!(
                    "{} bytes is over the {MAX_MANIFEST_SIZE}-byte limit for manifests and configs",
                    descriptor.size
                ),
            ));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|_| {
            ImageError::archive(
                self.dir,
                format!("blob `{}` is missing from the layout", descriptor.digest),
            )
        })?;
        refuse_link(&path, &meta)?;
        let bytes = read_capped(self.dir, &path)?;
        layout::check_size(descriptor, bytes.len() as u64)?;
        ingest::check_bytes(&bytes, &descriptor.digest, &Origin::File(path.clone()))?;
        if self.store.blob_size(&descriptor.digest)?.is_none()
            && !self.staged.contains_key(&descriptor.digest)
        {
            let staged = self
                .store
                .stage_bytes(&bytes, descriptor.digest.algorithm())?;
            self.staged.insert(descriptor.digest.clone(), staged);
        }
        Ok(bytes)
    }

    fn require(&mut self, descriptor: &Descriptor, referenced_by: &Digest) -> Result<()> {
        let path = blob_path(self.dir, &descriptor.digest)?;
        let meta = std::fs::symlink_metadata(&path).map_err(|_| {
            ImageError::archive(
                self.dir,
                format!(
                    "blob `{}` (referenced by `{referenced_by}`) is missing from the layout",
                    descriptor.digest
                ),
            )
        })?;
        refuse_link(&path, &meta)?;
        layout::check_size(descriptor, meta.len())?;
        self.to_copy.push(descriptor.clone());
        Ok(())
    }
}

/// `blobs/<alg>/<hex>`, refusing symlinked `blobs` or algorithm directories.
pub(crate) fn blob_path(dir: &Path, digest: &Digest) -> Result<PathBuf> {
    let blobs = dir.join("blobs");
    let alg = blobs.join(digest.algorithm().name());
    for d in [&blobs, &alg] {
        if std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(ImageError::archive(
                d,
                "is a symlink; wharf does not follow links inside an OCI layout",
            ));
        }
    }
    Ok(alg.join(digest.hex()))
}

pub(crate) fn refuse_link(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(ImageError::archive(
            path,
            "is a symlink; wharf does not follow links inside an OCI layout",
        ));
    }
    if !meta.is_file() {
        return Err(ImageError::archive(path, "is not a regular file"));
    }
    Ok(())
}

pub(crate) fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

pub(crate) fn read_capped(dir: &Path, path: &Path) -> Result<Vec<u8>> {
    let name = path.strip_prefix(dir).unwrap_or(path).display().to_string();
    let file = open_nofollow(path)
        .map_err(|e| ImageError::archive(dir, format!("cannot read `{name}`: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ImageError::archive(dir, format!("cannot read `{name}`: {e}")))?;
    if bytes.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(ImageError::archive(
            dir,
            format!("`{name}` is over the {MAX_MANIFEST_SIZE}-byte limit"),
        ));
    }
    Ok(bytes)
}

/// Copies blobs on a few threads, largest first so the long ones start early.
fn copy_all(store: &Store, dir: &Path, mut blobs: Vec<Descriptor>) -> Result<Vec<StagedBlob>> {
    blobs.sort_by_key(|d| std::cmp::Reverse(d.size));
    blobs.dedup_by(|a, b| a.digest == b.digest);
    let queue = Mutex::new(blobs.into_iter());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut staged = Vec::new();
                    loop {
                        let next = queue.lock().expect("queue lock").next();
                        let Some(descriptor) = next else {
                            return Ok::<_, ImageError>(staged);
                        };
                        if let Some(blob) = copy_one(store, dir, &descriptor)? {
                            staged.push(blob);
                        }
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            let copied = handle.join().map_err(|panic| {
                ImageError::internal("blob copy")(TaskFailure::from_panic(panic))
            })?;
            all.extend(copied?);
        }
        Ok(all)
    })
}

fn copy_one(store: &Store, dir: &Path, descriptor: &Descriptor) -> Result<Option<StagedBlob>> {
    let path = blob_path(dir, &descriptor.digest)?;
    let origin = Origin::File(path.clone());
    let ingested = ingest::into_store(
        store,
        &descriptor.digest,
        descriptor.size,
        &origin,
        |offset| {
            let mut file = open_nofollow(&path)
                .map_err(ImageError::io(format!("opening `{}`", path.display())))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(ImageError::io(format!("seeking `{}`", path.display())))?;
            Ok(file)
        },
    )?;
    Ok(ingested.staged())
}
