//! `wharf ls IMAGE [PATH]` and `wharf cat IMAGE PATH`: the merged filesystem listed, and
//! one file's bytes printed, without unpacking anything. `cat` reads the layers once to
//! find which layer holds the file last, then streams just that layer again to it.

use std::io::{self, Read, Write};

use super::merge::Node;
use super::scan::{self, Kind};
use super::ImageTree;
use crate::engine::{ImageSource, Select};
use crate::error::{ImageError, Result};

/// Links followed from one path before `cat` gives up (a loop).
pub(super) const MAX_LINK_HOPS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEntry {
    /// From the root: `/etc/passwd`.
    pub path: String,
    /// `file`, `dir`, `hardlink`, `symlink` or `other` (devices, FIFOs).
    pub kind: &'static str,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// A symlink's target, or the path a hard link names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The paths of the image's merged filesystem at and under `under` (`/` for all), sorted.
pub async fn list(
    source: &dyn ImageSource,
    select: &Select,
    under: &str,
) -> Result<Vec<FileEntry>> {
    ImageTree::read(source, select).await?.list(under)
}

pub(super) fn entry(path: &str, node: &Node) -> FileEntry {
    let kind = match node.kind {
        Kind::File => "file",
        Kind::Dir => "dir",
        Kind::HardLink => "hardlink",
        _ if node.meta.link.is_some() => "symlink",
        _ => "other",
    };
    FileEntry {
        path: format!("/{path}"),
        kind,
        size: node.size,
        mode: node.meta.mode,
        uid: node.meta.uid,
        gid: node.meta.gid,
        mtime: node.meta.mtime,
        link: node.meta.link.clone(),
    }
}

/// Writes the content of the file at `path` (symlinks and hard links followed inside the
/// image) to `out`; returns how many bytes that was.
pub async fn cat<W: Write + Send + 'static>(
    source: &dyn ImageSource,
    select: &Select,
    path: &str,
    out: W,
) -> Result<(W, u64)> {
    let tree = ImageTree::read(source, select).await?;
    tree.cat(source, path, None, out).await
}

/// The regular file `path` names, following symlinks (relative to their directory) and
/// hard links.
pub(super) fn resolve<'a>(
    tree: &'a std::collections::BTreeMap<String, Node>,
    path: &str,
) -> Result<(String, &'a Node)> {
    let mut current = normalize(path);
    for _ in 0..MAX_LINK_HOPS {
        let node = tree
            .get(&current)
            .ok_or_else(|| ImageError::Invalid(format!("`/{current}` is not in the image")))?;
        match (&node.kind, &node.meta.link) {
            (Kind::File, _) => return Ok((current, node)),
            (Kind::Dir, _) => {
                return Err(ImageError::Invalid(format!("`/{current}` is a directory")))
            }
            (Kind::HardLink, Some(target)) => current = normalize(target),
            (Kind::Other, Some(target)) => {
                current = if target.starts_with('/') {
                    normalize(target)
                } else {
                    let parent = current.rsplit_once('/').map_or("", |(p, _)| p);
                    normalize(&format!("{parent}/{target}"))
                };
            }
            _ => {
                return Err(ImageError::Invalid(format!(
                    "`/{current}` is not a regular file"
                )))
            }
        }
    }
    Err(ImageError::Invalid(format!(
        "`{path}`: too many levels of symbolic links"
    )))
}

fn normalize(path: &str) -> String {
    scan::normalize(path)
}

/// Copies the `occurrence`-th regular entry named `path` of the layer `tar` to `out`,
/// then reads the layer to its end (its digest is checked over every byte).
pub(super) fn copy_out<W: Write>(
    tar: &mut dyn Read,
    path: &str,
    occurrence: usize,
    mut out: W,
) -> io::Result<(W, u64)> {
    let mut seen = 0;
    let mut written = 0;
    {
        let mut archive = tar::Archive::new(&mut *tar);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = scan::normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            if name == path && entry.header().entry_type().is_file() {
                seen += 1;
                if seen == occurrence {
                    written = io::copy(&mut entry, &mut out)?;
                }
            }
        }
    }
    io::copy(tar, &mut io::sink())?;
    out.flush()?;
    Ok((out, written))
}
