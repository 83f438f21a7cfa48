//! Garbage collection: delete what `index.json` no longer reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use wharf_spec::{Algorithm, Digest};

use crate::error::StoreError;
use crate::fsck::{read_dir_sorted, remove_entry, EntryKind};
use crate::layout::{fsync_dir, Store};
use crate::lock::IndexLock;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Unreachable blobs deleted from `blobs/`.
    pub removed: Vec<Digest>,
    /// Abandoned partial ingests, temp files and layer-info entries deleted from `.wharf/`.
    pub removed_files: Vec<PathBuf>,
    /// Bytes freed by both.
    pub reclaimed_bytes: u64,
}

impl Store {
    /// Every committed blob with its size (well-named regular files in `blobs/`).
    pub fn list_blobs(&self) -> Result<BTreeMap<Digest, u64>, StoreError> {
        let (blobs, _stray) = self.scan_blobs()?;
        Ok(blobs.into_iter().map(|b| (b.digest, b.size)).collect())
    }

    /// Deletes blobs nothing in `index.json` reaches, and partial ingests and temp files
    /// whose lock no one holds, under the exclusive store lock (so no operation holding a
    /// shared guard can be about to reference a blob deleted here).
    ///
    /// Refuses, deleting nothing, if a reachable manifest cannot be read: what it
    /// references would otherwise look unreachable.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _guard = self.lock_exclusive()?;
        // Also excludes a commit from a caller that skipped the store lock.
        let _index = IndexLock::acquire(self)?;
        let reach = self.reachable()?;
        if let Some((digest, reason)) = reach.unreadable.into_iter().next() {
            return Err(StoreError::GcUnsafe { digest, reason });
        }

        let mut report = GcReport::default();
        let (blobs, _stray) = self.scan_blobs()?;
        let mut dirs = BTreeSet::new();
        for blob in blobs {
            if reach.present.contains_key(&blob.digest) {
                continue;
            }
            remove_entry(&blob.path)?;
            tracing::debug!(digest = %blob.digest, size = blob.size, "gc removed blob");
            dirs.insert(self.alg_dir(blob.digest.algorithm()));
            report.reclaimed_bytes += blob.size;
            report.removed.push(blob.digest);
        }
        for dir in dirs {
            fsync_dir(&dir)?;
        }

        let sizes: Vec<(PathBuf, u64)> = [self.ingest_dir(), self.tmp_dir()]
            .iter()
            .map(|d| read_dir_sorted(d))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .filter_map(|(p, k)| match k {
                EntryKind::File(size) => Some((p, size)),
                _ => None,
            })
            .collect();
        let (_, removed) = self.sweep_private(true, false)?;
        for path in removed {
            report.reclaimed_bytes += sizes
                .iter()
                .find(|(p, _)| p == &path)
                .map_or(0, |(_, s)| *s);
            report.removed_files.push(path);
        }
        report.removed_files.extend(self.sweep_layer_info()?);
        Ok(report)
    }

    /// Layer info of blobs that no longer exist is dead weight; so is anything that is
    /// not `<alg>/<hex>.json`.
    fn sweep_layer_info(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        for (dir, kind) in read_dir_sorted(&self.layers_dir())? {
            let algorithm = dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(Algorithm::from_name);
            let (EntryKind::Dir, Some(algorithm)) = (kind, algorithm) else {
                remove_entry(&dir)?;
                removed.push(dir);
                continue;
            };
            for (path, _) in read_dir_sorted(&dir)? {
                let blob = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                    .and_then(|hex| Digest::parse(&format!("{algorithm}:{hex}")).ok());
                let keep = match &blob {
                    Some(d) => self.blob_size(d).ok().flatten().is_some(),
                    None => false,
                };
                if !keep {
                    remove_entry(&path)?;
                    removed.push(path);
                }
            }
        }
        Ok(removed)
    }
}
