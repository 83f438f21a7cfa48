//! Streaming, verifying, resumable ingest: bytes are hashed in the same pass that writes
//! them, into a file outside `blobs/`; only a blob whose digest matched can be staged, and
//! only a commit moves a staged blob into `blobs/`.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use wharf_spec::{Algorithm, Digest, Digester};

use crate::error::{io_err, StoreError};
use crate::layout::{
    clear_nonblock, open_regular, same_inode, BlobState, Store, TempFile, TempPath, BUF_SIZE,
    WRITE_BUF_SIZE,
};
use crate::lock::DigestLock;

/// What [`Store::ingest`] found.
#[derive(Debug)]
pub enum IngestStart {
    /// The blob is already committed; its size.
    Exists(u64),
    /// Another ingest has already written and verified this blob but not committed it
    /// yet. This handle shares those verified bytes: pass it to [`Store::commit`] like any
    /// staged blob. (Waiting for the other commit instead could deadlock two pulls that
    /// each hold a blob the other needs.)
    Staged(StagedBlob),
    /// Write the blob (from [`Ingest::offset`] on) and [`Ingest::finish`] it.
    Writer(Ingest),
}

/// A blob being written. Every byte accepted by `write` is hashed in the same call.
///
/// Dropping an unfinished ingest of a known digest keeps the partial file so a later
/// [`Store::ingest`] can resume it; an ingest of an unknown digest has no key to resume
/// by, so its temp file is deleted.
pub struct Ingest {
    // Declared first so it is flushed and closed before the lock in `target` is released.
    out: Option<BufWriter<File>>,
    // Boxed: a SHA-512 state is large, and `IngestStart` carries an `Ingest` by value.
    digester: Box<Digester>,
    written: u64,
    offset: u64,
    /// End of the file's preallocated space (see [`PREALLOCATE`]).
    allocated: u64,
    /// Where the next write-behind range starts (see [`WRITE_BEHIND`]).
    written_back: u64,
    target: Option<Target>,
}

#[derive(Debug)]
enum Target {
    Known {
        expected: Digest,
        expected_size: Option<u64>,
        partial: PathBuf,
        verified: PathBuf,
        lock: DigestLock,
    },
    Unknown {
        path: TempPath,
    },
}

impl Target {
    fn path(&self) -> &Path {
        match self {
            Target::Known { partial, .. } => partial,
            Target::Unknown { path } => path.path(),
        }
    }
}

/// A verified blob waiting, invisible, for [`Store::commit`]. Dropping it uncommitted
/// deletes its file (unless another staged handle shares it).
#[derive(Debug)]
pub struct StagedBlob {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) path: PathBuf,
    pub(crate) source: Source,
}

#[derive(Debug)]
pub(crate) enum Source {
    /// Already committed when it was staged: nothing to move.
    Committed,
    /// A private, verified, fsynced temp file (unknown-digest ingest, staged bytes),
    /// exclusively locked by its owner.
    Temp { path: TempPath, file: File },
    /// The verified file of a known-digest ingest, shared by every handle staging it.
    Verified(VerifiedHold),
}

impl Source {
    /// The staged bytes, while not committed (to read a staged manifest).
    pub(crate) fn file(&self) -> Option<&File> {
        match self {
            Source::Committed => None,
            Source::Temp { file, .. } => Some(file),
            Source::Verified(hold) => Some(&hold.file),
        }
    }
}

/// A shared `flock` on `.wharf/ingest/<alg>-<hex>.verified`; a shared lock is how each
/// holder says "mine too". Commit hard-links the file into `blobs/`, so the name stays
/// valid for the other holders; whoever drops the last hold deletes the name.
#[derive(Debug)]
pub(crate) struct VerifiedHold {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// Cleared if the file had to be renamed (not linked) into `blobs/`: nothing to delete.
    pub(crate) armed: bool,
}

impl Drop for VerifiedHold {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Our own shared lock would make the exclusive probe below fail: release it first.
        let _ = self.file.unlock();
        if let Err(e) = remove_if_unshared(&self.path, true) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove staged blob");
        }
    }
}

/// Whether no one holds a lock on the file at `path` (and, with `remove`, deletes it while
/// holding the exclusive lock that proves it). `false` if it is absent or in use.
pub(crate) fn remove_if_unshared(path: &Path, remove: bool) -> io::Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    if !same_inode(&file, path)? {
        return Ok(false);
    }
    if remove {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl StagedBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the staged bytes can be read until the commit (to compute a layer's diff_id
    /// before publishing it, say). For a blob that was already committed when it was
    /// staged, that is its place in `blobs/`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Starts ingesting a blob whose digest is known:
    /// - [`IngestStart::Exists`] if it is already committed;
    /// - [`IngestStart::Staged`] if another ingest already verified it (not committed yet);
    /// - otherwise [`IngestStart::Writer`]. A partial file left by an interrupted or killed
    ///   process is resumed: [`Ingest::offset`] says how many bytes are already there
    ///   (re-hashed here, so the hash state is right); continue from there, or
    ///   [`Ingest::restart`].
    ///
    /// While another thread or process is *writing* this digest, this waits until that
    /// writer finishes or is dropped, then returns `Staged` or `Exists`, or a writer that
    /// takes over the partial file. There is never more than one writer per digest. The
    /// calling thread must not itself hold an unfinished [`Ingest`] of the same digest.
    pub fn ingest(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<IngestStart, StoreError> {
        if let Some(ready) = self.ready(expected, expected_size)? {
            return Ok(ready);
        }
        let lock = DigestLock::acquire(self.digest_lock_path(expected))?;
        // Whoever held the lock before us may just have finished this blob.
        if let Some(ready) = self.ready(expected, expected_size)? {
            return Ok(ready);
        }
        let partial = self.partial_path(expected);
        let (file, digester, offset) = open_partial(&partial, expected.algorithm(), expected_size)?;
        Ok(IngestStart::Writer(Ingest {
            out: Some(BufWriter::with_capacity(WRITE_BUF_SIZE, file)),
            digester: Box::new(digester),
            written: offset,
            offset,
            allocated: offset,
            written_back: offset,
            target: Some(Target::Known {
                expected: expected.clone(),
                expected_size,
                partial,
                verified: self.verified_path(expected),
                lock,
            }),
        }))
    }

    fn ready(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Option<IngestStart>, StoreError> {
        if let Some(size) = self.existing_size(digest, expected_size)? {
            return Ok(Some(IngestStart::Exists(size)));
        }
        if let Some(staged) = self.share_verified(digest, expected_size)? {
            return Ok(Some(IngestStart::Staged(staged)));
        }
        // A blob only moves forward, partial -> verified -> blobs/, so the verified file
        // may have been committed between the two looks above: look again.
        Ok(self
            .existing_size(digest, expected_size)?
            .map(IngestStart::Exists))
    }

    /// Joins the holders of a verified, uncommitted copy of `digest`, if there is one.
    fn share_verified(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Option<StagedBlob>, StoreError> {
        let path = self.verified_path(digest);
        let file = match open_regular(&path) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            // Not something we wrote; a writer will replace it with the real thing.
            Err(StoreError::NotARegularFile(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // Blocks only while a last holder is deleting it, after which it is gone.
        file.lock_shared().map_err(io_err("lock", &path))?;
        if !same_inode(&file, &path).map_err(io_err("inspect", &path))? {
            return Ok(None);
        }
        let size = file.metadata().map_err(io_err("inspect", &path))?.len();
        if let Some(expected) = expected_size.filter(|&e| e != size) {
            return Err(StoreError::SizeMismatch {
                digest: digest.clone(),
                expected,
                actual: size,
            });
        }
        Ok(Some(StagedBlob {
            digest: digest.clone(),
            size,
            path: path.clone(),
            source: Source::Verified(VerifiedHold {
                path,
                file,
                armed: true,
            }),
        }))
    }

    /// Ingests a blob whose digest is known only once all of it is written (a layer tar
    /// read out of an archive, say), hashing it with `algorithm` as it is written.
    pub fn ingest_unknown(&self, algorithm: Algorithm) -> Result<Ingest, StoreError> {
        let tmp = TempFile::create(self)?;
        Ok(Ingest {
            out: Some(BufWriter::with_capacity(WRITE_BUF_SIZE, tmp.file)),
            digester: Box::new(Digester::new(algorithm)),
            written: 0,
            offset: 0,
            allocated: 0,
            written_back: 0,
            target: Some(Target::Unknown { path: tmp.path }),
        })
    }

    /// Stages small in-memory bytes (a manifest or config wharf synthesized or read from an
    /// archive).
    pub fn stage_bytes(
        &self,
        bytes: &[u8],
        algorithm: Algorithm,
    ) -> Result<StagedBlob, StoreError> {
        let digest = Digest::of_bytes(algorithm, bytes);
        let size = bytes.len() as u64;
        if let BlobState::Regular(existing) = self.blob_state(&digest)? {
            if existing == size {
                return Ok(StagedBlob {
                    path: self.blob_path(&digest),
                    digest,
                    size,
                    source: Source::Committed,
                });
            }
        }
        let mut tmp = TempFile::create(self)?;
        tmp.file
            .write_all(bytes)
            .map_err(io_err("write", tmp.path.path()))?;
        tmp.file
            .sync_all()
            .map_err(io_err("fsync", tmp.path.path()))?;
        Ok(StagedBlob {
            digest,
            size,
            path: tmp.path.path().to_path_buf(),
            source: Source::Temp {
                path: tmp.path,
                file: tmp.file,
            },
        })
    }

    pub(crate) fn verified_path(&self, digest: &Digest) -> PathBuf {
        self.ingest_dir()
            .join(format!("{}-{}.verified", digest.algorithm(), digest.hex()))
    }

    pub(crate) fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.ingest_dir()
            .join(format!("{}-{}.partial", digest.algorithm(), digest.hex()))
    }

    /// Size of the committed blob, checked against the size the caller expects. A symlink
    /// or special file where the blob should be counts as absent: committing the real
    /// blob replaces it.
    fn existing_size(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        match self.blob_state(digest)? {
            BlobState::Regular(size) => match expected_size {
                Some(expected) if expected != size => Err(StoreError::SizeMismatch {
                    digest: digest.clone(),
                    expected,
                    actual: size,
                }),
                _ => Ok(Some(size)),
            },
            BlobState::Absent | BlobState::NotRegular(_) => Ok(None),
        }
    }
}

/// Opens (or creates) the partial file of a known digest and re-hashes what it holds.
/// Called with the digest lock held, so nobody else writes it meanwhile.
fn open_partial(
    path: &Path,
    algorithm: Algorithm,
    expected_size: Option<u64>,
) -> Result<(File, Digester, u64), StoreError> {
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    };
    let mut file = match open() {
        Ok(f) if f.metadata().is_ok_and(|m| m.file_type().is_file()) => f,
        // Partial files are ours alone: whatever else sits at this name is debris.
        Ok(_) => {
            remove_any(path)?;
            open().map_err(io_err("create", path))?
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            remove_any(path)?;
            open().map_err(io_err("create", path))?
        }
        Err(e) => return Err(io_err("open", path)(e)),
    };
    clear_nonblock(&file).map_err(io_err("open", path))?;
    let len = file.metadata().map_err(io_err("inspect", path))?.len();
    if expected_size.is_some_and(|max| len > max) {
        file.set_len(0).map_err(io_err("truncate", path))?;
    }
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("seek", path))?;
    // Hash exactly the bytes that are there; the write position then follows them.
    let mut digester = Digester::new(algorithm);
    let mut buf = vec![0u8; BUF_SIZE];
    let mut offset = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("read", path)(e)),
        };
        digester.update(&buf[..n]);
        offset += n as u64;
    }
    if offset > 0 {
        tracing::debug!(partial = %path.display(), offset, "resuming a partial ingest");
    }
    Ok((file, digester, offset))
}

fn remove_any(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("inspect", path))?;
    if meta.file_type().is_dir() {
        fs::remove_dir_all(path).map_err(io_err("remove", path))
    } else {
        fs::remove_file(path).map_err(io_err("remove", path))
    }
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("path", &self.path())
            .field("expected", &self.expected())
            .field("offset", &self.offset)
            .field("written", &self.written)
            .finish()
    }
}

impl Ingest {
    /// Bytes that were already in the partial file when this ingest was opened: where the
    /// caller resumes (e.g. with an HTTP `Range` request).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes in the file so far (the resume offset plus everything written since).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The digest this ingest must produce, if known in advance.
    pub fn expected(&self) -> Option<&Digest> {
        match &self.target {
            Some(Target::Known { expected, .. }) => Some(expected),
            _ => None,
        }
    }

    /// Discards everything written so far (for a source that cannot resume).
    pub fn restart(&mut self) -> Result<(), StoreError> {
        let path = self.path().to_path_buf();
        let out = self.out_mut()?;
        // Flushing first keeps the buffer from landing after the truncation.
        out.flush().map_err(io_err("write", &path))?;
        let file = out.get_mut();
        file.set_len(0).map_err(io_err("truncate", &path))?;
        file.seek(SeekFrom::Start(0))
            .map_err(io_err("seek", &path))?;
        *self.digester = Digester::new(self.digester.algorithm());
        self.written = 0;
        self.offset = 0;
        self.allocated = 0;
        self.written_back = 0;
        Ok(())
    }

    /// Gives up on this blob: its partial file is deleted, so no later ingest resumes from
    /// bytes that turned out wrong (a response longer than the blob, say).
    pub fn discard(mut self) {
        self.out.take();
        if let Some(Target::Known { partial, lock, .. }) = self.target.take() {
            drop(TempPath::new(partial));
            drop(lock);
        }
        // An unknown-digest temp file is deleted when its target drops.
    }

    /// Flushes, fsyncs and verifies the digest (and size, when one was expected), giving a
    /// staged blob that is still invisible in `blobs/`. On a mismatch the partial file is
    /// deleted and the error names what was expected and what arrived.
    pub fn finish(mut self) -> Result<StagedBlob, StoreError> {
        let path = self.path().to_path_buf();
        let (Some(out), Some(target)) = (self.out.take(), self.target.take()) else {
            return Err(finished_error());
        };
        let file = out
            .into_inner()
            .map_err(|e| io_err("write", &path)(e.into_error()))?;
        file.sync_all().map_err(io_err("fsync", &path))?;
        let algorithm = self.digester.algorithm();
        let actual = std::mem::replace(&mut *self.digester, Digester::new(algorithm)).finish();
        let size = self.written;
        match target {
            Target::Known {
                expected,
                expected_size,
                partial,
                verified,
                lock,
            } => {
                let mismatch = if let Some(expected_size) = expected_size.filter(|&s| s != size) {
                    Some(StoreError::SizeMismatch {
                        digest: expected,
                        expected: expected_size,
                        actual: size,
                    })
                } else if actual != expected {
                    Some(StoreError::DigestMismatch {
                        expected,
                        actual: actual.clone(),
                    })
                } else {
                    None
                };
                if let Some(err) = mismatch {
                    drop(TempPath::new(partial));
                    drop((file, lock));
                    return Err(err);
                }
                // Locked before it is renamed, so it is never visible unclaimed (which
                // gc would take for debris).
                file.lock_shared().map_err(io_err("lock", &partial))?;
                fs::rename(&partial, &verified).map_err(io_err("rename", &verified))?;
                // Other writers of this digest stop waiting here and share the file.
                drop(lock);
                Ok(StagedBlob {
                    digest: actual,
                    size,
                    path: verified.clone(),
                    source: Source::Verified(VerifiedHold {
                        path: verified,
                        file,
                        armed: true,
                    }),
                })
            }
            Target::Unknown { path } => Ok(StagedBlob {
                digest: actual,
                size,
                path: path.path().to_path_buf(),
                source: Source::Temp { path, file },
            }),
        }
    }

    fn path(&self) -> &Path {
        self.target
            .as_ref()
            .map(Target::path)
            .unwrap_or(Path::new(""))
    }

    fn out_mut(&mut self) -> Result<&mut BufWriter<File>, StoreError> {
        self.out.as_mut().ok_or_else(finished_error)
    }
}

/// Only reachable after a failed `restart` left the writer half torn down.
fn finished_error() -> StoreError {
    io_err("write", PathBuf::new())(io::Error::other("the ingest is already finished"))
}

/// Every this many bytes handed to the kernel, it is asked to start writing that range
/// out, so the disk works while the network does and the `fsync` before commit finds
/// little left to do. Without it a pull's largest layer waited 85 ms in that `fsync`
/// after its last byte arrived. On a disk slower than the network the disk bounds the
/// whole pull, so it should start early: every 8 MiB left it idle for the first 8 MiB,
/// and every 2 MiB (range by range) made a debian-python pull 10 ms faster there (median
/// of 15, 216 -> 206 ms).
const WRITE_BEHIND: u64 = 2 << 20;

/// Starts writeback of `len` bytes of `file` at `offset` without waiting for it (a hint:
/// an error only means the final `fsync` does all the work).
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the fd is open (borrowed).
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

/// How far ahead of the bytes written a blob of known size gets its disk space reserved
/// (`fallocate`, size unchanged). Writing into reserved space spares ext4 its per-block
/// delayed-allocation work in the writing thread: a debian-python pull's CPU fell from
/// 76 to 69 ms. Bounded, so a descriptor that lies about its size reserves at most this
/// much beyond what actually arrived.
const PREALLOCATE: u64 = 64 << 20;

/// Reserves `len` bytes of disk at `offset` without changing the file's size, so the
/// length of a partial file is still exactly the bytes written (what a resume starts
/// from). A hint: a file system without `fallocate` just allocates as the writes come.
fn preallocate(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: fallocate only reads its integer arguments; the fd is open (borrowed).
    let _ = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut reserve = None;
        if let Some(Target::Known {
            expected,
            expected_size: Some(max),
            ..
        }) = &self.target
        {
            let end = self.written + buf.len() as u64;
            if end > *max {
                // Fail at once rather than store an unbounded stream that can only mismatch.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("blob `{expected}` is longer than its declared {max} bytes"),
                ));
            }
            if end > self.allocated {
                reserve = Some((self.written + PREALLOCATE).min(*max));
            }
        }
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest already finished"))?;
        if let Some(until) = reserve.filter(|&u| u > self.allocated) {
            preallocate(out.get_ref(), self.allocated, until - self.allocated);
            self.allocated = until;
        }
        let n = out.write(buf)?;
        self.digester.update(&buf[..n]);
        self.written += n as u64;
        // What the kernel has: the written bytes but those still in our buffer.
        let in_file = self.written - out.buffer().len() as u64;
        if in_file >= self.written_back + WRITE_BEHIND {
            start_writeback(
                out.get_ref(),
                self.written_back,
                in_file - self.written_back,
            );
            self.written_back = in_file;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // Flush so a resumed ingest finds every byte that was hashed here; a failed flush
        // only shortens the partial file, which is re-hashed on resume anyway.
        if let Some(mut out) = self.out.take() {
            let _ = out.flush();
        }
        // Dropping `target` now releases the digest lock (keeping the partial file) or
        // deletes the unknown-digest temp file.
        self.target.take();
    }
}
