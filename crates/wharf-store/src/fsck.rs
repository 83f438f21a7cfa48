//! Integrity check: re-hash every blob, and find what is missing, unreferenced, or should
//! not be there at all. Also the directory scans gc shares.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use wharf_spec::{Algorithm, Digest};

use crate::error::{io_err, StoreError};
use crate::ingest::remove_if_unshared;
use crate::layout::{fsync_dir, hash_stream, open_regular, same_inode, BlobState, Store, BUF_SIZE};
use crate::lock::{DigestLock, IndexLock};

/// Hashing is I/O-bound beyond a few threads; more would only thrash a spinning disk.
const MAX_HASH_THREADS: usize = 4;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Blobs re-hashed, and their total size.
    pub checked: usize,
    pub checked_bytes: u64,
    /// Blobs whose bytes do not hash to their name.
    pub corrupt: Vec<CorruptBlob>,
    /// Referenced blobs that are absent, each with who references it.
    pub missing: Vec<(Digest, String)>,
    /// Intact blobs nothing in `index.json` reaches.
    pub orphaned: Vec<(Digest, u64)>,
    /// Reachable manifests that cannot be parsed. While there are any, orphans are not
    /// judged: what those manifests reference is unknown.
    pub unreadable: Vec<(Digest, String)>,
    /// Files that are not blobs: symlinks, bad names, directories where files belong.
    pub stray: Vec<StrayFile>,
    /// Expected state, not damage: downloads of uncommitted blobs that an interrupted
    /// pull or load left (partial, or complete and verified) and no process holds. The
    /// next pull or load of those blobs continues them; gc (`image prune`) removes them.
    /// `repair` keeps them.
    pub resumable: Vec<Leftover>,
    /// Also expected after an interrupted command: temp files and ingests of blobs that
    /// are already committed, which no process holds and nothing can use. gc (`image
    /// prune`) and the next load remove them; so does `repair`.
    pub leftover: Vec<Leftover>,
    /// What `repair` deleted.
    pub removed: Vec<PathBuf>,
    /// Referenced blobs that `repair` deleted because they were corrupt: missing now.
    pub lost: Vec<Digest>,
}

/// A file under `.wharf/` that an interrupted command left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    pub size: u64,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.missing.is_empty()
            && self.orphaned.is_empty()
            && self.unreadable.is_empty()
            && self.stray.is_empty()
    }

    /// After `repair`: whether nothing stays broken (no blob is missing, every manifest
    /// reads). Corrupt, orphaned and stray files were deleted, which repairs them.
    pub fn repaired_everything(&self) -> bool {
        self.missing.is_empty() && self.unreadable.is_empty() && self.lost.is_empty()
    }

    /// One line per problem found, for people.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.corrupt {
            out.push(format!("corrupt blob `{}`: {}", c.digest, c.reason));
        }
        for (digest, by) in &self.missing {
            out.push(format!("missing blob `{digest}`, referenced by {by}"));
        }
        for (digest, reason) in &self.unreadable {
            out.push(format!("unreadable manifest `{digest}`: {reason}"));
        }
        for (digest, size) in &self.orphaned {
            out.push(format!(
                "orphaned blob `{digest}` ({size} bytes), referenced by nothing"
            ));
        }
        for s in &self.stray {
            out.push(format!("stray file {s}"));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptBlob {
    pub digest: Digest,
    pub path: PathBuf,
    /// What the bytes hash to, when they could be read at all.
    pub actual: Option<Digest>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayFile {
    pub path: PathBuf,
    pub kind: StrayKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrayKind {
    /// A symlink: never followed.
    Symlink,
    /// A directory, FIFO, socket or device where a blob or temp file should be.
    NotARegularFile,
    /// A name that is not `<alg>/<hex>` of a supported algorithm.
    BadName,
    /// A partial ingest no process is writing.
    StaleIngest,
    /// A temp file no process holds (left by a crash).
    StaleTemp,
}

impl fmt::Display for StrayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StrayKind::Symlink => "symlink (never followed)",
            StrayKind::NotARegularFile => "not a regular file",
            StrayKind::BadName => "not a blob name",
            StrayKind::StaleIngest => "abandoned partial ingest",
            StrayKind::StaleTemp => "abandoned temp file",
        })
    }
}

impl fmt::Display for StrayFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path.display(), self.kind)
    }
}

/// A regular file in `blobs/<alg>/` with a valid digest name.
pub(crate) struct BlobFile {
    pub(crate) digest: Digest,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

impl Store {
    /// Re-hashes every blob and reports corrupt, missing and orphaned blobs and stray
    /// files. `repair` deletes corrupt and orphaned blobs and stray files, under the
    /// exclusive store lock; it never edits `index.json`, so missing blobs stay reported.
    pub fn fsck(&self, repair: bool) -> Result<FsckReport, StoreError> {
        // Shared when only looking: gc must not delete blobs while we judge them.
        let _guard = if repair {
            self.lock_exclusive()?
        } else {
            self.lock_shared()?
        };
        // Even under the store lock, a caller that skipped it could be committing; holding
        // the index lock while repairing makes sure no blob is judged orphaned mid-commit.
        let _index = if repair {
            Some(IndexLock::acquire(self)?)
        } else {
            None
        };

        let reach = self.reachable()?;
        let (blobs, blob_stray) = self.scan_blobs()?;
        let mut report = FsckReport {
            checked: blobs.len(),
            checked_bytes: blobs.iter().map(|b| b.size).sum(),
            missing: reach.missing.clone(),
            unreadable: reach.unreadable.clone(),
            ..FsckReport::default()
        };
        let corrupt = hash_all(&blobs)?;
        let corrupt_set: BTreeSet<&Digest> = corrupt.iter().map(|c| &c.digest).collect();
        if reach.unreadable.is_empty() {
            report.orphaned = blobs
                .iter()
                .filter(|b| {
                    !corrupt_set.contains(&b.digest) && !reach.present.contains_key(&b.digest)
                })
                .map(|b| (b.digest.clone(), b.size))
                .collect();
        }
        report.lost = corrupt
            .iter()
            .filter(|c| reach.present.contains_key(&c.digest))
            .map(|c| c.digest.clone())
            .collect();
        report.corrupt = corrupt;
        // Resumable downloads are kept even by `repair`: they are progress, not damage.
        let (private_stray, removed) = self.sweep_private(repair, true)?;
        report.removed = removed;
        let mut private_damage = Vec::new();
        for file in private_stray {
            match file.kind {
                StrayKind::StaleIngest | StrayKind::StaleTemp => {
                    let leftover = Leftover {
                        size: fs::symlink_metadata(&file.path).map_or(0, |m| m.len()),
                        path: file.path.clone(),
                    };
                    if file.kind == StrayKind::StaleIngest && self.resumable(&file.path)? {
                        report.resumable.push(leftover);
                    } else {
                        report.leftover.push(leftover);
                    }
                }
                _ => private_damage.push(file),
            }
        }

        if repair {
            let mut dirs = BTreeSet::new();
            let doomed = report
                .corrupt
                .iter()
                .map(|c| c.path.clone())
                .chain(report.orphaned.iter().map(|(d, _)| self.blob_path(d)))
                .chain(blob_stray.iter().map(|s| s.path.clone()))
                .collect::<Vec<_>>();
            for path in doomed {
                remove_entry(&path)?;
                if let Some(parent) = path.parent() {
                    dirs.insert(parent.to_path_buf());
                }
                report.removed.push(path);
            }
            for dir in dirs {
                if fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                    fsync_dir(&dir)?;
                }
            }
        }
        report.stray = blob_stray;
        report.stray.extend(private_damage);
        Ok(report)
    }

    /// Whether an ingest file (`.partial` or `.verified`) is of a blob not yet committed,
    /// so that the next ingest of that blob uses it.
    fn resumable(&self, path: &Path) -> Result<bool, StoreError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let digest = name
            .strip_suffix(".partial")
            .or_else(|| name.strip_suffix(".verified"))
            .and_then(parse_ingest_name);
        match digest {
            Some(digest) => Ok(self.committed_size(&digest)?.is_none()),
            None => Ok(false),
        }
    }

    /// Lists `blobs/`: well-named regular files, and everything else as stray. Never
    /// descends through a symlink.
    pub(crate) fn scan_blobs(&self) -> Result<(Vec<BlobFile>, Vec<StrayFile>), StoreError> {
        let mut blobs = Vec::new();
        let mut stray = Vec::new();
        let top = self.blobs_dir();
        for entry in read_dir_sorted(&top)? {
            let (path, kind) = entry;
            let algorithm = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(Algorithm::from_name);
            match (kind, algorithm) {
                (EntryKind::Dir, Some(algorithm)) => {
                    self.scan_alg_dir(&path, algorithm, &mut blobs, &mut stray)?
                }
                (EntryKind::Symlink, _) => stray.push(StrayFile {
                    path,
                    kind: StrayKind::Symlink,
                }),
                _ => stray.push(StrayFile {
                    path,
                    kind: StrayKind::BadName,
                }),
            }
        }
        Ok((blobs, stray))
    }

    fn scan_alg_dir(
        &self,
        dir: &Path,
        algorithm: Algorithm,
        blobs: &mut Vec<BlobFile>,
        stray: &mut Vec<StrayFile>,
    ) -> Result<(), StoreError> {
        for (path, kind) in read_dir_sorted(dir)? {
            let digest = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|hex| Digest::parse(&format!("{algorithm}:{hex}")).ok());
            match (kind, digest) {
                (EntryKind::Symlink, _) => stray.push(StrayFile {
                    path,
                    kind: StrayKind::Symlink,
                }),
                (EntryKind::File(size), Some(digest)) => {
                    blobs.push(BlobFile { digest, path, size })
                }
                (EntryKind::File(_), None) => stray.push(StrayFile {
                    path,
                    kind: StrayKind::BadName,
                }),
                (EntryKind::Dir | EntryKind::Other, _) => stray.push(StrayFile {
                    path,
                    kind: StrayKind::NotARegularFile,
                }),
            }
        }
        Ok(())
    }

    /// Finds (and with `remove`, deletes) partial ingests and temp files whose lock no one
    /// holds: debris of killed processes. A file whose lock is held belongs to a live
    /// writer and is left alone; with `keep_resumable`, so are ingests of blobs not yet
    /// committed (found, not deleted). Returns what was found and what was deleted.
    pub(crate) fn sweep_private(
        &self,
        remove: bool,
        keep_resumable: bool,
    ) -> Result<(Vec<StrayFile>, Vec<PathBuf>), StoreError> {
        let mut stray = Vec::new();
        let mut removed = Vec::new();

        let ingest_dir = self.ingest_dir();
        for (path, kind) in read_dir_sorted(&ingest_dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(digest) = name.strip_suffix(".lock").and_then(parse_ingest_name) {
                // A lock file outlives its partial only if its holder died between the two
                // unlinks; it is noise, not damage, so it is cleaned without being reported.
                if remove && !self.partial_path(&digest).exists() {
                    drop(DigestLock::try_acquire(path)?);
                }
                continue;
            }
            if let (EntryKind::File(_), Some(digest)) = (
                kind,
                name.strip_suffix(".verified").and_then(parse_ingest_name),
            ) {
                let remove = remove && !(keep_resumable && self.committed_size(&digest)?.is_none());
                // Verified, uncommitted blobs are shared-locked by every handle staging
                // them; an unlocked one belongs to no one any more.
                if remove_if_unshared(&path, remove).map_err(io_err("remove", &path))? {
                    if remove {
                        removed.push(path.clone());
                    }
                    stray.push(StrayFile {
                        path,
                        kind: StrayKind::StaleIngest,
                    });
                }
                continue;
            }
            let digest = name.strip_suffix(".partial").and_then(parse_ingest_name);
            match (kind, digest) {
                (EntryKind::File(_), Some(digest)) => {
                    let Some(lock) = DigestLock::try_acquire(self.digest_lock_path(&digest))?
                    else {
                        continue;
                    };
                    if remove && !(keep_resumable && self.committed_size(&digest)?.is_none()) {
                        remove_entry(&path)?;
                        removed.push(path.clone());
                    }
                    drop(lock);
                    stray.push(StrayFile {
                        path,
                        kind: StrayKind::StaleIngest,
                    });
                }
                (kind, _) => {
                    let kind = stray_kind(kind);
                    if remove {
                        remove_entry(&path)?;
                        removed.push(path.clone());
                    }
                    stray.push(StrayFile { path, kind });
                }
            }
        }

        for (path, kind) in read_dir_sorted(&self.tmp_dir())? {
            if !matches!(kind, EntryKind::File(_)) {
                if remove {
                    remove_entry(&path)?;
                    removed.push(path.clone());
                }
                stray.push(StrayFile {
                    path,
                    kind: stray_kind(kind),
                });
                continue;
            }
            let file = match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(f) => f,
                // Its owner finished with it while we were listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("open", &path)(e)),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
            }
            if !same_inode(&file, &path).map_err(io_err("inspect", &path))? {
                continue;
            }
            if remove {
                remove_entry(&path)?;
                removed.push(path.clone());
            }
            stray.push(StrayFile {
                path,
                kind: StrayKind::StaleTemp,
            });
        }
        Ok((stray, removed))
    }
}

impl Store {
    /// Deletes what killed processes left in `.wharf/` that nothing can use any more: temp
    /// files of processes that are gone, and verified or partial ingests of blobs already
    /// committed. Unlike gc, this needs only a shared guard, so an operation can call it
    /// as it starts (a `load` re-run after a `kill -9` then leaves a clean store): a temp
    /// file goes only once its owner's pid is dead *and* its lock is free (and a creator
    /// that finds its fresh file deleted before it could lock it picks another name), an
    /// ingest file only when its blob is in `blobs/` and no one holds it. Resumable
    /// partials of uncommitted blobs and verified copies waiting for a commit are kept.
    /// Returns what was deleted.
    pub fn clear_dead_debris(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        for (path, kind) in read_dir_sorted(&self.ingest_dir())? {
            let EntryKind::File(size) = kind else {
                continue;
            };
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(digest) = name.strip_suffix(".verified").and_then(parse_ingest_name) {
                // A committed copy of another size is corrupt: keep the good one for a commit.
                if self.committed_size(&digest)? == Some(size)
                    && remove_if_unshared(&path, true).map_err(io_err("remove", &path))?
                {
                    removed.push(path);
                }
            } else if let Some(digest) = name.strip_suffix(".partial").and_then(parse_ingest_name) {
                if self.committed_size(&digest)?.is_none() {
                    continue;
                }
                if let Some(lock) = DigestLock::try_acquire(self.digest_lock_path(&digest))? {
                    remove_entry(&path)?;
                    drop(lock);
                    removed.push(path);
                }
            }
        }
        for (path, kind) in read_dir_sorted(&self.tmp_dir())? {
            let EntryKind::File(_) = kind else { continue };
            let owner = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok());
            if !owner.is_some_and(process_is_gone) {
                continue;
            }
            if remove_if_unshared(&path, true).map_err(io_err("remove", &path))? {
                removed.push(path);
            }
        }
        Ok(removed)
    }

    fn committed_size(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(match self.blob_state(digest)? {
            BlobState::Regular(size) => Some(size),
            BlobState::Absent | BlobState::NotRegular(_) => None,
        })
    }
}

/// Whether no process has this pid (in our pid namespace). A reused pid only makes a dead
/// owner look alive, which keeps its file: the safe mistake.
fn process_is_gone(pid: libc::pid_t) -> bool {
    if pid <= 0 || pid as u32 == std::process::id() {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

fn parse_ingest_name(stem: &str) -> Option<Digest> {
    let (alg, hex) = stem.split_once('-')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

fn stray_kind(kind: EntryKind) -> StrayKind {
    match kind {
        EntryKind::Symlink => StrayKind::Symlink,
        EntryKind::File(_) => StrayKind::BadName,
        EntryKind::Dir | EntryKind::Other => StrayKind::NotARegularFile,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryKind {
    File(u64),
    Dir,
    Symlink,
    Other,
}

/// Lists a directory without following symlinks; an absent directory is empty.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<(PathBuf, EntryKind)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let path = entry.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("inspect", &path)(e)),
        };
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_file() {
            EntryKind::File(meta.len())
        } else if ft.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::Other
        };
        out.push((path, kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Deletes a file, symlink (not its target) or directory tree; already gone is fine.
pub(crate) fn remove_entry(path: &Path) -> Result<(), StoreError> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

/// Re-hashes blobs on a few threads, each streaming through its own bounded buffer.
fn hash_all(blobs: &[BlobFile]) -> Result<Vec<CorruptBlob>, StoreError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_HASH_THREADS)
        .min(blobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, CorruptBlob)>, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut buf = vec![0u8; BUF_SIZE];
                    let mut found = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(blob) = blobs.get(i) else { break };
                        if let Some(c) = check_blob(blob, &mut buf)? {
                            found.push((i, c));
                        }
                    }
                    Ok(found)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Io {
                        op: "hash blobs in",
                        path: PathBuf::from("blobs"),
                        source: io::Error::other("a hashing thread panicked"),
                    })
                })
            })
            .collect()
    });
    let mut corrupt = Vec::new();
    for r in results {
        corrupt.extend(r?);
    }
    corrupt.sort_by_key(|(i, _)| *i);
    Ok(corrupt.into_iter().map(|(_, c)| c).collect())
}

fn check_blob(blob: &BlobFile, buf: &mut [u8]) -> Result<Option<CorruptBlob>, StoreError> {
    let corrupt = |actual: Option<Digest>, reason: String| CorruptBlob {
        digest: blob.digest.clone(),
        path: blob.path.clone(),
        actual,
        reason,
    };
    let file = match open_regular(&blob.path) {
        Ok(Some(f)) => f,
        // Replaced or removed since the scan: a later run judges whatever is there now.
        Ok(None) | Err(StoreError::NotARegularFile(_)) => return Ok(None),
        Err(e) => return Ok(Some(corrupt(None, e.to_string()))),
    };
    match hash_stream(file, blob.digest.algorithm(), buf) {
        Ok((actual, _)) if actual == blob.digest => Ok(None),
        Ok((actual, _)) => Ok(Some(corrupt(
            Some(actual.clone()),
            format!("content hashes to `{actual}`"),
        ))),
        Err(e) => Ok(Some(corrupt(None, format!("cannot read it: {e}")))),
    }
}
