//! Owners, modes and xattrs of what the applier makes, with the warnings for what
//! cannot be applied (no root, xattr namespaces that belong to the host). Shared by the
//! applier and its copy workers, each with its own warnings.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};

use super::applier::ApplyOptions;
use super::entry::Meta;
use super::path::RelPath;
use super::root;
use super::{ApplyError, Warning};

pub(super) struct Attrs {
    pub options: ApplyOptions,
    pub warnings: Vec<Warning>,
    owners_warned: bool,
}

impl Attrs {
    pub fn new(options: ApplyOptions) -> Attrs {
        Attrs {
            options,
            warnings: Vec::new(),
            owners_warned: false,
        }
    }

    /// Owner first (a chown clears setuid/setgid), then mode, then xattrs.
    pub fn set_attributes(
        &mut self,
        fd: &OwnedFd,
        path: &RelPath,
        meta: &Meta,
    ) -> Result<(), Failure> {
        if self.owner_applies(meta) {
            rfs::fchown(fd, Some(uid(meta.uid)?), Some(gid(meta.gid)?))
                .map_err(|e| Failure::Io("set owner", e.into()))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| Failure::Io("set mode", e.into()))?;
        for (name, value) in &meta.xattrs {
            if !self.xattr_allowed(path, name) {
                continue;
            }
            let key = root::c_string(name).map_err(op("set xattr"))?;
            if let Err(e) = rfs::fsetxattr(fd, key.as_c_str(), value, XattrFlags::empty()) {
                self.xattr_failed(path, name, e.into());
            }
        }
        Ok(())
    }

    pub fn set_owner_at(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        meta: &Meta,
    ) -> Result<(), Failure> {
        if self.owner_applies(meta) {
            rfs::chownat(
                parent,
                name,
                Some(uid(meta.uid)?),
                Some(gid(meta.gid)?),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Failure::Io("set owner", e.into()))?;
        }
        Ok(())
    }

    /// Xattrs of symlinks and device nodes, which cannot be opened for `fsetxattr`.
    pub fn set_xattrs_by_path(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &RelPath,
        meta: &Meta,
    ) {
        for (key, value) in &meta.xattrs {
            if !self.xattr_allowed(path, key) {
                continue;
            }
            let result = root::c_string(key).and_then(|k| {
                let target = root::c_string(&root::proc_path(parent.as_fd(), name))?;
                rfs::lsetxattr(target.as_c_str(), k.as_c_str(), value, XattrFlags::empty())
                    .map_err(io::Error::from)
            });
            if let Err(e) = result {
                self.xattr_failed(path, key, e);
            }
        }
    }

    fn owner_applies(&mut self, meta: &Meta) -> bool {
        if self.options.privileged {
            return true;
        }
        let me = (
            rustix::process::geteuid().as_raw() as u64,
            rustix::process::getegid().as_raw() as u64,
        );
        if (meta.uid, meta.gid) != me && !self.owners_warned {
            self.owners_warned = true;
            self.warnings.push(Warning::OwnersSkipped);
        }
        false
    }

    /// `user.*` always; `trusted.*` and `security.capability` only as root; nothing else
    /// (SELinux labels and ACLs belong to the host, not the image).
    fn xattr_allowed(&mut self, path: &RelPath, name: &[u8]) -> bool {
        let allowed = name.starts_with(b"user.")
            || (self.options.privileged
                && (name.starts_with(b"trusted.") || name == b"security.capability"));
        if !allowed {
            self.warnings.push(Warning::XattrSkipped {
                path: path.to_string(),
                name: String::from_utf8_lossy(name).into_owned(),
                reason: if self.options.privileged {
                    "wharf applies only `user.*`, `trusted.*` and `security.capability`".into()
                } else {
                    "not running as root".into()
                },
            });
        }
        allowed
    }

    fn xattr_failed(&mut self, path: &RelPath, name: &[u8], error: io::Error) {
        self.warnings.push(Warning::XattrSkipped {
            path: path.to_string(),
            name: String::from_utf8_lossy(name).into_owned(),
            reason: error.to_string(),
        });
    }
}

/// How one entry failed, before it is given the entry's path.
pub(super) enum Failure {
    Io(&'static str, io::Error),
    Refused(String),
    /// Another entry's failure, found meanwhile (a copy on a worker thread).
    Applied(ApplyError),
}

impl Failure {
    /// The error, told of the entry it happened to.
    pub fn at(self, path: &RelPath) -> ApplyError {
        match self {
            Failure::Io(op, source) => io_err(path, op, source),
            Failure::Refused(reason) => ApplyError::Entry {
                path: path.to_string(),
                reason,
            },
            Failure::Applied(e) => e,
        }
    }
}

pub(super) fn op(what: &'static str) -> impl FnOnce(io::Error) -> Failure {
    move |e| Failure::Io(what, e)
}

pub(super) fn io_err(path: &RelPath, op: &'static str, source: io::Error) -> ApplyError {
    ApplyError::Io {
        path: path.to_string(),
        op,
        source,
    }
}

fn uid(id: u64) -> Result<Uid, Failure> {
    u32::try_from(id)
        .ok()
        .filter(|&id| id != u32::MAX)
        .map(Uid::from_raw)
        .ok_or_else(|| Failure::Refused(format!("uid {id} is out of range")))
}

fn gid(id: u64) -> Result<Gid, Failure> {
    u32::try_from(id)
        .ok()
        .filter(|&id| id != u32::MAX)
        .map(Gid::from_raw)
        .ok_or_else(|| Failure::Refused(format!("gid {id} is out of range")))
}

pub(super) fn times(secs: i64, nsec: u32) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: nsec.min(999_999_999) as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}
