//! The bytes of upload sessions in progress: one local file per session, named by its
//! UUID (never by anything a client chose), appended to while hashed.

use std::path::{Path, PathBuf};

use std::io::{Seek, Write};

use futures_util::StreamExt;
use wharf_spec::{Algorithm, Digester};

use super::ByteStream;
use crate::error::StorageError;

/// Read size when a session's file is hashed again (rare: after a restart).
const REHASH_BUFFER: usize = 1 << 20;

pub struct UploadArea {
    dir: PathBuf,
}

/// Who holds an upload session's file.
pub enum SessionLock {
    /// This caller, for as long as the file is open.
    Held(std::fs::File),
    /// Another request (here or in another process) is writing it.
    Busy,
    /// The file is gone: the session finished or was purged.
    Gone,
}

/// How an append ended.
pub enum Appended {
    /// The body was written; this many bytes.
    Done(u64),
    /// The body broke off (client gone, read error): the file was cut back.
    Broken(std::io::Error),
}

impl UploadArea {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(StorageError::io(format!("create `{}`", dir.display())))?;
        Ok(UploadArea {
            dir: dir.to_path_buf(),
        })
    }

    /// `id` is a UUID the server generated and parsed back; it never holds a `/`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Every session file with its modification time.
    pub async fn list(&self) -> Result<Vec<(String, std::time::SystemTime)>, StorageError> {
        let io = StorageError::io(format!("list `{}`", self.dir.display()));
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(io)?;
        let mut out = Vec::new();
        loop {
            let entry = match entries.next_entry().await {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => {
                    return Err(StorageError::io(format!("list `{}`", self.dir.display()))(
                        e,
                    ))
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only names this server made; nothing else is touched.
            if uuid::Uuid::parse_str(&name).is_err() {
                continue;
            }
            if let Ok(modified) = entry.metadata().await.and_then(|m| m.modified()) {
                out.push((name, modified));
            }
        }
        Ok(out)
    }

    pub async fn create(&self, id: &str) -> Result<(), StorageError> {
        let path = self.path(id);
        tokio::fs::File::create(&path)
            .await
            .map_err(StorageError::io(format!("create `{}`", path.display())))?;
        Ok(())
    }

    /// An exclusive `flock` on a session's file, for as long as the returned file is open;
    /// `Busy` when another request holds it (never waited for: that is a client sending
    /// one session's chunks in parallel, or GC purging it). Locks the inode, so a commit
    /// may rename the file. A request holds it while it writes, so GC never purges a
    /// session still receiving bytes.
    pub async fn lock(&self, id: &str) -> Result<SessionLock, StorageError> {
        let path = self.path(id);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file.into_std().await,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SessionLock::Gone),
            Err(e) => return Err(StorageError::io(format!("open `{}`", path.display()))(e)),
        };
        match file.try_lock() {
            Ok(()) => Ok(SessionLock::Held(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(SessionLock::Busy),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(StorageError::io(format!("lock `{}`", path.display()))(e))
            }
        }
    }

    pub async fn remove(&self, id: &str) -> Result<(), StorageError> {
        let path = self.path(id);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StorageError::io(format!("remove `{}`", path.display()))(e))
            }
            _ => Ok(()),
        }
    }

    /// Writes `body` at `offset`, feeding every byte to `digester` in the same pass, and
    /// makes it durable. Bytes past `offset` (the tail of a write that crashed before it was
    /// acknowledged) are cut first.
    ///
    /// Each network chunk is hashed and written as it arrives, straight from the request's
    /// task: a write into the page cache takes microseconds, and only the final `fsync`
    /// waits on the disk (it runs on the blocking pool). The price: when the kernel
    /// throttles writers (too many dirty pages) a write can hold an async worker for a
    /// while. No write buffer and no thread per
    /// upload, so memory stays flat in the number of concurrent uploads too (a 1 MiB
    /// buffer each, plus tokio `File`'s own and its thread, made 100 concurrent 10 MiB
    /// uploads peak at 300 MiB).
    pub async fn append(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        digester: &mut Digester,
    ) -> Result<Appended, StorageError> {
        let path = self.path(id);
        let io = |what: &str| StorageError::io(format!("{what} `{}`", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io("open"))?;
        file.set_len(offset).map_err(io("truncate"))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .map_err(io("seek"))?;
        let mut hashing = digester.clone();
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    file.set_len(offset).map_err(io("truncate"))?;
                    return Ok(Appended::Broken(e));
                }
            };
            hashing.update(&chunk);
            file.write_all(&chunk).map_err(io("write"))?;
            written += chunk.len() as u64;
        }
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(StorageError::internal("upload fsync"))?
            .map_err(io("fsync"))?;
        *digester = hashing;
        Ok(Appended::Done(written))
    }

    /// Cuts a session's file back to `len` (undoing a chunk that was refused after writing).
    pub async fn truncate(&self, id: &str, len: u64) -> Result<(), StorageError> {
        let path = self.path(id);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(StorageError::io(format!("open `{}`", path.display())))?;
        file.set_len(len)
            .await
            .map_err(StorageError::io(format!("truncate `{}`", path.display())))
    }

    /// Hashes the first `len` bytes of a session's file. Used when the in-memory hash state
    /// is gone (a restart, another replica took the session) or another algorithm is asked for.
    pub async fn rehash(
        &self,
        id: &str,
        len: u64,
        algorithm: Algorithm,
    ) -> Result<Digester, StorageError> {
        let path = self.path(id);
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let io = |what: &str| StorageError::io(format!("{what} `{}`", path.display()));
            let file = std::fs::File::open(&path).map_err(io("open"))?;
            let mut reader = file.take(len);
            let mut digester = Digester::new(algorithm);
            let mut buf = vec![0; REHASH_BUFFER];
            let mut total = 0u64;
            loop {
                let n = reader.read(&mut buf).map_err(io("read"))?;
                if n == 0 {
                    break;
                }
                digester.update(&buf[..n]);
                total += n as u64;
            }
            if total != len {
                return Err(io("read")(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("upload file holds {total} bytes, the session says {len}"),
                )));
            }
            Ok(digester)
        })
        .await
        .map_err(StorageError::internal("upload rehash"))?
    }
}
