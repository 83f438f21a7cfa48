//! The layers applied one over another, as an extraction would, but on paths and sizes
//! only: what each layer adds, changes and removes, and how many bytes of the layers
//! below it hides — the image's waste.

use std::collections::{BTreeMap, HashMap};

use super::scan::{Entry, Kind, Scan};

/// What one layer does to the filesystem below it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Changes {
    /// Paths new to the filesystem (files, links, directories).
    pub added: u64,
    /// Paths the layer writes again (a directory written over a directory merges and does
    /// not count).
    pub changed: u64,
    /// Paths of lower layers it removes (whiteouts, opaque directories, a file written
    /// over a directory), each path under a removed directory counted.
    pub removed: u64,
    /// Bytes of regular files the layer itself holds.
    pub files_bytes: u64,
    /// Bytes of lower layers' files the layer hides: rewritten or removed.
    pub hidden_bytes: u64,
    /// The part of `hidden_bytes` rewritten byte for byte the same (the same file stored
    /// twice).
    pub identical_bytes: u64,
}

/// A path the image stores more than once (dive's "inefficiency").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepeatedPath {
    pub path: String,
    /// In how many layers it is written or removed.
    pub count: u64,
    /// The bytes all of them account for (a removal counts what it removes).
    pub bytes: u64,
}

/// A path of the merged filesystem, as the topmost layer holding it wrote it.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub size: u64,
    pub content: u128,
    pub meta: super::scan::Meta,
    /// Which layer (0 is the lowest) wrote it.
    pub layer: usize,
}

#[derive(Default)]
pub(crate) struct Merged {
    tree: BTreeMap<String, Node>,
    /// How many layers were applied.
    layers: usize,
    /// Per path: how often it was written or removed, those bytes, and the least of them.
    costs: HashMap<String, (u64, u64, u64)>,
}

impl Merged {
    /// Applies the next layer: its whiteouts and opaque directories first (they act on
    /// the layers below only, not on the layer's own entries), then its entries.
    pub fn apply(&mut self, scan: &Scan) -> Changes {
        let mut changes = Changes::default();
        for entry in &scan.entries {
            match entry.kind {
                Kind::Whiteout => self.remove_under(&entry.path, true, &mut changes),
                Kind::Opaque => self.remove_under(&entry.path, false, &mut changes),
                _ => continue,
            };
        }
        for entry in &scan.entries {
            if !matches!(entry.kind, Kind::Whiteout | Kind::Opaque) {
                self.write(entry, &mut changes);
            }
        }
        self.layers += 1;
        changes
    }

    /// The merged filesystem: every path the image shows.
    pub fn tree(&self) -> &BTreeMap<String, Node> {
        &self.tree
    }

    fn write(&mut self, entry: &Entry, changes: &mut Changes) {
        if entry.kind == Kind::File {
            changes.files_bytes += entry.size;
        }
        match self.tree.get(&entry.path) {
            None => changes.added += 1,
            Some(old) if old.kind == Kind::Dir && entry.kind == Kind::Dir => {}
            Some(old) => {
                changes.changed += 1;
                changes.hidden_bytes += old.size;
                let identical = old.kind == Kind::File
                    && entry.kind == Kind::File
                    && old.size == entry.size
                    && old.content == entry.content;
                if identical {
                    changes.identical_bytes += old.size;
                }
                if old.kind == Kind::Dir {
                    // A non-directory over a directory replaces everything under it.
                    self.remove_under(&entry.path, false, changes);
                }
            }
        }
        self.tree.insert(
            entry.path.clone(),
            Node {
                kind: entry.kind.clone(),
                size: entry.size,
                content: entry.content,
                meta: entry.meta.clone(),
                layer: self.layers,
            },
        );
        if entry.kind != Kind::Dir {
            self.cost(&entry.path, entry.size);
        }
    }

    /// Removes what lies under `path` (and `path` itself with `itself`). As in dive, a
    /// removal costs what it removes — here each removed file on its own path, so removing
    /// a directory counts like removing its files one by one.
    fn remove_under(&mut self, path: &str, itself: bool, changes: &mut Changes) {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut doomed: Vec<String> = self
            .tree
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect();
        if itself && self.tree.contains_key(path) {
            doomed.push(path.to_string());
        }
        for p in doomed {
            if let Some(node) = self.tree.remove(&p) {
                changes.removed += 1;
                changes.hidden_bytes += node.size;
                if node.kind != Kind::Dir {
                    self.cost(&p, node.size);
                }
            }
        }
    }

    fn cost(&mut self, path: &str, bytes: u64) {
        let cost = self
            .costs
            .entry(path.to_string())
            .or_insert((0, 0, u64::MAX));
        cost.0 += 1;
        cost.1 += bytes;
        cost.2 = cost.2.min(bytes);
    }

    /// dive's efficiency: the bytes each path needs at the least, over the bytes the image
    /// spends on it in all layers (1 for an image that spends nothing).
    pub fn efficiency(&self) -> f64 {
        let (least, spent) = self
            .costs
            .values()
            .fold((0u64, 0u64), |(l, s), c| (l + c.2, s + c.1));
        if spent == 0 {
            1.0
        } else {
            least as f64 / spent as f64
        }
    }

    /// Paths stored more than once, the most bytes first (then by path), at most `most`.
    pub fn repeated(&self, most: usize) -> Vec<RepeatedPath> {
        let mut repeated: Vec<RepeatedPath> = self
            .costs
            .iter()
            .filter(|(_, c)| c.0 > 1 && c.1 > 0)
            .map(|(path, c)| RepeatedPath {
                path: path.clone(),
                count: c.0,
                bytes: c.1,
            })
            .collect();
        repeated.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
        repeated.truncate(most);
        repeated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::scan::Meta;
    use wharf_spec::Digest;

    fn entry(path: &str, kind: Kind, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind,
            size,
            content: size as u128,
            meta: Meta::default(),
        }
    }

    fn layer(entries: Vec<Entry>) -> Scan {
        Scan {
            entries,
            diff_id: Digest::sha256_of(b""),
            tar_size: 0,
        }
    }

    #[test]
    fn a_file_over_a_directory_removes_what_it_held_and_back() {
        let mut merged = Merged::default();
        merged.apply(&layer(vec![
            entry("d", Kind::Dir, 0),
            entry("d/x", Kind::File, 10),
            entry("d/y/z", Kind::File, 20),
            entry("f", Kind::File, 5),
        ]));
        // `d` becomes a file: its two files go with it; `f` becomes a directory.
        let changes = merged.apply(&layer(vec![
            entry("d", Kind::File, 1),
            entry("f", Kind::Dir, 0),
        ]));
        assert_eq!(changes.changed, 2);
        assert_eq!(changes.removed, 2);
        assert_eq!(changes.hidden_bytes, 35);
        let paths: Vec<&String> = merged.tree().keys().collect();
        assert_eq!(paths, ["d", "f"]);
    }

    #[test]
    fn a_whiteout_of_a_directory_removes_only_what_is_under_it() {
        let mut merged = Merged::default();
        merged.apply(&layer(vec![
            entry("a", Kind::Dir, 0),
            entry("a/1", Kind::File, 3),
            entry("a-b", Kind::File, 4),
        ]));
        let changes = merged.apply(&layer(vec![entry("a", Kind::Whiteout, 0)]));
        assert_eq!((changes.removed, changes.hidden_bytes), (2, 3));
        let paths: Vec<&String> = merged.tree().keys().collect();
        assert_eq!(paths, ["a-b"], "a sibling sharing the prefix stays");
    }
}
