//! Publishing a file so that readers see the old content or the new, never a part of
//! either, and a crash leaves one of the two: write a temporary file beside the target
//! (same filesystem, so the rename is atomic), fsync it, rename it over the target, and
//! fsync the directory when the rename itself must survive a crash.
//!
//! Every crate that publishes files does it through here; what differs between them (a
//! mode, where the temp file lives, whether the directory fsync can be batched) is a
//! parameter, not another copy of these steps.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A step of publishing a file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{}`: {source}", path.display())]
pub struct FsError {
    /// What was being done: `create`, `write`, `fsync`, `rename into place`, ...
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FsError {
    fn new(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FsError {
        let path = path.to_path_buf();
        move |source| FsError {
            action,
            path,
            source,
        }
    }
}

/// How much of a publication survives a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file's content is fsynced, the rename is not: after a crash the target holds
    /// the old or the new content. For callers that publish many files into a few
    /// directories and fsync each directory once ([`fsync_dir`]) at the end.
    Content,
    /// The content and the directory entry: once this returns, the new file is there
    /// after a crash.
    Durable,
}

/// Makes the renames and unlinks done in `dir` durable.
pub fn fsync_dir(dir: &Path) -> Result<(), FsError> {
    // `Path::parent` of a bare file name is the empty path: the current directory.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(FsError::new("open directory", dir))?;
    handle
        .sync_all()
        .map_err(FsError::new("fsync directory", dir))
}

/// Publishes `staged` (whose open handle is `file`) as `target`: fsync, rename over
/// whatever `target` was, and with [`Durability::Durable`] fsync `target`'s directory.
/// `staged` must be on `target`'s filesystem.
pub fn publish(
    file: &File,
    staged: &Path,
    target: &Path,
    durability: Durability,
) -> Result<(), FsError> {
    file.sync_all().map_err(FsError::new("fsync", staged))?;
    std::fs::rename(staged, target).map_err(FsError::new("rename into place", target))?;
    if durability == Durability::Durable {
        fsync_dir(target.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Replaces `target` with `bytes` (see [`AtomicFile`]).
pub fn replace(target: &Path, bytes: &[u8], durability: Durability) -> Result<(), FsError> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes)
        .map_err(FsError::new("write", file.temp_path()))?;
    file.commit(durability)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new file that becomes `target` only on [`AtomicFile::commit`]: it is written as a
/// hidden temp file beside `target` (`.NAME.PID-N.tmp`), which is removed if the value is
/// dropped uncommitted (an error, a panic).
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Starts a replacement of `target`, readable and writable by everyone the umask
    /// allows.
    pub fn create(target: &Path) -> Result<AtomicFile, FsError> {
        AtomicFile::create_with_mode(target, 0o666)
    }

    /// Starts a replacement of `target` with permission bits `mode` (before the umask):
    /// `0o600` for a file holding credentials, which must never be readable by others,
    /// not even while being written.
    pub fn create_with_mode(target: &Path, mode: u32) -> Result<AtomicFile, FsError> {
        let dir = target.parent().unwrap_or(Path::new(""));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
            // `create_new` with `O_NOFOLLOW`: a name planted in the directory (a symlink,
            // a leftover) is never written through.
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        file,
                        temp,
                        target: target.to_path_buf(),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(FsError::new("create", &temp)(e)),
            }
        }
    }

    /// The temp file's path, for messages.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The open temp file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Publishes what was written as the target.
    pub fn commit(mut self, durability: Durability) -> Result<(), FsError> {
        publish(&self.file, &self.temp, &self.target, durability)?;
        self.committed = true;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Seeking lets a writer fill in a header it could only know at the end (an archive
/// member's size).
impl Seek for AtomicFile {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.file.seek(position)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replace_swaps_the_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("index.json");
        std::fs::write(&target, b"old").unwrap();
        replace(&target, b"new", Durability::Durable).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(entries(dir.path()), ["index.json"]);
    }

    #[test]
    fn an_uncommitted_file_is_removed_and_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("config.json");
        std::fs::write(&target, b"old").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"half of the new").unwrap();
        assert_eq!(entries(dir.path()).len(), 2, "the temp file is beside it");
        drop(file);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["config.json"]);
    }

    #[test]
    fn the_mode_holds_from_the_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret");
        let file = AtomicFile::create_with_mode(&target, 0o600).unwrap();
        let mode = file.file().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        file.commit(Durability::Content).unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_planted_symlink_at_a_temp_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        // Plant links at the next few names this process would pick.
        let next = COUNTER.load(Ordering::Relaxed);
        for n in next..next + 4 {
            let name = format!(".t.{}-{n}.tmp", std::process::id());
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        replace(&target, b"new", Durability::Content).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn errors_name_the_step_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-dir").join("f");
        let err = replace(&target, b"x", Durability::Durable).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot create `"), "{text}");
        assert!(text.contains("missing-dir"), "{text}");
    }

    #[test]
    fn fsync_dir_takes_the_empty_parent_of_a_bare_name() {
        fsync_dir(Path::new("")).unwrap();
        let err = fsync_dir(Path::new("/nonexistent/dir")).unwrap_err();
        assert_eq!(err.action, "open directory");
    }
}
