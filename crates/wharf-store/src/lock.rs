//! File locks (`flock` through `std::fs::File::lock`). They coordinate threads as well as
//! processes, because each acquisition opens its own file description, and the kernel
//! drops them when a holder dies, so a `kill -9` never leaves a lock behind.
//!
//! Three kinds:
//! - `.wharf/store.lock`: shared by every mutating operation, exclusive for gc and
//!   `fsck --repair`, so a blob is never deleted while an operation may still reference it.
//! - `.wharf/index.lock`: exclusive around every read-modify-write of `index.json`.
//! - `.wharf/ingest/<alg>-<hex>.lock`: one writer per digest. Unlinked by its holder on
//!   release; a waiter that then wins the lock on the unlinked inode notices and retries.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use wharf_spec::Digest;

use crate::error::{io_err, StoreError};
use crate::layout::{same_inode, Store};

/// Holds the store-wide operation lock, shared or exclusive, until dropped.
///
/// `flock` locks taken through different open files conflict even inside one process, so a
/// thread holding a guard must not call [`Store::gc`] or `fsck(true)`: they would wait on
/// that very guard.
#[derive(Debug)]
pub struct StoreGuard {
    _file: File,
    exclusive: bool,
}

impl StoreGuard {
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

impl Store {
    /// Taken by every mutating operation (load, pull, tag, rmi) for its whole duration.
    pub fn lock_shared(&self) -> Result<StoreGuard, StoreError> {
        let path = self.store_lock_path();
        let file = open_lock_file(&path)?;
        file.lock_shared().map_err(io_err("lock", &path))?;
        Ok(StoreGuard {
            _file: file,
            exclusive: false,
        })
    }

    /// Taken by gc and `fsck --repair`: waits until no operation holds a shared guard.
    pub fn lock_exclusive(&self) -> Result<StoreGuard, StoreError> {
        let path = self.store_lock_path();
        let file = open_lock_file(&path)?;
        file.lock().map_err(io_err("lock", &path))?;
        Ok(StoreGuard {
            _file: file,
            exclusive: true,
        })
    }

    pub(crate) fn digest_lock_path(&self, digest: &Digest) -> PathBuf {
        self.ingest_dir()
            .join(format!("{}-{}.lock", digest.algorithm(), digest.hex()))
    }
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                StoreError::NotARegularFile(path.to_path_buf())
            } else {
                io_err("open lock file", path)(e)
            }
        })
}

/// Exclusive lock on `index.json`'s read-modify-write cycle.
#[derive(Debug)]
pub(crate) struct IndexLock {
    _file: File,
}

impl IndexLock {
    pub(crate) fn acquire(store: &Store) -> Result<IndexLock, StoreError> {
        let path = store.index_lock_path();
        let file = open_lock_file(&path)?;
        file.lock().map_err(io_err("lock", &path))?;
        Ok(IndexLock { _file: file })
    }
}

/// The right to write the ingest file of one digest. Dropping it unlinks the lock file and
/// then releases the lock.
#[derive(Debug)]
pub(crate) struct DigestLock {
    path: PathBuf,
    file: Option<File>,
}

impl DigestLock {
    /// Waits until no one else holds the lock of this digest.
    pub(crate) fn acquire(path: PathBuf) -> Result<DigestLock, StoreError> {
        loop {
            let file = open_lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    tracing::debug!(lock = %path.display(), "waiting for another ingest of the same blob");
                    file.lock().map_err(io_err("lock", &path))?;
                }
                Err(TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
            }
            if let Some(lock) = Self::validate(path.clone(), file)? {
                return Ok(lock);
            }
        }
    }

    /// `None` if someone holds the lock right now.
    pub(crate) fn try_acquire(path: PathBuf) -> Result<Option<DigestLock>, StoreError> {
        loop {
            let file = open_lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
            }
            if let Some(lock) = Self::validate(path.clone(), file)? {
                return Ok(Some(lock));
            }
        }
    }

    /// The previous holder unlinks the file before unlocking it; a lock won on an unlinked
    /// (or since replaced) inode protects nothing, and the caller must retry.
    fn validate(path: PathBuf, file: File) -> Result<Option<DigestLock>, StoreError> {
        if same_inode(&file, &path).map_err(io_err("inspect", &path))? {
            Ok(Some(DigestLock {
                path,
                file: Some(file),
            }))
        } else {
            Ok(None)
        }
    }
}

impl Drop for DigestLock {
    fn drop(&mut self) {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(lock = %self.path.display(), error = %e, "cannot remove lock file")
            }
        }
        drop(self.file.take());
    }
}
