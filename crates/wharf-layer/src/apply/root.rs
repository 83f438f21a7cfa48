//! A directory handle that every path is resolved inside of.
//!
//! Parents are opened with `openat2(RESOLVE_IN_ROOT)`: the kernel resolves symlinks as if
//! the root were `/`, so `..`, absolute symlinks and chains of them can never leave it.
//! The last component is then handled with `*at` calls that never follow it
//! (`AT_SYMLINK_NOFOLLOW`, `O_NOFOLLOW`, `unlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};

use super::path::RelPath;

pub struct Root {
    fd: OwnedFd,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

impl Root {
    /// Opens `path` (which the caller trusts) as the root.
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Root { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory `path` inside the root (symlinks resolved within it).
    pub fn open_dir(&self, path: &RelPath) -> io::Result<OwnedFd> {
        Ok(rfs::openat2(
            &self.fd,
            path.for_syscall(),
            DIR_FLAGS,
            Mode::empty(),
            resolve_flags(),
        )?)
    }

    /// Opens the directory `path`, creating missing components (mode 0755, before
    /// umask). `created` is told of each directory made.
    pub fn ensure_dir(
        &self,
        path: &RelPath,
        mut created: impl FnMut(&RelPath, BorrowedFd<'_>, &[u8]) -> io::Result<()>,
    ) -> io::Result<OwnedFd> {
        match self.open_dir(path) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let mut current = self.open_dir(&RelPath::root())?;
        let mut prefix = RelPath::root();
        for part in path.as_bytes().split(|&b| b == b'/') {
            let next = prefix.join(part);
            current = match self.open_dir(&next) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rfs::mkdirat(&current, part, Mode::from_raw_mode(0o755)) {
                        Ok(()) => created(&next, current.as_fd(), part)?,
                        // A dangling symlink: the kernel resolved it to a path that does
                        // not exist. It is not followed to create its target.
                        Err(rustix::io::Errno::EXIST) => {
                            return Err(io::Error::other(format!(
                                "`{next}` is a symlink to nothing inside the root"
                            )))
                        }
                        Err(e) => return Err(e.into()),
                    }
                    self.open_dir(&next)?
                }
                Err(e) => return Err(e),
            };
            prefix = next;
        }
        Ok(current)
    }
}

/// Opens the directory `name` in `dir` for reading, refusing a symlink.
pub fn open_subdir(dir: impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        DIR_FLAGS | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// `lstat` of `name` in `dir`; `None` when absent.
pub fn stat_at(dir: impl AsFd, name: &[u8]) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Removes `name` in `dir` and, for a directory, everything below it, never following a
/// symlink. Returns whether something was there.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
    let Some(st) = stat_at(dir, name)? else {
        return Ok(false);
    };
    if file_type(&st) == FileType::Directory {
        let child = rfs::openat(dir, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?;
        empty_dir(child.as_fd(), |_| true)?;
        rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rfs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(true)
}

/// Removes the children of `dir` for which `doomed(name)` says so.
pub fn empty_dir(dir: BorrowedFd<'_>, mut doomed: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    for name in list_dir(dir)? {
        if doomed(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

/// The names in `dir` except `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

/// A NUL-terminated copy, for the few calls that take a C string.
pub fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::other("a name holds a NUL byte"))
}

/// `/proc/self/fd/N/name`: lets path-only calls (`lsetxattr` on a symlink) act on `name`
/// in an already-resolved directory without resolving the parent again.
pub fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let mut out = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    out.extend_from_slice(name);
    out
}
