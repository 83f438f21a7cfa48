//! `index.json`: read it, and the one way to change it: [`Store::commit`], a
//! read-modify-write under the index lock that publishes blobs before the entries that
//! reference them, and replaces the file only by rename.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use wharf_spec::{media_type, Descriptor, ImageIndex};

use crate::error::{io_err, StoreError};
use crate::fsck::remove_entry;
use crate::ingest::Source;
use crate::layout::{ensure_real_dir, fsync_dir, read_small_file, BlobState, Store};
use crate::lock::IndexLock;
use crate::reach::{index_entry_name, walk, WithStaged};
use crate::StagedBlob;

/// `index.json` is read whole; it lists images, not their content, so even a store with
/// tens of thousands of tags stays far below this.
const MAX_INDEX_SIZE: u64 = 64 << 20;

impl Store {
    /// The current `index.json`, parsed.
    pub fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.index_path();
        let bytes = read_small_file(&path, MAX_INDEX_SIZE)?;
        parse_index(&path, &bytes)
    }

    /// Publishes `staged` blobs and applies `update` to `index.json`, atomically, under the
    /// exclusive index lock:
    ///
    /// 1. `update` runs on the current index (so concurrent commits never lose each
    ///    other's entries); if it fails, nothing is written.
    /// 2. Every blob reachable from the entries `update` added or changed must exist,
    ///    staged or committed, with the size its descriptor states; otherwise the error
    ///    names it and nothing is published.
    /// 3. Staged blobs are moved into `blobs/` (renamed, or hard-linked when other
    ///    handles share the verified file; a good copy already there is kept and the
    ///    staged one discarded) and their directories fsynced.
    /// 4. The new `index.json` is written to a temp file, fsynced, renamed over the old
    ///    one, and the directory fsynced.
    ///
    /// Staged blobs not published (on any error) are deleted. Returns what `update` returns.
    pub fn commit<T>(
        &self,
        staged: Vec<StagedBlob>,
        update: impl FnOnce(&mut ImageIndex) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = IndexLock::acquire(self)?;
        let old = self.read_index()?;
        let mut new = old.clone();
        let out = update(&mut new)?;
        normalize(&mut new);

        let mut old_entries: BTreeMap<_, Vec<&Descriptor>> = BTreeMap::new();
        for d in &old.manifests {
            old_entries.entry(&d.digest).or_default().push(d);
        }
        let changed: Vec<(Descriptor, String)> = new
            .manifests
            .iter()
            .filter(|d| !old_entries.get(&d.digest).is_some_and(|v| v.contains(d)))
            .map(|d| (d.clone(), index_entry_name(d)))
            .collect();
        let reached = walk(
            &WithStaged {
                store: self,
                staged: &staged,
            },
            changed,
            true,
        )?;

        // Blobs another commit published may not have had their directory entry fsynced
        // yet; syncing here means no entry we write can outlive its blobs in a crash.
        let mut dirs: BTreeSet<PathBuf> = reached
            .present
            .keys()
            .map(|d| self.alg_dir(d.algorithm()))
            .collect();
        let published = self.publish(staged, &mut dirs)?;
        for dir in &dirs {
            fsync_dir(dir)?;
        }
        // Staged names (a shared `.verified`) go only once the blobs' own names are durable.
        drop(published);

        if new != old {
            self.write_index(&new)?;
        }
        Ok(out)
    }

    /// [`Store::commit`] without blobs: tag, untag.
    pub fn update_index<T>(
        &self,
        update: impl FnOnce(&mut ImageIndex) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.commit(Vec::new(), update)
    }

    /// Callers hold the index lock.
    pub(crate) fn write_index(&self, index: &ImageIndex) -> Result<(), StoreError> {
        let mut index = index.clone();
        normalize(&mut index);
        let path = self.index_path();
        let mut bytes =
            serde_json::to_vec_pretty(&index).map_err(|e| StoreError::CorruptIndex {
                path: path.clone(),
                reason: format!("cannot serialize the new index: {e}"),
            })?;
        bytes.push(b'\n');
        self.write_atomic(&path, &bytes, true)
    }

    /// Moves staged files into `blobs/`. Returns the handles that must stay open until
    /// the caller has made the renames durable.
    fn publish(
        &self,
        staged: Vec<StagedBlob>,
        dirs: &mut BTreeSet<PathBuf>,
    ) -> Result<Vec<Source>, StoreError> {
        let mut held = Vec::with_capacity(staged.len());
        for StagedBlob {
            digest,
            size,
            mut source,
            ..
        } in staged
        {
            let from = match &source {
                Source::Committed => continue,
                Source::Temp { path, .. } => path.path().to_path_buf(),
                Source::Verified(hold) => hold.path.clone(),
            };
            let alg_dir = self.alg_dir(digest.algorithm());
            if fs::symlink_metadata(&alg_dir).is_err() {
                ensure_real_dir(&alg_dir)?;
                dirs.insert(self.blobs_dir());
            }
            dirs.insert(alg_dir);
            // An existing copy of the right size is the same content (its name is its
            // hash); one of another size is corrupt and gets replaced by the verified copy.
            // Either way the staged file is left to its handle's drop to clean up.
            if !matches!(self.blob_state(&digest)?, BlobState::Regular(s) if s == size) {
                let dest = self.blob_path(&digest);
                match &mut source {
                    Source::Temp { path, .. } => {
                        fs::rename(&from, &dest).map_err(io_err("publish blob to", &dest))?;
                        path.disarm();
                    }
                    Source::Verified(hold) => {
                        if link_into_place(&from, &dest)? == Placed::Renamed {
                            hold.armed = false;
                        }
                    }
                    Source::Committed => {}
                }
            }
            held.push(source);
        }
        Ok(held)
    }
}

#[derive(PartialEq)]
enum Placed {
    Linked,
    Renamed,
}

/// Publishes a shared verified file by hard link, so the other holders' paths stay valid.
/// An existing entry at `dest` is a bad copy (the caller checked): it is replaced.
fn link_into_place(from: &Path, dest: &Path) -> Result<Placed, StoreError> {
    match fs::hard_link(from, dest) {
        Ok(()) => Ok(Placed::Linked),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_entry(dest)?;
            fs::hard_link(from, dest).map_err(io_err("publish blob to", dest))?;
            Ok(Placed::Linked)
        }
        // Filesystems without hard links: a rename publishes just the same.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::EOPNOTSUPP | libc::EMLINK)
            ) =>
        {
            fs::rename(from, dest).map_err(io_err("publish blob to", dest))?;
            Ok(Placed::Renamed)
        }
        Err(e) => Err(io_err("publish blob to", dest)(e)),
    }
}

fn normalize(index: &mut ImageIndex) {
    index.schema_version = 2;
    index.media_type = Some(media_type::OCI_INDEX.to_string());
}

fn parse_index(path: &Path, bytes: &[u8]) -> Result<ImageIndex, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptIndex {
        path: path.to_path_buf(),
        reason,
    };
    let index: ImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("not a valid OCI image index ({e})")))?;
    if index.schema_version != 2 {
        return Err(corrupt(format!(
            "`schemaVersion` is {}, expected 2",
            index.schema_version
        )));
    }
    if let Some(mt) = index
        .media_type
        .as_deref()
        .filter(|&mt| mt != media_type::OCI_INDEX)
    {
        return Err(corrupt(format!(
            "`mediaType` is `{mt}`, expected `{}`",
            media_type::OCI_INDEX
        )));
    }
    Ok(index)
}
