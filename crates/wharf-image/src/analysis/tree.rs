//! An image read once and kept: its analysis, its merged filesystem and each layer's own
//! entries. For callers that ask many questions of one image — the registry's web pages
//! browse directories and open files without reading the layers again for each listing.

use std::collections::BTreeMap;
use std::io::Write;

use wharf_spec::{Digest, ImageConfig, ImageManifest};

use super::files::{copy_out, entry, resolve, FileEntry, MAX_LINK_HOPS};
use super::merge::Merged;
use super::scan::{normalize, Entry, Kind};
use super::{read, report, with_layer, Analysis, Read};
use crate::engine::{ImageSource, Select};
use crate::error::{ImageError, Result};

/// One platform's image, every layer read (and verified) once.
pub struct ImageTree {
    read: Read,
    merged: Merged,
    analysis: Analysis,
}

/// The opaque-directory marker's name, as a layer's listing shows it.
const OPAQUE_NAME: &str = ".wh..wh..opq";

impl ImageTree {
    /// Reads the image `source` names (one platform, chosen by `select`).
    pub async fn read(source: &dyn ImageSource, select: &Select) -> Result<ImageTree> {
        let read = read(source, select).await?;
        let (analysis, merged) = report(&read);
        Ok(ImageTree {
            read,
            merged,
            analysis,
        })
    }

    /// How many tar entries the layers hold: what keeping this image costs in memory.
    pub fn entries(&self) -> usize {
        self.read.scans.iter().map(|s| s.entries.len()).sum()
    }

    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    pub fn manifest_digest(&self) -> &Digest {
        &self.read.manifest_digest
    }

    pub fn manifest(&self) -> &ImageManifest {
        &self.read.manifest
    }

    pub fn config(&self) -> &ImageConfig {
        &self.read.config
    }

    /// Paths of the merged filesystem at and under `under` (`/` for all), sorted.
    pub fn list(&self, under: &str) -> Result<Vec<FileEntry>> {
        let under = normalize(under);
        let prefix = format!("{under}/");
        let listed: Vec<FileEntry> = self
            .merged
            .tree()
            .iter()
            .filter(|(path, _)| under.is_empty() || **path == under || path.starts_with(&prefix))
            .map(|(path, node)| entry(path, node))
            .collect();
        if listed.is_empty() && !under.is_empty() {
            return Err(not_found(&under, None));
        }
        Ok(listed)
    }

    /// What directory `dir` holds, one level deep, sorted by path: in the merged
    /// filesystem, or with `layer` (0 is the lowest) as that layer's tar writes it —
    /// whiteouts as the paths they remove (kind `whiteout`), an opaque directory's marker
    /// as `.wh..wh..opq` (kind `opaque`). Directories a tar implies (it names `a/b`
    /// without `a`) are listed too.
    pub fn children(&self, dir: &str, layer: Option<usize>) -> Result<Vec<FileEntry>> {
        let dir = normalize(dir);
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut found = false;
        let mut children: BTreeMap<String, FileEntry> = BTreeMap::new();
        let mut add = |path: &str, make: &dyn Fn() -> FileEntry| {
            if path == dir {
                found = true;
                return;
            }
            let Some(rest) = path.strip_prefix(&prefix) else {
                return;
            };
            found = true;
            match rest.split_once('/') {
                None => {
                    children.insert(rest.to_string(), make());
                }
                Some((first, _)) => {
                    children
                        .entry(first.to_string())
                        .or_insert_with(|| implied_dir(&format!("{prefix}{first}")));
                }
            }
        };
        match layer {
            None => {
                let tree = self.merged.tree();
                for (path, node) in tree.range(prefix.clone()..) {
                    if !path.starts_with(&prefix) {
                        break;
                    }
                    add(path, &|| entry(path, node));
                }
                if tree.contains_key(&dir) {
                    found = true;
                }
            }
            Some(n) => {
                for e in &self.layer_scan(n)?.entries {
                    match e.kind {
                        Kind::Opaque => {
                            let marker = join(&e.path, OPAQUE_NAME);
                            add(&marker, &|| layer_entry(&marker, e, "opaque"));
                        }
                        Kind::Whiteout => add(&e.path, &|| layer_entry(&e.path, e, "whiteout")),
                        _ => add(&e.path, &|| {
                            let node = super::merge::Node {
                                kind: e.kind.clone(),
                                size: e.size,
                                content: e.content,
                                meta: e.meta.clone(),
                                layer: n,
                            };
                            entry(&e.path, &node)
                        }),
                    }
                }
            }
        }
        if !found && !dir.is_empty() {
            return Err(not_found(&dir, layer));
        }
        Ok(children.into_values().collect())
    }

    /// The regular file `path` names, as `cat` finds it: in the merged filesystem (links
    /// followed) or in `layer` alone (hard links followed).
    pub fn file(&self, path: &str, layer: Option<usize>) -> Result<FileEntry> {
        match layer {
            None => {
                let (found, node) = resolve(self.merged.tree(), path)?;
                Ok(entry(&found, node))
            }
            Some(n) => {
                let found = self.resolve_in_layer(path, n)?;
                let e = self.read.scans[n]
                    .entries
                    .iter()
                    .rev()
                    .find(|e| e.path == found && e.kind == Kind::File)
                    .ok_or_else(|| not_found(&found, Some(n)))?;
                Ok(FileEntry {
                    path: format!("/{found}"),
                    kind: "file",
                    size: e.size,
                    mode: e.meta.mode,
                    uid: e.meta.uid,
                    gid: e.meta.gid,
                    mtime: e.meta.mtime,
                    link: None,
                })
            }
        }
    }

    /// Writes the content of the regular file at `path` to `out` and returns how many bytes
    /// that was: from the merged filesystem (symlinks and hard links followed inside the
    /// image), or with `layer` as that layer stores it (hard links followed inside it).
    /// The layer that holds the file is streamed again from `source` and checked against
    /// its digest to its end.
    pub async fn cat<W: Write + Send + 'static>(
        &self,
        source: &dyn ImageSource,
        path: &str,
        layer: Option<usize>,
        out: W,
    ) -> Result<(W, u64)> {
        let (found, index) = match layer {
            None => {
                let (found, node) = resolve(self.merged.tree(), path)?;
                (found, node.layer)
            }
            Some(n) => (self.resolve_in_layer(path, n)?, n),
        };
        // The file is the last regular entry of that layer with this path (a tar may
        // repeat one).
        let occurrence = self.read.scans[index]
            .entries
            .iter()
            .filter(|e| e.path == found && e.kind == Kind::File)
            .count();
        let descriptor = self.read.manifest.layers[index].clone();
        with_layer(source, &descriptor, move |tar| {
            copy_out(tar, &found, occurrence, out)
        })
        .await
    }

    fn layer_scan(&self, layer: usize) -> Result<&super::scan::Scan> {
        self.read.scans.get(layer).ok_or_else(|| {
            ImageError::Invalid(format!(
                "the image has {} layers; there is no layer {layer}",
                self.read.scans.len()
            ))
        })
    }

    /// The regular file `path` names in layer `n`, following hard links (which a layer
    /// must resolve within itself).
    fn resolve_in_layer(&self, path: &str, n: usize) -> Result<String> {
        let scan = self.layer_scan(n)?;
        let mut current = normalize(path);
        for _ in 0..MAX_LINK_HOPS {
            let last: Option<&Entry> =
                scan.entries.iter().rev().find(|e| {
                    e.path == current && !matches!(e.kind, Kind::Whiteout | Kind::Opaque)
                });
            match last {
                None => return Err(not_found(&current, Some(n))),
                Some(e) if e.kind == Kind::File => return Ok(current),
                Some(Entry {
                    kind: Kind::HardLink,
                    meta,
                    ..
                }) if meta.link.is_some() => {
                    current = normalize(meta.link.as_deref().unwrap_or(""))
                }
                Some(_) => {
                    return Err(ImageError::Invalid(format!(
                        "`/{current}` is not a regular file in layer {n}"
                    )))
                }
            }
        }
        Err(ImageError::Invalid(format!(
            "`/{path}`: hard links in layer {n} form a loop"
        )))
    }
}

fn not_found(path: &str, layer: Option<usize>) -> ImageError {
    match layer {
        None => ImageError::Invalid(format!("`/{path}` is not in the image")),
        Some(n) => ImageError::Invalid(format!("`/{path}` is not in layer {n}")),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// A directory no entry names but a path under it implies.
fn implied_dir(path: &str) -> FileEntry {
    FileEntry {
        path: format!("/{path}"),
        kind: "dir",
        size: 0,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        link: None,
    }
}

/// A whiteout or opaque marker of a layer, at `path`.
fn layer_entry(path: &str, e: &Entry, kind: &'static str) -> FileEntry {
    FileEntry {
        path: format!("/{path}"),
        kind,
        size: 0,
        mode: e.meta.mode,
        uid: e.meta.uid,
        gid: e.meta.gid,
        mtime: e.meta.mtime,
        link: None,
    }
}
