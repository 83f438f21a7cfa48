//! `wharf diff A B`: two images compared as their merged filesystems (each path's type,
//! content, mode, owner, link target, xattrs and, unless ignored, modification time),
//! their configs (platform and runtime settings) and their layers (which are the same
//! blob, which the same content stored differently).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use wharf_spec::{Digest, ImageConfig};

use super::merge::{Merged, Node};
use super::scan::Kind;
use super::{read, Read};
use crate::engine::{ImageSource, Select};
use crate::error::Result;

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Modification times are not compared (rebuilt images differ in nothing else).
    pub ignore_timestamps: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    /// The path, from the root (`/etc/passwd`).
    pub path: String,
    pub change: Change,
    /// For a changed path, what differs: `type`, `content`, `link`, `mode`, `owner`,
    /// `xattrs`, `mtime`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub what: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigChange {
    /// `architecture`, `os`, `variant`, or a key of the runtime config (`Env`, `Cmd`,
    /// `Entrypoint`, `Labels`, `ExposedPorts`, …).
    pub field: String,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerSharing {
    /// Layers both images have as the same blob.
    pub same_blob: Vec<Digest>,
    /// Layers (by diff_id) with the same content in both, stored as different blobs
    /// (compressed differently).
    pub same_content: Vec<Digest>,
    /// How many layers each image has that the other lacks.
    pub only_in_a: usize,
    pub only_in_b: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    /// The image manifests compared.
    pub a: Digest,
    pub b: Digest,
    pub files: Vec<FileChange>,
    pub config: Vec<ConfigChange>,
    pub layers: LayerSharing,
}

/// Compares the images `a` and `b` name (one platform each, chosen by `select`).
pub async fn diff(
    a: &dyn ImageSource,
    b: &dyn ImageSource,
    select: &Select,
    options: &DiffOptions,
) -> Result<Difference> {
    let (a, b) = futures_util::future::try_join(read(a, select), read(b, select)).await?;
    let (tree_a, tree_b) = (merged(&a), merged(&b));
    Ok(Difference {
        a: a.manifest_digest.clone(),
        b: b.manifest_digest.clone(),
        files: files(tree_a.tree(), tree_b.tree(), options),
        config: config(&a.config, &b.config),
        layers: layers(&a, &b),
    })
}

fn merged(read: &Read) -> Merged {
    let mut merged = Merged::default();
    for scan in &read.scans {
        merged.apply(scan);
    }
    merged
}

fn files(
    a: &BTreeMap<String, Node>,
    b: &BTreeMap<String, Node>,
    options: &DiffOptions,
) -> Vec<FileChange> {
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut changes = Vec::new();
    for path in paths {
        let (change, what) = match (a.get(path), b.get(path)) {
            (None, Some(_)) => (Change::Added, Vec::new()),
            (Some(_), None) => (Change::Removed, Vec::new()),
            (Some(x), Some(y)) => {
                let what = differences(x, y, options);
                if what.is_empty() {
                    continue;
                }
                (Change::Changed, what)
            }
            (None, None) => continue,
        };
        changes.push(FileChange {
            path: format!("/{path}"),
            change,
            what,
        });
    }
    changes
}

fn differences(x: &Node, y: &Node, options: &DiffOptions) -> Vec<&'static str> {
    let mut what = Vec::new();
    if x.kind != y.kind {
        what.push("type");
    } else if x.kind == Kind::File && (x.size != y.size || x.content != y.content) {
        what.push("content");
    }
    if x.meta.link != y.meta.link {
        what.push("link");
    }
    if x.meta.mode != y.meta.mode {
        what.push("mode");
    }
    if (x.meta.uid, x.meta.gid) != (y.meta.uid, y.meta.gid) {
        what.push("owner");
    }
    if x.meta.xattrs != y.meta.xattrs {
        what.push("xattrs");
    }
    if !options.ignore_timestamps && x.meta.mtime != y.meta.mtime {
        what.push("mtime");
    }
    what
}

fn config(a: &ImageConfig, b: &ImageConfig) -> Vec<ConfigChange> {
    let mut changes = Vec::new();
    let platform = |c: &ImageConfig| {
        [
            ("architecture", Some(Value::from(c.architecture.clone()))),
            ("os", Some(Value::from(c.os.clone()))),
            ("variant", c.variant.clone().map(Value::from)),
        ]
    };
    for ((field, x), (_, y)) in platform(a).into_iter().zip(platform(b)) {
        if x != y {
            changes.push(ConfigChange {
                field: field.to_string(),
                a: x,
                b: y,
            });
        }
    }
    let empty = serde_json::Map::new();
    let (x, y) = (
        a.config.as_ref().unwrap_or(&empty),
        b.config.as_ref().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for key in keys {
        // An absent setting and an empty one (`null`, `[]`, `{}`) mean the same.
        let (vx, vy) = (meaningful(x.get(key)), meaningful(y.get(key)));
        if vx != vy {
            changes.push(ConfigChange {
                field: key.clone(),
                a: vx.cloned(),
                b: vy.cloned(),
            });
        }
    }
    changes
}

fn meaningful(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    })
}

fn layers(a: &Read, b: &Read) -> LayerSharing {
    let blobs = |r: &Read| -> BTreeSet<Digest> {
        r.manifest.layers.iter().map(|l| l.digest.clone()).collect()
    };
    let contents = |r: &Read| -> BTreeMap<Digest, Digest> {
        r.manifest
            .layers
            .iter()
            .zip(&r.config.rootfs.diff_ids)
            .map(|(l, d)| (d.clone(), l.digest.clone()))
            .collect()
    };
    let (blobs_a, blobs_b) = (blobs(a), blobs(b));
    let (contents_a, contents_b) = (contents(a), contents(b));
    let same_blob: Vec<Digest> = blobs_a.intersection(&blobs_b).cloned().collect();
    let same_content: Vec<Digest> = contents_a
        .iter()
        .filter(|(diff_id, blob)| contents_b.get(*diff_id).is_some_and(|other| other != *blob))
        .map(|(diff_id, _)| diff_id.clone())
        .collect();
    let shared_a = contents_a
        .keys()
        .filter(|d| contents_b.contains_key(*d))
        .count();
    LayerSharing {
        only_in_a: contents_a.len() - shared_a,
        only_in_b: contents_b.len() - shared_a,
        same_blob,
        same_content,
    }
}
