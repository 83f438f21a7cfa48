//! A directory as a reproducible tar stream: depth-first, each directory's children
//! sorted by name bytes (the order Go's `filepath.Walk` gives), symlinks never followed,
//! hard links found by (device, inode) and written as tar hard links to the first path
//! in that order, mtimes clamped to `SOURCE_DATE_EPOCH`, owners optionally normalized.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::tar_out::{self, Entry, EntryKind};
use super::{BuildError, Normalize};

/// What walking a directory wrote.
#[derive(Debug, Default)]
pub struct WalkStats {
    pub entries: u64,
    /// Sockets: tar cannot hold them (Docker skips them too).
    pub skipped: Vec<PathBuf>,
}

const COPY_BUF: usize = 256 << 10;

/// Writes `root`'s contents as tar entries into `out` (no end-of-archive blocks), each
/// name prefixed with `dest` (`""`, or `usr/share/html` to place the tree there; the
/// destination directory itself gets `root`'s attributes, its parents no entry).
pub fn write_tree<W: Write>(
    root: &Path,
    dest: &[u8],
    normalize: &Normalize,
    out: &mut W,
) -> Result<WalkStats, BuildError> {
    let root_meta = fs::metadata(root).map_err(|e| BuildError::source(root, e))?;
    if !root_meta.is_dir() {
        return Err(BuildError::NotADirectory(root.to_path_buf()));
    }
    let mut walker = Walker::new(normalize, out);
    let mut prefix = dest.to_vec();
    if !prefix.is_empty() {
        walker.emit(root, &prefix, &root_meta)?;
        prefix.push(b'/');
    }
    walker.emit_children(root, prefix)?;
    Ok(walker.stats)
}

/// A directory's entries, sorted by name bytes.
pub(super) fn children(dir: &Path) -> Result<Vec<(OsString, PathBuf)>, BuildError> {
    let read = fs::read_dir(dir).map_err(|e| BuildError::io("list", dir, e))?;
    let mut out = Vec::new();
    for item in read {
        let item = item.map_err(|e| BuildError::io("list", dir, e))?;
        out.push((item.file_name(), item.path()));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Writes entries for paths on disk, remembering hard links across calls.
pub(super) struct Walker<'a, W: Write> {
    normalize: &'a Normalize,
    out: &'a mut W,
    /// (device, inode) → the tar name it was first written under.
    links: HashMap<(u64, u64), Vec<u8>>,
    pub(super) stats: WalkStats,
    buf: Vec<u8>,
}

impl<'a, W: Write> Walker<'a, W> {
    pub(super) fn new(normalize: &'a Normalize, out: &'a mut W) -> Self {
        Walker {
            normalize,
            out,
            links: HashMap::new(),
            stats: WalkStats::default(),
            buf: vec![0u8; COPY_BUF],
        }
    }

    /// Every entry below `dir`, depth-first in name order; `prefix` is `dir`'s tar name
    /// with a trailing `/` (empty for the layer root).
    pub(super) fn emit_children(&mut self, dir: &Path, prefix: Vec<u8>) -> Result<(), BuildError> {
        let mut stack = vec![(children(dir)?.into_iter(), prefix)];
        while let Some((iter, prefix)) = stack.last_mut() {
            let Some((name, path)) = iter.next() else {
                stack.pop();
                continue;
            };
            let mut tar_name = prefix.clone();
            tar_name.extend_from_slice(name.as_bytes());
            let meta =
                fs::symlink_metadata(&path).map_err(|e| BuildError::io("inspect", &path, e))?;
            self.emit(&path, &tar_name, &meta)?;
            if meta.is_dir() {
                tar_name.push(b'/');
                stack.push((children(&path)?.into_iter(), tar_name));
            }
        }
        Ok(())
    }

    /// A whiteout: an empty file `.wh.NAME` beside the deleted NAME (image-spec
    /// `layer.md`), owned by root, mode 0, at the clamped epoch.
    pub(super) fn emit_whiteout(&mut self, parent: &[u8], name: &[u8]) -> Result<(), BuildError> {
        let mut tar_name = parent.to_vec();
        tar_name.extend_from_slice(b".wh.");
        tar_name.extend_from_slice(name);
        let entry = Entry {
            name: tar_name,
            kind: EntryKind::File { size: 0 },
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: self.normalize.source_date_epoch.unwrap_or(0),
            xattrs: Vec::new(),
        };
        tar_out::write_header(self.out, &entry).map_err(BuildError::Write)?;
        self.stats.entries += 1;
        Ok(())
    }

    pub(super) fn emit(
        &mut self,
        path: &Path,
        name: &[u8],
        meta: &Metadata,
    ) -> Result<(), BuildError> {
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            let key = (meta.dev(), meta.ino());
            match self.links.get(&key) {
                Some(first) if meta.nlink() > 1 => EntryKind::Hardlink {
                    target: first.clone(),
                },
                _ => {
                    if meta.nlink() > 1 {
                        self.links.insert(key, name.to_vec());
                    }
                    EntryKind::File { size: meta.len() }
                }
            }
        } else if file_type.is_symlink() {
            let target = fs::read_link(path).map_err(|e| BuildError::io("read link", path, e))?;
            EntryKind::Symlink {
                target: target.as_os_str().as_bytes().to_vec(),
            }
        } else if file_type.is_char_device() || file_type.is_block_device() {
            let rdev = meta.rdev();
            let (major, minor) = (libc::major(rdev), libc::minor(rdev));
            if file_type.is_char_device() {
                EntryKind::CharDevice { major, minor }
            } else {
                EntryKind::BlockDevice { major, minor }
            }
        } else if file_type.is_fifo() {
            EntryKind::Fifo
        } else {
            self.stats.skipped.push(path.to_path_buf());
            return Ok(());
        };
        let (uid, gid) = self
            .normalize
            .owner
            .unwrap_or((meta.uid() as u64, meta.gid() as u64));
        let entry = Entry {
            name: name.to_vec(),
            mode: meta.mode() & 0o7777,
            uid,
            gid,
            mtime: self.normalize.mtime(meta.mtime()),
            xattrs: super::xattr::read(path)
                .map_err(|e| BuildError::io("read xattrs of", path, e))?,
            kind,
        };
        tar_out::write_header(self.out, &entry).map_err(BuildError::Write)?;
        if let EntryKind::File { size } = entry.kind {
            self.copy_content(path, size)?;
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// Exactly `size` bytes of the file (what its header says), then padding.
    fn copy_content(&mut self, path: &Path, size: u64) -> Result<(), BuildError> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| BuildError::io("open", path, e))?;
        let copied = copy_exact(&mut file, self.out, size, &mut self.buf, path)?;
        if copied < size {
            return Err(BuildError::Changed {
                path: path.to_path_buf(),
                reason: format!("it shrank from {size} to {copied} bytes"),
            });
        }
        tar_out::pad(self.out, size).map_err(BuildError::Write)?;
        Ok(())
    }
}

fn copy_exact<W: Write>(
    file: &mut File,
    out: &mut W,
    size: u64,
    buf: &mut [u8],
    path: &Path,
) -> Result<u64, BuildError> {
    let mut copied = 0u64;
    while copied < size {
        let want = buf.len().min((size - copied) as usize);
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BuildError::io("read", path, e)),
        };
        out.write_all(&buf[..n]).map_err(BuildError::Write)?;
        copied += n as u64;
    }
    Ok(copied)
}
