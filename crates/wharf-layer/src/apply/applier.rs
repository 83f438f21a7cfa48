//! The applier: turns entries into files under a [`Root`], with the layer semantics of
//! the OCI image-spec (`layer.md`).
//!
//! One applier serves a whole stack of layers ([`Applier::begin_layer`] between them):
//! directory mtimes are set once at the end ([`Applier::finish`]), because writing a
//! child changes its parent's mtime.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, XattrFlags};

use super::attrs::{io_err, op, times, Attrs, Failure};
use super::copier::{self, CopyJob, CopyPool};
use super::entry::{Entry, Kind, Meta};
use super::path::RelPath;
use super::root::{self, file_type, remove_all_at, stat_at, Root};
use super::{ApplyError, Warning};

/// Marks a snapshot directory made only to hold other entries (not in the layer itself).
pub const IMPLICIT_XATTR: &str = "trusted.wharf.implicit";
/// overlayfs' opaque-directory marker, used in snapshots.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What whiteouts do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Delete what they hide (a merged root filesystem).
    Apply,
    /// Keep them as overlayfs markers (a snapshot of one layer): a whiteout becomes a 0/0
    /// character device, an opaque directory gets `trusted.overlay.opaque=y`, a directory
    /// made only as a parent gets `trusted.wharf.implicit`. Needs root.
    Record,
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    /// Running as root: owners, devices and `trusted.*` xattrs are applied.
    pub privileged: bool,
    /// For snapshot files: hard link them into the root instead of copying (they share
    /// the inode with the snapshot).
    pub link_files: bool,
}

impl ApplyOptions {
    pub fn for_this_process(whiteouts: WhiteoutMode) -> ApplyOptions {
        ApplyOptions {
            whiteouts,
            privileged: rustix::process::geteuid().is_root(),
            link_files: false,
        }
    }
}

/// Where a file's bytes come from.
pub enum Content<'a> {
    /// Not a regular file.
    None,
    Reader(&'a mut dyn Read),
    /// A file of a snapshot: copied, or hard linked with `link_files`; `key` (device,
    /// inode) keeps hard-link groups together across snapshots. `file`, when the caller
    /// has it open already, spares opening it again for a copy.
    Snapshot {
        dir: BorrowedFd<'a>,
        name: &'a [u8],
        key: Option<(u64, u64)>,
        file: Option<OwnedFd>,
        size: u64,
    },
}

pub struct Applier {
    root: Root,
    options: ApplyOptions,
    /// The last parent directory opened: entries come grouped by directory.
    parent_cache: Option<(RelPath, Arc<OwnedFd>)>,
    /// Paths the current layer wrote: whiteouts and opaque markers only hide lower ones.
    layer_paths: HashSet<RelPath>,
    dir_times: Vec<(RelPath, i64, u32)>,
    /// Without root, directories whose mode would lock their owner out (no `u+rwx`) are
    /// made with `u+rwx` so later entries can go in; their real modes, set at the end.
    dir_modes: HashMap<RelPath, u32>,
    /// Snapshot inode → (path written, its inode there), for hard-link groups.
    copied: HashMap<(u64, u64), (RelPath, (u64, u64))>,
    /// Hard links whose target is not in this root (a lower layer's, in Record mode).
    unresolved: Vec<(RelPath, RelPath)>,
    /// Owners, modes, xattrs, and the warnings of this thread's entries.
    attrs: Attrs,
    /// Started at the first snapshot file to copy.
    copier: Option<CopyPool>,
    buf: Vec<u8>,
}

impl Applier {
    pub fn new(root: Root, options: ApplyOptions) -> Applier {
        Applier {
            root,
            options,
            parent_cache: None,
            layer_paths: HashSet::new(),
            dir_times: Vec::new(),
            dir_modes: HashMap::new(),
            copied: HashMap::new(),
            unresolved: Vec::new(),
            attrs: Attrs::new(options),
            copier: None,
            buf: vec![0; 1 << 20],
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Starts the next layer: whiteouts of the next layer may hide this one's entries,
    /// so this one's copies are finished first.
    pub fn begin_layer(&mut self) -> Result<(), ApplyError> {
        self.finish_copies()?;
        self.layer_paths.clear();
        Ok(())
    }

    /// Snapshot files are hard linked rather than copied.
    pub fn links_files(&self) -> bool {
        self.options.link_files
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.attrs.warnings
    }

    /// Waits for the copies on worker threads, taking their warnings.
    fn finish_copies(&mut self) -> Result<(), ApplyError> {
        if let Some(pool) = &self.copier {
            let warnings = pool.wait()?;
            copier::merge_warnings(&mut self.attrs.warnings, warnings);
        }
        Ok(())
    }

    /// Hard links left for the caller to resolve against lower layers (Record mode).
    pub fn take_unresolved(&mut self) -> Vec<(RelPath, RelPath)> {
        std::mem::take(&mut self.unresolved)
    }

    /// Sets directory mtimes (deepest last-written first) and returns the warnings.
    pub fn finish(mut self) -> Result<Vec<Warning>, ApplyError> {
        self.finish_copies()?;
        self.copier = None;
        self.parent_cache = None;
        let mut done = HashSet::new();
        for (path, secs, nsec) in std::mem::take(&mut self.dir_times).into_iter().rev() {
            if !done.insert(path.clone()) {
                continue;
            }
            let fd = match self.root.open_dir(&path) {
                Ok(fd) => fd,
                // Replaced or hidden by a later entry.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue
                }
                Err(e) => return Err(io_err(&path, "open directory", e)),
            };
            rfs::futimens(&fd, &times(secs, nsec))
                .map_err(|e| io_err(&path, "set mtime", e.into()))?;
        }
        // Deepest first: a parent that locks its owner out is closed last.
        let mut modes: Vec<(RelPath, u32)> =
            std::mem::take(&mut self.dir_modes).into_iter().collect();
        modes.sort_by_key(|(path, _)| std::cmp::Reverse(path.as_bytes().len()));
        for (path, mode) in modes {
            let fd = match self.root.open_dir(&path) {
                Ok(fd) => fd,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue
                }
                Err(e) => return Err(io_err(&path, "open directory", e)),
            };
            rfs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| io_err(&path, "set mode", e.into()))?;
        }
        Ok(self.attrs.warnings)
    }

    pub fn apply(&mut self, entry: &Entry, content: Content<'_>) -> Result<(), ApplyError> {
        let result = match &entry.kind {
            Kind::Whiteout => self.whiteout(&entry.path),
            Kind::Opaque => self.opaque(&entry.path),
            _ if entry.path.is_root() => self.root_entry(entry),
            _ => self.create(entry, content),
        };
        result.map_err(|e| e.at(&entry.path))
    }

    /// The root itself (`./` in a tar) can only take a directory's attributes.
    fn root_entry(&mut self, entry: &Entry) -> Result<(), Failure> {
        let Kind::Dir { implicit } = entry.kind else {
            return Err(Failure::Refused(
                "only a directory can stand for the root".into(),
            ));
        };
        if !implicit {
            let fd = self
                .root
                .open_dir(&RelPath::root())
                .map_err(op("open root"))?;
            self.set_dir_attributes(&fd, &entry.path, &entry.meta)?;
            self.dir_times
                .push((entry.path.clone(), entry.meta.mtime, entry.meta.mtime_nsec));
        }
        Ok(())
    }

    fn parent(&mut self, parent: &RelPath) -> Result<Arc<OwnedFd>, Failure> {
        let hit = matches!(&self.parent_cache, Some((p, _)) if p == parent);
        if !hit {
            let record = self.options.whiteouts == WhiteoutMode::Record;
            let layer_paths = &mut self.layer_paths;
            let fd = self
                .root
                .ensure_dir(parent, |made, dir, name| {
                    layer_paths.insert(made.clone());
                    if record {
                        mark_implicit(dir, name)?;
                    }
                    Ok(())
                })
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ENOTDIR) => {
                        Failure::Refused(format!("its parent `{parent}` is not a directory"))
                    }
                    _ => Failure::Io("open parent directory", e),
                })?;
            self.parent_cache = Some((parent.clone(), Arc::new(fd)));
        }
        Ok(self
            .parent_cache
            .as_ref()
            .map(|(_, fd)| Arc::clone(fd))
            .expect("cached above"))
    }

    /// Something was removed or replaced: the cached parent may be gone.
    fn forget_parent(&mut self) {
        self.parent_cache = None;
    }

    fn create(&mut self, entry: &Entry, content: Content<'_>) -> Result<(), Failure> {
        let (parent_path, name) = entry.path.split().expect("not the root");
        let name = name.to_vec();
        self.layer_paths.insert(entry.path.clone());
        let parent = self.parent(&parent_path)?;
        let existing = stat_at(&parent, &name).map_err(op("inspect"))?;
        let existing_type = existing.as_ref().map(file_type);
        match &entry.kind {
            Kind::Dir { implicit } => {
                if existing_type == Some(FileType::Directory) {
                    if *implicit {
                        return Ok(());
                    }
                } else if *implicit && existing_type == Some(FileType::Symlink) {
                    // Its children resolve through the symlink, inside the root, as they
                    // would have had the layers been applied one by one.
                    return Ok(());
                } else {
                    if existing.is_some() {
                        self.replace(&parent, &name)?;
                    }
                    rfs::mkdirat(&parent, name.as_slice(), Mode::from_raw_mode(0o700))
                        .map_err(|e| Failure::Io("create directory", e.into()))?;
                }
                let fd = rfs::openat(
                    &parent,
                    name.as_slice(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Failure::Io("open directory", e.into()))?;
                self.set_dir_attributes(&fd, &entry.path, &entry.meta)?;
                if self.options.whiteouts == WhiteoutMode::Record {
                    let marker = if *implicit { Some(&b"1"[..]) } else { None };
                    set_marker(&fd, IMPLICIT_XATTR, marker).map_err(op("mark directory"))?;
                    // A directory over this layer's own whiteout of it: the lower one is
                    // gone and this one starts empty, which overlayfs calls opaque.
                    let over_whiteout = existing.as_ref().is_some_and(|st| {
                        file_type(st) == FileType::CharacterDevice && st.st_rdev == 0
                    });
                    if over_whiteout {
                        set_marker(&fd, OPAQUE_XATTR, Some(b"y")).map_err(op("mark directory"))?;
                    }
                }
                if !*implicit {
                    self.dir_times.push((
                        entry.path.clone(),
                        entry.meta.mtime,
                        entry.meta.mtime_nsec,
                    ));
                }
            }
            Kind::File => self.create_file(&parent, &name, entry, existing, content)?,
            Kind::Symlink(target) => {
                if existing.is_some() {
                    self.replace(&parent, &name)?;
                }
                rfs::symlinkat(target.as_slice(), &parent, name.as_slice())
                    .map_err(|e| Failure::Io("create symlink", e.into()))?;
                self.attrs.set_owner_at(&parent, &name, &entry.meta)?;
                self.attrs
                    .set_xattrs_by_path(&parent, &name, &entry.path, &entry.meta);
                rfs::utimensat(
                    &parent,
                    name.as_slice(),
                    &times(entry.meta.mtime, entry.meta.mtime_nsec),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| Failure::Io("set mtime", e.into()))?;
            }
            Kind::Hardlink(target) => {
                self.create_hardlink(&parent, &name, &entry.path, target, existing)?
            }
            Kind::CharDevice(..) | Kind::BlockDevice(..) | Kind::Fifo => {
                let (file_type, dev) = match entry.kind {
                    Kind::CharDevice(ma, mi) => (FileType::CharacterDevice, rfs::makedev(ma, mi)),
                    Kind::BlockDevice(ma, mi) => (FileType::BlockDevice, rfs::makedev(ma, mi)),
                    _ => (FileType::Fifo, 0),
                };
                if file_type != FileType::Fifo && !self.options.privileged {
                    self.attrs.warnings.push(Warning::DeviceSkipped {
                        path: entry.path.to_string(),
                    });
                    return Ok(());
                }
                if existing.is_some() {
                    self.replace(&parent, &name)?;
                }
                rfs::mknodat(
                    &parent,
                    name.as_slice(),
                    file_type,
                    Mode::from_raw_mode(0o600),
                    dev,
                )
                .map_err(|e| Failure::Io("create device node", e.into()))?;
                self.attrs.set_owner_at(&parent, &name, &entry.meta)?;
                // The node was just made by us and is not a symlink: chmodat cannot stray.
                rfs::chmodat(
                    &parent,
                    name.as_slice(),
                    Mode::from_raw_mode(entry.meta.mode),
                    AtFlags::empty(),
                )
                .map_err(|e| Failure::Io("set mode", e.into()))?;
                self.attrs
                    .set_xattrs_by_path(&parent, &name, &entry.path, &entry.meta);
                rfs::utimensat(
                    &parent,
                    name.as_slice(),
                    &times(entry.meta.mtime, entry.meta.mtime_nsec),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| Failure::Io("set mtime", e.into()))?;
            }
            Kind::Whiteout | Kind::Opaque => unreachable!("handled by apply"),
        }
        Ok(())
    }

    fn replace(&mut self, parent: &OwnedFd, name: &[u8]) -> Result<(), Failure> {
        self.forget_parent();
        remove_all_at(parent.as_fd(), name).map_err(op("remove the entry it replaces"))?;
        Ok(())
    }

    fn create_file(
        &mut self,
        parent: &Arc<OwnedFd>,
        name: &[u8],
        entry: &Entry,
        existing: Option<Stat>,
        content: Content<'_>,
    ) -> Result<(), Failure> {
        if let Content::Snapshot {
            dir,
            name: src_name,
            key,
            file,
            size,
        } = content
        {
            if let Some(key) = key {
                if self.link_to_copied(parent, name, key, existing.is_some())? {
                    return Ok(());
                }
            }
            if self.options.link_files {
                if existing.is_some() {
                    self.replace(parent, name)?;
                }
                rfs::linkat(dir, src_name, &**parent, name, AtFlags::empty())
                    .map_err(|e| Failure::Io("link from snapshot", e.into()))?;
                return Ok(());
            }
            let src = match file {
                Some(file) => file,
                None => rfs::openat(
                    dir,
                    src_name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Failure::Io("open snapshot file", e.into()))?,
            };
            if existing.is_some() {
                self.replace(parent, name)?;
            }
            let Some(key) = key else {
                // Nothing else in this layer refers to it: a worker copies it.
                return self.copy_elsewhere(CopyJob {
                    parent: Arc::clone(parent),
                    name: name.to_vec(),
                    src,
                    size,
                    path: entry.path.clone(),
                    meta: entry.meta.clone(),
                });
            };
            let out = copier::create_new(parent, name)?;
            copier::copy_file(&src, &out, size, &mut self.buf).map_err(op("copy"))?;
            self.attrs.set_attributes(&out, &entry.path, &entry.meta)?;
            rfs::futimens(&out, &times(entry.meta.mtime, entry.meta.mtime_nsec))
                .map_err(|e| Failure::Io("set mtime", e.into()))?;
            let st = rfs::fstat(&out).map_err(|e| Failure::Io("inspect", e.into()))?;
            self.copied
                .insert(key, (entry.path.clone(), (st.st_dev, st.st_ino)));
            return Ok(());
        }
        if existing.is_some() {
            self.replace(parent, name)?;
        }
        let out = copier::create_new(parent, name)?;
        if let Content::Reader(reader) = content {
            let mut file = File::from(out.try_clone().map_err(op("duplicate descriptor"))?);
            loop {
                let n = match reader.read(&mut self.buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Failure::Io("read the layer", e)),
                };
                file.write_all(&self.buf[..n]).map_err(op("write"))?;
            }
        }
        self.attrs.set_attributes(&out, &entry.path, &entry.meta)?;
        rfs::futimens(&out, &times(entry.meta.mtime, entry.meta.mtime_nsec))
            .map_err(|e| Failure::Io("set mtime", e.into()))?;
        Ok(())
    }

    fn copy_elsewhere(&mut self, job: CopyJob) -> Result<(), Failure> {
        if self.copier.is_none() {
            let pool = CopyPool::new(self.options).map_err(op("start copy workers"))?;
            self.copier = Some(pool);
        }
        let pool = self.copier.as_ref().expect("started above");
        pool.submit(job).map_err(Failure::Applied)
    }

    /// A snapshot file whose inode was already written elsewhere in this root joins that
    /// path's hard-link group, if that path still holds what was written.
    fn link_to_copied(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        key: (u64, u64),
        exists: bool,
    ) -> Result<bool, Failure> {
        let Some((first, written)) = self.copied.get(&key).cloned() else {
            return Ok(false);
        };
        let (first_parent, first_name) = first.split().expect("files are not the root");
        let Ok(dir) = self.root.open_dir(&first_parent) else {
            return Ok(false);
        };
        match stat_at(&dir, first_name) {
            Ok(Some(st)) if (st.st_dev, st.st_ino) == written => {}
            _ => return Ok(false),
        }
        if exists {
            self.replace(parent, name)?;
        }
        rfs::linkat(&dir, first_name, parent, name, AtFlags::empty())
            .map_err(|e| Failure::Io("create hard link", e.into()))?;
        Ok(true)
    }

    fn create_hardlink(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &RelPath,
        target: &RelPath,
        existing: Option<Stat>,
    ) -> Result<(), Failure> {
        let Some((target_parent, target_name)) = target.split() else {
            return Err(Failure::Refused("a hard link to the root directory".into()));
        };
        let target_dir = match self.root.open_dir(&target_parent) {
            Ok(fd) => Some(fd),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => None,
            Err(e) => return Err(Failure::Io("open the hard link's target directory", e)),
        };
        let target_stat = match &target_dir {
            Some(dir) => stat_at(dir, target_name).map_err(op("inspect the hard link's target"))?,
            None => None,
        };
        let (Some(dir), Some(st)) = (target_dir, target_stat) else {
            if self.options.whiteouts == WhiteoutMode::Record {
                // Most likely a lower layer's file: the snapshot builder links it later.
                self.unresolved.push((path.clone(), target.clone()));
                return Ok(());
            }
            return Err(Failure::Refused(format!(
                "its hard link target `{target}` does not exist"
            )));
        };
        if file_type(&st) == FileType::Directory {
            return Err(Failure::Refused(format!(
                "its hard link target `{target}` is a directory"
            )));
        }
        if let Some(existing) = existing {
            if (existing.st_dev, existing.st_ino) == (st.st_dev, st.st_ino) {
                return Ok(());
            }
            self.replace(parent, name)?;
        }
        rfs::linkat(&dir, target_name, parent, name, AtFlags::empty())
            .map_err(|e| Failure::Io("create hard link", e.into()))?;
        Ok(())
    }

    fn whiteout(&mut self, path: &RelPath) -> Result<(), Failure> {
        let (parent_path, name) = path
            .split()
            .ok_or_else(|| Failure::Refused("a whiteout of the root".into()))?;
        // A whiteout hides lower layers only, never an entry of its own layer.
        if self.layer_paths.contains(path) {
            return Ok(());
        }
        self.forget_parent();
        match self.options.whiteouts {
            WhiteoutMode::Apply => {
                let dir = match self.root.open_dir(&parent_path) {
                    Ok(fd) => fd,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        return Ok(())
                    }
                    Err(e) => return Err(Failure::Io("open parent directory", e)),
                };
                remove_all_at(dir.as_fd(), name).map_err(op("remove whited-out entry"))?;
            }
            WhiteoutMode::Record => {
                let parent = self.parent(&parent_path)?;
                if stat_at(&parent, name).map_err(op("inspect"))?.is_some() {
                    remove_all_at(parent.as_fd(), name).map_err(op("remove"))?;
                }
                rfs::mknodat(&parent, name, FileType::CharacterDevice, Mode::empty(), 0)
                    .map_err(|e| Failure::Io("record whiteout", e.into()))?;
            }
        }
        Ok(())
    }

    fn opaque(&mut self, dir_path: &RelPath) -> Result<(), Failure> {
        self.forget_parent();
        match self.options.whiteouts {
            WhiteoutMode::Apply => {
                let dir = match self.root.open_dir(dir_path) {
                    Ok(fd) => fd,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        return Ok(())
                    }
                    Err(e) => return Err(Failure::Io("open opaque directory", e)),
                };
                self.hide_lower_children(dir.as_fd(), dir_path)
                    .map_err(op("remove lower entries"))
            }
            WhiteoutMode::Record => {
                let layer_paths = &mut self.layer_paths;
                let fd = self
                    .root
                    .ensure_dir(dir_path, |made, dir, name| {
                        layer_paths.insert(made.clone());
                        mark_implicit(dir, name)
                    })
                    .map_err(op("open opaque directory"))?;
                rfs::fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| Failure::Io("mark opaque directory", e.into()))
            }
        }
    }

    /// Removes what lower layers put under `dir`, keeping this layer's entries.
    fn hide_lower_children(&self, dir: BorrowedFd<'_>, dir_path: &RelPath) -> io::Result<()> {
        for name in root::list_dir(dir)? {
            let child = dir_path.join(&name);
            if !self.layer_paths.contains(&child) {
                remove_all_at(dir, &name)?;
            } else if stat_at(dir, &name)?.is_some_and(|st| file_type(&st) == FileType::Directory) {
                let sub = rfs::openat(
                    dir,
                    name.as_slice(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                self.hide_lower_children(sub.as_fd(), &child)?;
            }
        }
        Ok(())
    }

    /// A directory's attributes. Without root, a mode without `u+rwx` would stop later
    /// entries from going in (root is not bound by modes): it gets `u+rwx` now and its
    /// own mode in [`Applier::finish`].
    fn set_dir_attributes(
        &mut self,
        fd: &OwnedFd,
        path: &RelPath,
        meta: &Meta,
    ) -> Result<(), Failure> {
        let locks_out = meta.mode & 0o700 != 0o700;
        if self.options.privileged || !locks_out {
            self.dir_modes.remove(path);
            return self.attrs.set_attributes(fd, path, meta);
        }
        self.dir_modes.insert(path.clone(), meta.mode);
        let mut open = meta.clone();
        open.mode |= 0o700;
        self.attrs.set_attributes(fd, path, &open)
    }
}

/// Marks a directory this layer only made as a parent (snapshots).
fn mark_implicit(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let fd = root::open_subdir(dir, name)?;
    Ok(rfs::fsetxattr(
        &fd,
        IMPLICIT_XATTR,
        b"1",
        XattrFlags::empty(),
    )?)
}

/// Sets (`Some`) or removes (`None`) a marker xattr.
fn set_marker(fd: &OwnedFd, name: &str, value: Option<&[u8]>) -> io::Result<()> {
    match value {
        Some(v) => Ok(rfs::fsetxattr(fd, name, v, XattrFlags::empty())?),
        None => match rfs::fremovexattr(fd, name) {
            Ok(()) | Err(rustix::io::Errno::NODATA) => Ok(()),
            Err(e) => Err(e.into()),
        },
    }
}
