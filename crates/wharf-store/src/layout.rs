//! Where everything lives on disk, opening/creating a layout, reading committed blobs, and
//! the small filesystem primitives (no-follow opens, temp files, directory fsync) the rest
//! of the crate is built from.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use wharf_fs::Durability;
use wharf_spec::{Algorithm, Digest, Digester};

use crate::error::{io_err, StoreError};
use crate::lock::IndexLock;

pub(crate) const LAYOUT_FILE: &str = "oci-layout";
pub(crate) const INDEX_FILE: &str = "index.json";
pub(crate) const BLOBS_DIR: &str = "blobs";
pub(crate) const PRIVATE_DIR: &str = ".wharf";
pub(crate) const INGEST_DIR: &str = "ingest";
pub(crate) const TMP_DIR: &str = "tmp";
pub(crate) const LAYERS_DIR: &str = "layers";
pub(crate) const STORE_LOCK: &str = "store.lock";
pub(crate) const INDEX_LOCK: &str = "index.lock";

const LAYOUT_VERSION: &str = "1.0.0";

/// Streaming I/O buffer: large enough that syscalls are not the bottleneck, small enough
/// that memory stays bounded by buffers rather than by blob size.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// An ingest's write buffer. Several ingests run at once (a pull's concurrent layers), so
/// this stays small; 256 KiB still makes a write syscall cost nothing beside the hashing.
pub(crate) const WRITE_BUF_SIZE: usize = 256 << 10;

/// The local image store: an OCI image layout plus wharf's private state in `.wharf/`.
///
/// Cheap to clone; every clone refers to the same directory. All coordination between
/// clones, threads and processes goes through file locks, so nothing is cached in memory.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
}

impl Store {
    /// Opens the layout at `root`, creating `oci-layout`, `index.json` (an empty OCI
    /// index), `blobs/` and `.wharf/` if absent.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        let root = std::path::absolute(&root).map_err(io_err("resolve", &root))?;
        fs::create_dir_all(&root).map_err(io_err("create directory", &root))?;
        let store = Store {
            inner: Arc::new(Inner { root }),
        };
        store.refuse_foreign_directory()?;
        for dir in [
            store.private_dir(),
            store.ingest_dir(),
            store.tmp_dir(),
            store.layers_dir(),
            store.blobs_dir(),
        ] {
            ensure_real_dir(&dir)?;
        }
        // The common case, an existing layout, needs no lock: both files are only ever
        // replaced by rename, so reading them is always safe.
        if store.layout_path().exists() && store.index_path().exists() {
            store.check_layout()?;
            store.read_index()?;
            return Ok(store);
        }
        // Creation happens under the index lock so that a concurrent open() can never
        // replace an index.json another process has just committed to.
        let _lock = IndexLock::acquire(&store)?;
        // A new name in the root that no directory fsync has covered yet.
        let mut unsynced = false;
        match store.check_layout() {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                let body = format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}");
                store.write_atomic(&store.layout_path(), body.as_bytes(), false)?;
                unsynced = true;
            }
            other => other?,
        }
        match store.read_index() {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                // Fsyncs the root, which covers `oci-layout` too.
                store.write_index(&wharf_spec::ImageIndex::empty())?;
                unsynced = false;
            }
            other => drop(other?),
        }
        if unsynced {
            fsync_dir(store.root())?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where a committed blob lives: `blobs/<alg>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.alg_dir(digest.algorithm()).join(digest.hex())
    }

    /// Size of a committed blob, `None` if absent. A symlink or any other non-regular file
    /// where a blob should be is an error, never followed.
    pub fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        match self.blob_state(digest)? {
            BlobState::Absent => Ok(None),
            BlobState::Regular(size) => Ok(Some(size)),
            BlobState::NotRegular(path) => Err(StoreError::NotARegularFile(path)),
        }
    }

    /// Opens a committed blob for streaming. The final component is opened with
    /// `O_NOFOLLOW`, the directories above it are checked not to be symlinks.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        if let Some(bad) = self.check_blob_dirs(digest.algorithm())? {
            return Err(StoreError::NotARegularFile(bad));
        }
        let path = self.blob_path(digest);
        match open_regular(&path) {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(StoreError::BlobNotFound(digest.clone())),
            Err(e) => Err(e),
        }
    }

    /// Reads a small blob (manifest, config) whole, refusing more than `max` bytes, and
    /// verifies it against its digest so that on-disk corruption is never served.
    pub fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, StoreError> {
        let file = self.open_blob(digest)?;
        read_verified(&file, &self.blob_path(digest), digest, max)
    }

    pub(crate) fn private_dir(&self) -> PathBuf {
        self.root().join(PRIVATE_DIR)
    }
    pub(crate) fn ingest_dir(&self) -> PathBuf {
        self.private_dir().join(INGEST_DIR)
    }
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.private_dir().join(TMP_DIR)
    }
    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.private_dir().join(LAYERS_DIR)
    }
    pub(crate) fn store_lock_path(&self) -> PathBuf {
        self.private_dir().join(STORE_LOCK)
    }
    pub(crate) fn index_lock_path(&self) -> PathBuf {
        self.private_dir().join(INDEX_LOCK)
    }
    pub(crate) fn index_path(&self) -> PathBuf {
        self.root().join(INDEX_FILE)
    }
    pub(crate) fn layout_path(&self) -> PathBuf {
        self.root().join(LAYOUT_FILE)
    }
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root().join(BLOBS_DIR)
    }
    pub(crate) fn alg_dir(&self, algorithm: Algorithm) -> PathBuf {
        self.blobs_dir().join(algorithm.name())
    }

    pub(crate) fn blob_state(&self, digest: &Digest) -> Result<BlobState, StoreError> {
        if let Some(bad) = self.check_blob_dirs(digest.algorithm())? {
            return Ok(BlobState::NotRegular(bad));
        }
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => Ok(BlobState::Regular(m.len())),
            Ok(_) => Ok(BlobState::NotRegular(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BlobState::Absent),
            Err(e) => Err(io_err("inspect", path)(e)),
        }
    }

    /// `O_NOFOLLOW` only guards the last path component, so the two directories above a
    /// blob are checked too: a layout handed to us with `blobs/sha256 -> /` must not make
    /// wharf read (or serve) arbitrary files. Returns the offending path, if any.
    fn check_blob_dirs(&self, algorithm: Algorithm) -> Result<Option<PathBuf>, StoreError> {
        for dir in [self.blobs_dir(), self.alg_dir(algorithm)] {
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => return Ok(Some(dir)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("inspect", dir)(e)),
            }
        }
        Ok(None)
    }

    /// Writes `bytes` to `dest` so that readers see either the old or the new content:
    /// temp file in `.wharf/tmp` (where gc and fsck know its lock), then
    /// [`wharf_fs::publish`]: fsync, rename, and (when `durable`) fsync the directory.
    pub(crate) fn write_atomic(
        &self,
        dest: &Path,
        bytes: &[u8],
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut tmp = TempFile::create(self)?;
        tmp.file
            .write_all(bytes)
            .map_err(io_err("write", tmp.path.path()))?;
        let durability = match durable {
            true => Durability::Durable,
            false => Durability::Content,
        };
        tmp.publish(dest, durability)
    }

    fn check_layout(&self) -> Result<(), StoreError> {
        let path = self.layout_path();
        check_layout_file(&path, &read_small_file(&path, 4096)?)
    }

    /// A layout we did not create must not be silently turned into one: refuse a non-empty
    /// directory that has no `oci-layout`.
    fn refuse_foreign_directory(&self) -> Result<(), StoreError> {
        let root = self.root();
        if fs::symlink_metadata(self.layout_path()).is_ok() {
            return Ok(());
        }
        let entries = fs::read_dir(root).map_err(io_err("list", root))?;
        for entry in entries {
            let entry = entry.map_err(io_err("list", root))?;
            let name = entry.file_name();
            if ![INDEX_FILE, BLOBS_DIR, PRIVATE_DIR]
                .iter()
                .any(|n| OsStr::new(n) == name)
            {
                return Err(StoreError::UnsupportedLayout {
                    path: root.to_path_buf(),
                    reason: format!(
                        "the directory is not empty (it contains `{}`) and has no `oci-layout` file",
                        name.to_string_lossy()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What is at a blob's path.
pub(crate) enum BlobState {
    Absent,
    Regular(u64),
    NotRegular(PathBuf),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    image_layout_version: Option<String>,
}

fn check_layout_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let unsupported = |reason: String| StoreError::UnsupportedLayout {
        path: path.to_path_buf(),
        reason,
    };
    let parsed: LayoutFile = serde_json::from_slice(bytes)
        .map_err(|e| unsupported(format!("the file is not valid JSON ({e})")))?;
    match parsed.image_layout_version.as_deref() {
        // Only the major version is a compatibility promise in the image-spec.
        Some(v) if v.split('.').next() == Some("1") => Ok(()),
        Some(v) => Err(unsupported(format!(
            "`imageLayoutVersion` is `{v}`, wharf supports 1.x"
        ))),
        None => Err(unsupported("`imageLayoutVersion` is missing".into())),
    }
}

/// Creates `dir` if needed and checks it is a real directory, not a symlink to one.
pub(crate) fn ensure_real_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err("create directory", dir)(e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(io_err("inspect", dir))?;
    if meta.file_type().is_dir() {
        Ok(())
    } else {
        Err(StoreError::NotARegularFile(dir.to_path_buf()))
    }
}

/// Opens an existing regular file read-only without following a symlink and without
/// blocking on a FIFO. `Ok(None)` if absent.
pub(crate) fn open_regular(path: &Path) -> Result<Option<File>, StoreError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StoreError::NotARegularFile(path.to_path_buf()))
        }
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    if !meta.file_type().is_file() {
        return Err(StoreError::NotARegularFile(path.to_path_buf()));
    }
    clear_nonblock(&file).map_err(io_err("open", path))?;
    Ok(Some(file))
}

pub(crate) fn clear_nonblock(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL take and return plain ints.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads a whole small regular file (never following a symlink), refusing more than `max`.
pub(crate) fn read_small_file(path: &Path, max: u64) -> Result<Vec<u8>, StoreError> {
    let file = open_regular(path)?
        .ok_or_else(|| io_err("read", path)(io::Error::from(io::ErrorKind::NotFound)))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    if bytes.len() as u64 > max {
        return Err(StoreError::CorruptIndex {
            path: path.to_path_buf(),
            reason: format!("the file is larger than the {max}-byte limit"),
        });
    }
    Ok(bytes)
}

/// Reads all of `file` (at most `max` bytes) with positional reads, so a handle shared
/// with others is read from its start whatever its cursor, and checks the bytes hash to
/// `digest`.
pub(crate) fn read_verified(
    file: &File,
    path: &Path,
    digest: &Digest,
    max: u64,
) -> Result<Vec<u8>, StoreError> {
    let size = file.metadata().map_err(io_err("inspect", path))?.len();
    if size > max {
        return Err(StoreError::TooLarge {
            digest: digest.clone(),
            size,
            max,
        });
    }
    let mut bytes = vec![0u8; size as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(io_err("read", path))?;
    let actual = Digest::of_bytes(digest.algorithm(), &bytes);
    if &actual != digest {
        return Err(StoreError::CorruptBlob {
            digest: digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Hashes a reader to its end with a bounded buffer. Returns the digest and byte count.
pub(crate) fn hash_stream(
    mut reader: impl Read,
    algorithm: Algorithm,
    buf: &mut [u8],
) -> io::Result<(Digest, u64)> {
    let mut digester = Digester::new(algorithm);
    let mut total = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        digester.update(&buf[..n]);
        total += n as u64;
    }
    Ok((digester.finish(), total))
}

/// Makes a rename or unlink in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    Ok(wharf_fs::fsync_dir(dir)?)
}

/// True if `path` still names the inode `file` has open: how a lock holder detects that
/// the lock file it waited on was unlinked (and maybe recreated) by the previous holder.
pub(crate) fn same_inode(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A uniquely named file in `.wharf/tmp/`, exclusively `flock`ed for as long as it is
/// open so that gc and fsck can tell a live temp file from one a killed process left.
/// Removed on drop unless persisted (the path field drops first: the file is gone before
/// its lock is released).
#[derive(Debug)]
pub(crate) struct TempFile {
    pub(crate) path: TempPath,
    pub(crate) file: File,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    pub(crate) fn create(store: &Store) -> Result<TempFile, StoreError> {
        let dir = store.tmp_dir();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{}-{nanos:x}-{n}.tmp", std::process::id()));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => {
                    let path = TempPath::new(path);
                    file.lock().map_err(io_err("lock", path.path()))?;
                    // A sweeper (`clear_dead_debris`) may have locked and deleted the file
                    // between its creation and our lock: then it is not ours, try another.
                    if !same_inode(&file, path.path()).map_err(io_err("inspect", path.path()))? {
                        let mut gone = path;
                        gone.disarm();
                        continue;
                    }
                    return Ok(TempFile { path, file });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create", &path)(e)),
            }
        }
    }

    /// Publishes the temp file as `dest`, atomically replacing whatever was there
    /// ([`wharf_fs::publish`]). The lock is released as this returns.
    pub(crate) fn publish(mut self, dest: &Path, durability: Durability) -> Result<(), StoreError> {
        wharf_fs::publish(&self.file, self.path.path(), dest, durability)?;
        self.path.disarm();
        Ok(())
    }
}

/// A file path that is deleted on drop unless disarmed.
#[derive(Debug)]
pub(crate) struct TempPath(Option<PathBuf>);

impl TempPath {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempPath(Some(path))
    }
    pub(crate) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}
