//! A snapshot directory (one layer, overlay-style) applied onto a root: 0/0 character
//! devices are whiteouts, `trusted.overlay.opaque=y` marks opaque directories,
//! `trusted.wharf.implicit` directories never override an existing one's attributes.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};

use super::applier::{Applier, Content, IMPLICIT_XATTR, OPAQUE_XATTR};
use super::entry::{Entry, Kind, Meta};
use super::path::RelPath;
use super::root::{self, file_type, list_dir};
use super::ApplyError;

/// Applies the snapshot at `snapshot` (a directory the caller trusts) with `applier`.
pub fn apply_snapshot(snapshot: &root::Root, applier: &mut Applier) -> Result<u64, ApplyError> {
    let top = snapshot
        .open_dir(&RelPath::root())
        .map_err(|e| read_err(&RelPath::root(), e))?;
    let mut count = 0;
    walk(top.as_fd(), &RelPath::root(), applier, &mut count)?;
    Ok(count)
}

fn walk(
    dir: BorrowedFd<'_>,
    path: &RelPath,
    applier: &mut Applier,
    count: &mut u64,
) -> Result<(), ApplyError> {
    let mut names = list_dir(dir).map_err(|e| read_err(path, e))?;
    // Directories first, each followed by its subtree; order among siblings is free.
    names.sort();
    for name in names {
        let child = path.join(&name);
        let st = rfs::statat(dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| read_err(&child, e.into()))?;
        *count += 1;
        let kind = file_type(&st);
        match kind {
            FileType::Directory => {
                let fd = rfs::openat(
                    dir,
                    name.as_slice(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| read_err(&child, e.into()))?;
                let (xattrs, implicit, opaque) =
                    read_xattrs_fd(&fd).map_err(|e| read_err(&child, e))?;
                let entry = Entry {
                    path: child.clone(),
                    kind: Kind::Dir { implicit },
                    meta: meta(&st, xattrs),
                };
                applier.apply(&entry, Content::None)?;
                if opaque {
                    let marker = Entry {
                        path: child.clone(),
                        kind: Kind::Opaque,
                        meta: Meta::default(),
                    };
                    applier.apply(&marker, Content::None)?;
                }
                walk(fd.as_fd(), &child, applier, count)?;
            }
            FileType::CharacterDevice if st.st_rdev == 0 => {
                let entry = Entry {
                    path: child,
                    kind: Kind::Whiteout,
                    meta: Meta::default(),
                };
                applier.apply(&entry, Content::None)?;
            }
            FileType::RegularFile => {
                // A hard link takes the inode with its xattrs; a copy needs them, and
                // reads its bytes from the descriptor opened for them.
                let (file, xattrs) = if applier.links_files() {
                    (None, Xattrs::new())
                } else {
                    let fd = rfs::openat(
                        dir,
                        name.as_slice(),
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| read_err(&child, e.into()))?;
                    let (xattrs, _, _) = read_xattrs_fd(&fd).map_err(|e| read_err(&child, e))?;
                    (Some(fd), xattrs)
                };
                let entry = Entry {
                    path: child,
                    kind: Kind::File,
                    meta: meta(&st, xattrs),
                };
                let key = (st.st_nlink > 1).then_some((st.st_dev, st.st_ino));
                applier.apply(
                    &entry,
                    Content::Snapshot {
                        dir,
                        name: &name,
                        key,
                        file,
                        size: st.st_size as u64,
                    },
                )?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name.as_slice(), Vec::new())
                    .map_err(|e| read_err(&child, e.into()))?;
                let xattrs = read_xattrs_path(dir, &name).map_err(|e| read_err(&child, e))?;
                let entry = Entry {
                    path: child,
                    kind: Kind::Symlink(target.into_bytes()),
                    meta: meta(&st, xattrs),
                };
                applier.apply(&entry, Content::None)?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let (major, minor) = (rfs::major(st.st_rdev), rfs::minor(st.st_rdev));
                let kind = match kind {
                    FileType::CharacterDevice => Kind::CharDevice(major, minor),
                    FileType::BlockDevice => Kind::BlockDevice(major, minor),
                    _ => Kind::Fifo,
                };
                let xattrs = read_xattrs_path(dir, &name).map_err(|e| read_err(&child, e))?;
                let entry = Entry {
                    path: child,
                    kind,
                    meta: meta(&st, xattrs),
                };
                applier.apply(&entry, Content::None)?;
            }
            // Sockets and unknown types are never created by layers.
            _ => {}
        }
    }
    Ok(())
}

fn meta(st: &Stat, xattrs: Xattrs) -> Meta {
    Meta {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid as u64,
        gid: st.st_gid as u64,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec as u32,
        xattrs,
    }
}

/// An xattr list: (name, value) pairs.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// The xattrs of an open file, without wharf's and overlayfs' markers (returned apart:
/// implicit, opaque).
pub fn read_xattrs_fd(fd: &OwnedFd) -> io::Result<(Xattrs, bool, bool)> {
    let list = list_xattrs(|buf| rfs::flistxattr(fd, buf))?;
    let mut out = Vec::new();
    let (mut implicit, mut opaque) = (false, false);
    for name in list {
        let value = get_xattr(|buf| rfs::fgetxattr(fd, name.as_slice(), buf))?;
        if name == IMPLICIT_XATTR.as_bytes() {
            implicit = true;
        } else if name == OPAQUE_XATTR.as_bytes() {
            opaque = value == b"y";
        } else {
            out.push((name, value));
        }
    }
    Ok((out, implicit, opaque))
}

/// The xattrs of a symlink or device node (`name` in `dir`), never following it.
pub fn read_xattrs_path(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Xattrs> {
    let path = root::c_string(&root::proc_path(dir, name))?;
    let list = list_xattrs(|buf| rfs::llistxattr(path.as_c_str(), buf))?;
    let mut out = Vec::new();
    for key in list {
        let value = get_xattr(|buf| rfs::lgetxattr(path.as_c_str(), key.as_slice(), buf))?;
        out.push((key, value));
    }
    Ok(out)
}

fn list_xattrs(
    mut list: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    let n = loop {
        match list(&mut buf) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => buf.resize(buf.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

fn get_xattr(mut get: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        match get(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e.into()),
        }
    }
}

fn read_err(path: &RelPath, source: io::Error) -> ApplyError {
    ApplyError::Io {
        path: path.to_string(),
        op: "read snapshot",
        source,
    }
}
