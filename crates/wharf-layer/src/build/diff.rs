//! The changeset between two trees on disk as a layer (what `wharf commit` writes): a
//! lower tree (the base image's filesystem) and an upper one (the edited copy) are
//! walked side by side in name order; what exists only above is added (a directory with
//! everything in it), what differs is written again, and what exists only below gets a
//! `.wh.NAME` whiteout (image-spec `layer.md`).
//!
//! "Differs" is decided from metadata, as Docker's naive differ does: type, mode,
//! owner, size, mtime (seconds and nanoseconds), link target, device number, xattrs.
//! A file rewritten with the same size and mtime is not seen, as with Docker.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::walk::{children, Walker};
use super::{tar_out, BuildError, BuildOptions, BuiltLayer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One change, as `docker diff` lists them (an added directory's contents are listed
/// too; a deleted directory's are not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Relative to the root, `/`-separated.
    pub path: PathBuf,
    pub kind: ChangeKind,
}

/// What the side-by-side walk finds, in output order.
enum Event<'a> {
    /// Write this path's entry (and, for a directory that is new, everything below).
    Write {
        path: &'a Path,
        name: &'a [u8],
        meta: &'a Metadata,
        kind: ChangeKind,
        whole_tree: bool,
    },
    Deleted {
        parent: &'a [u8],
        name: &'a [u8],
    },
}

/// The changes from `lower` to `upper`, in layer order.
pub fn changes(lower: &Path, upper: &Path) -> Result<Vec<Change>, BuildError> {
    let mut out = Vec::new();
    let mut record = |event: Event<'_>| -> Result<(), BuildError> {
        match event {
            Event::Write {
                path,
                name,
                kind,
                whole_tree,
                meta,
            } => {
                out.push(Change {
                    path: PathBuf::from(OsString::from(std::ffi::OsStr::from_bytes(name))),
                    kind,
                });
                if whole_tree && meta.is_dir() {
                    list_tree(path, name, &mut out)?;
                }
            }
            Event::Deleted { parent, name } => {
                let mut full = parent.to_vec();
                full.extend_from_slice(name);
                out.push(Change {
                    path: PathBuf::from(OsString::from(std::ffi::OsStr::from_bytes(&full))),
                    kind: ChangeKind::Deleted,
                });
            }
        }
        Ok(())
    };
    walk_pair(&check_dir(lower)?, &check_dir(upper)?, b"", &mut record)?;
    Ok(out)
}

fn list_tree(dir: &Path, name: &[u8], out: &mut Vec<Change>) -> Result<(), BuildError> {
    for (child, path) in children(dir)? {
        let mut full = name.to_vec();
        full.push(b'/');
        full.extend_from_slice(child.as_bytes());
        out.push(Change {
            path: PathBuf::from(OsString::from(std::ffi::OsStr::from_bytes(&full))),
            kind: ChangeKind::Added,
        });
        let meta = fs::symlink_metadata(&path).map_err(|e| BuildError::io("inspect", &path, e))?;
        if meta.is_dir() {
            list_tree(&path, &full, out)?;
        }
    }
    Ok(())
}

/// Writes the changes from `lower` to `upper` as a layer into `out`.
pub fn diff_layer<W: Write>(
    lower: &Path,
    upper: &Path,
    options: &BuildOptions,
    out: W,
) -> Result<(W, BuiltLayer), BuildError> {
    let (lower, upper) = (check_dir(lower)?, check_dir(upper)?);
    let mut encoder = options.encoder(out)?;
    let stats = {
        let mut walker = Walker::new(&options.normalize, &mut encoder);
        let mut write = |event: Event<'_>| -> Result<(), BuildError> {
            match event {
                Event::Write {
                    path,
                    name,
                    meta,
                    whole_tree,
                    ..
                } => {
                    walker.emit(path, name, meta)?;
                    if whole_tree && meta.is_dir() {
                        let mut prefix = name.to_vec();
                        prefix.push(b'/');
                        walker.emit_children(path, prefix)?;
                    }
                    Ok(())
                }
                Event::Deleted { parent, name } => walker.emit_whiteout(parent, name),
            }
        };
        walk_pair(&lower, &upper, b"", &mut write)?;
        walker.stats
    };
    tar_out::write_end(&mut encoder).map_err(BuildError::Write)?;
    super::finish(encoder, options.compression, stats)
}

fn check_dir(path: &Path) -> Result<PathBuf, BuildError> {
    let meta = fs::metadata(path).map_err(|e| BuildError::source(path, e))?;
    if !meta.is_dir() {
        return Err(BuildError::NotADirectory(path.to_path_buf()));
    }
    Ok(path.to_path_buf())
}

/// Compares the children of `lower` and `upper` (tar name prefix `prefix`, empty or
/// ending in `/`), depth-first in name order.
fn walk_pair(
    lower: &Path,
    upper: &Path,
    prefix: &[u8],
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let below = children(lower)?;
    let above = children(upper)?;
    let (mut b, mut a) = (below.iter().peekable(), above.iter().peekable());
    loop {
        let order = match (b.peek(), a.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(l), Some(u)) => l.0.as_bytes().cmp(u.0.as_bytes()),
        };
        match order {
            std::cmp::Ordering::Less => {
                let (name, _) = b.next().expect("peeked");
                visit(Event::Deleted {
                    parent: prefix,
                    name: name.as_bytes(),
                })?;
            }
            std::cmp::Ordering::Greater => {
                let (name, path) = a.next().expect("peeked");
                let meta = inspect(path)?;
                let full = join(prefix, name);
                visit(Event::Write {
                    path,
                    name: &full,
                    meta: &meta,
                    kind: ChangeKind::Added,
                    whole_tree: true,
                })?;
            }
            std::cmp::Ordering::Equal => {
                let (_, lower_path) = b.next().expect("peeked");
                let (name, upper_path) = a.next().expect("peeked");
                let (lm, um) = (inspect(lower_path)?, inspect(upper_path)?);
                let full = join(prefix, name);
                let both_dirs = lm.is_dir() && um.is_dir();
                if differs(lower_path, &lm, upper_path, &um)? {
                    visit(Event::Write {
                        path: upper_path,
                        name: &full,
                        meta: &um,
                        kind: ChangeKind::Modified,
                        // A directory that replaced a non-directory brings all it holds.
                        whole_tree: !both_dirs,
                    })?;
                }
                if both_dirs {
                    let mut sub = full.clone();
                    sub.push(b'/');
                    walk_pair(lower_path, upper_path, &sub, visit)?;
                }
            }
        }
    }
    Ok(())
}

fn inspect(path: &Path) -> Result<Metadata, BuildError> {
    fs::symlink_metadata(path).map_err(|e| BuildError::io("inspect", path, e))
}

fn join(prefix: &[u8], name: &OsString) -> Vec<u8> {
    let mut full = prefix.to_vec();
    full.extend_from_slice(name.as_bytes());
    full
}

fn differs(
    lower_path: &Path,
    lower: &Metadata,
    upper_path: &Path,
    upper: &Metadata,
) -> Result<bool, BuildError> {
    let (lt, ut) = (lower.file_type(), upper.file_type());
    if lt != ut
        || lower.mode() & 0o7777 != upper.mode() & 0o7777
        || lower.uid() != upper.uid()
        || lower.gid() != upper.gid()
        || lower.mtime() != upper.mtime()
        || lower.mtime_nsec() != upper.mtime_nsec()
        || (!lt.is_dir() && lower.size() != upper.size())
        || lower.rdev() != upper.rdev()
    {
        return Ok(true);
    }
    if lt.is_symlink() {
        let read = |p: &Path| fs::read_link(p).map_err(|e| BuildError::io("read link", p, e));
        if read(lower_path)? != read(upper_path)? {
            return Ok(true);
        }
    }
    let xattrs =
        |p: &Path| super::xattr::read(p).map_err(|e| BuildError::io("read xattrs of", p, e));
    Ok(xattrs(lower_path)? != xattrs(upper_path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::set_mtime;
    use crate::Compression;
    use std::io::Read;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// Every path under `root` (and `root`) gets mtime `secs`, children first.
    fn settle(root: &Path, secs: i64) {
        for (_, path) in children(root).unwrap() {
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                settle(&path, secs);
            } else {
                set_mtime(&path, secs);
            }
        }
        set_mtime(root, secs);
    }

    fn base(root: &Path) {
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("opt/tool/lib")).unwrap();
        fs::create_dir_all(root.join("var/cache")).unwrap();
        fs::write(root.join("etc/keep"), "same").unwrap();
        fs::write(root.join("etc/change"), "old").unwrap();
        fs::write(root.join("etc/gone"), "bye").unwrap();
        fs::write(root.join("etc/chmod"), "x").unwrap();
        fs::write(root.join("opt/tool/lib/a.so"), "so").unwrap();
        fs::write(root.join("var/cache/thing"), "c").unwrap();
        symlink("keep", root.join("etc/link")).unwrap();
    }

    #[test]
    fn added_changed_and_deleted_paths_become_entries_and_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        base(&lower);
        base(&upper);
        // The edits a container might make.
        fs::write(upper.join("etc/change"), "new!").unwrap();
        fs::remove_file(upper.join("etc/gone")).unwrap();
        fs::set_permissions(upper.join("etc/chmod"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_file(upper.join("etc/link")).unwrap();
        symlink("change", upper.join("etc/link")).unwrap();
        fs::remove_dir_all(upper.join("opt/tool")).unwrap();
        fs::create_dir_all(upper.join("srv/app")).unwrap();
        fs::write(upper.join("srv/app/main"), "app").unwrap();
        fs::remove_dir_all(upper.join("var/cache")).unwrap();
        fs::write(upper.join("var/cache"), "now a file").unwrap();
        settle(&lower, 1_000_000_000);
        settle(&upper, 1_000_000_000);
        // Only these carry a new time; their parent directories keep theirs.
        set_mtime(&upper.join("etc/change"), 1_100_000_000);

        let list: Vec<(String, ChangeKind)> = changes(&lower, &upper)
            .unwrap()
            .into_iter()
            .map(|c| (c.path.to_string_lossy().into_owned(), c.kind))
            .collect();
        use ChangeKind::*;
        assert_eq!(
            list,
            [
                ("etc/change".to_string(), Modified),
                ("etc/chmod".into(), Modified),
                ("etc/gone".into(), Deleted),
                ("etc/link".into(), Modified),
                ("opt/tool".into(), Deleted),
                ("srv".into(), Added),
                ("srv/app".into(), Added),
                ("srv/app/main".into(), Added),
                ("var/cache".into(), Modified),
            ]
        );

        let options = BuildOptions {
            compression: Compression::Gzip,
            ..BuildOptions::default()
        };
        let (blob, built) = diff_layer(&lower, &upper, &options, Vec::new()).unwrap();
        assert_eq!(crate::diff_id(&blob[..]).unwrap().digest, built.diff_id);
        let (_, decoded) = crate::decompress(&blob[..]).unwrap();
        let mut archive = tar::Archive::new(decoded);
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let mut content = String::new();
            e.read_to_string(&mut content).unwrap();
            seen.push((e.path().unwrap().to_string_lossy().into_owned(), content));
        }
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/change",
                "etc/chmod",
                "etc/.wh.gone",
                "etc/link",
                "opt/.wh.tool",
                "srv/",
                "srv/app/",
                "srv/app/main",
                "var/cache",
            ]
        );
        assert_eq!(seen[0].1, "new!");
        assert_eq!(seen[8].1, "now a file");
        // Nothing changed: an empty layer.
        assert!(changes(&lower, &lower).unwrap().is_empty());
    }
}
