//! A directory tree written out as one tar, like `docker export`: every entry in name
//! order, owners, modes, mtimes, xattrs (PAX `SCHILY.xattr.*`), hard-link groups as
//! `Link` entries, devices and fifos.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};

use super::path::RelPath;
use super::root::{file_type, list_dir, Root};
use super::tree::{read_xattrs_fd, read_xattrs_path};

/// Writes the tree under `root` to `out` as a tar and returns the number of entries.
pub fn write_tree<W: Write>(root: &Root, out: W) -> io::Result<(W, u64)> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let top = root.open_dir(&RelPath::root())?;
    let mut state = State {
        links: HashMap::new(),
        count: 0,
    };
    walk(&mut builder, top.as_fd(), &RelPath::root(), &mut state)?;
    let out = builder.into_inner()?;
    Ok((out, state.count))
}

struct State {
    links: HashMap<(u64, u64), RelPath>,
    count: u64,
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: BorrowedFd<'_>,
    path: &RelPath,
    state: &mut State,
) -> io::Result<()> {
    let mut names = list_dir(dir)?;
    names.sort();
    for name in names {
        let child = path.join(&name);
        let st = rfs::statat(dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
        let kind = file_type(&st);
        state.count += 1;
        let mut header = header_for(&st);
        let tar_path = OsStr::from_bytes(child.as_bytes());
        match kind {
            FileType::Directory => {
                let fd = rfs::openat(
                    dir,
                    name.as_slice(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let (xattrs, _, _) = read_xattrs_fd(&fd)?;
                pax(b, &xattrs)?;
                header.set_entry_type(tar::EntryType::Directory);
                let mut dir_name = child.as_bytes().to_vec();
                dir_name.push(b'/');
                b.append_data(&mut header, OsStr::from_bytes(&dir_name), io::empty())?;
                walk(b, fd.as_fd(), &child, state)?;
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    if let Some(first) = state.links.get(&(st.st_dev, st.st_ino)) {
                        header.set_entry_type(tar::EntryType::Link);
                        header.set_size(0);
                        b.append_link(&mut header, tar_path, OsStr::from_bytes(first.as_bytes()))?;
                        continue;
                    }
                    state.links.insert((st.st_dev, st.st_ino), child.clone());
                }
                let fd = rfs::openat(
                    dir,
                    name.as_slice(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let (xattrs, _, _) = read_xattrs_fd(&fd)?;
                pax(b, &xattrs)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(st.st_size as u64);
                b.append_data(&mut header, tar_path, File::from(fd))?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name.as_slice(), Vec::new())?;
                pax(b, &read_xattrs_path(dir, &name)?)?;
                header.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut header, tar_path, OsStr::from_bytes(target.as_bytes()))?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                pax(b, &read_xattrs_path(dir, &name)?)?;
                header.set_entry_type(match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                header.set_device_major(rfs::major(st.st_rdev))?;
                header.set_device_minor(rfs::minor(st.st_rdev))?;
                b.append_data(&mut header, tar_path, io::empty())?;
            }
            _ => state.count -= 1,
        }
    }
    Ok(())
}

fn header_for(st: &Stat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn pax<W: Write>(b: &mut tar::Builder<W>, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    if xattrs.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = xattrs
        .iter()
        .map(|(k, _)| format!("SCHILY.xattr.{}", String::from_utf8_lossy(k)))
        .collect();
    b.append_pax_extensions(
        keys.iter()
            .zip(xattrs)
            .map(|(k, (_, v))| (k.as_str(), v.as_slice())),
    )
}
