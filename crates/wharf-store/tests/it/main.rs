//! Integration tests for wharf-store, on a real filesystem in temp directories.
//!
//! Fixtures are made by the helpers below, on `wharf_testkit::fixtures`, never checked in. Tests that need a second
//! process re-run this very binary with `WHARF_STORE_CHILD` set (see `process.rs`).

mod commit;
mod gc_fsck;
mod ingest;
mod interop;
mod layout;
mod process;

use std::io::Write;

use serde_json::json;
use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{Algorithm, Descriptor, Digest, ImageIndex};
use wharf_store::{IngestStart, StagedBlob, Store};
use wharf_testkit::fixtures::{config_of, Image, KeyOrder, Layer};

pub use wharf_testkit::fixtures::data;

/// A fresh store in a temp directory (kept alive by the returned guard).
pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

/// Streams `bytes` through a known-digest ingest in uneven chunks and stages the result.
pub fn put(store: &Store, bytes: &[u8]) -> StagedBlob {
    let digest = Digest::sha256_of(bytes);
    match store.ingest(&digest, Some(bytes.len() as u64)).unwrap() {
        IngestStart::Writer(mut w) => {
            assert_eq!(w.offset(), 0);
            for chunk in bytes.chunks(100_003) {
                w.write_all(chunk).unwrap();
            }
            w.finish().unwrap()
        }
        IngestStart::Staged(b) => b,
        IngestStart::Exists(_) => store.stage_bytes(bytes, Algorithm::Sha256).unwrap(),
    }
}

/// An image whose blobs are staged but not committed.
pub struct Img {
    pub staged: Vec<StagedBlob>,
    /// The manifest descriptor, annotated with `name` as its ref name.
    pub desc: Descriptor,
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<Digest>,
}

impl Img {
    pub fn all_blobs(&self) -> Vec<Digest> {
        let mut v = vec![self.manifest.clone(), self.config.clone()];
        v.extend(self.layers.iter().cloned());
        v
    }
}

/// Builds an image with [`wharf_testkit::fixtures`]: layers of pseudo-random bytes (each
/// `(seed, len)`, uncompressed, so their digests are their diff_ids), a config labelled
/// `name` (so images of the same layers differ), and a manifest; then stages its blobs.
pub fn image(store: &Store, name: &str, layers: &[(u64, usize)]) -> Img {
    let layers: Vec<Layer> = layers
        .iter()
        .map(|&(seed, len)| Layer::random(len, seed))
        .collect();
    let fields =
        json!({"architecture": "amd64", "os": "linux", "config": {"Labels": {"name": name}}});
    let image = Image::new(config_of(fields, &layers), layers, KeyOrder::Declared);
    let mut staged: Vec<StagedBlob> = image.layers.iter().map(|l| put(store, &l.blob)).collect();
    for bytes in [&image.config[..], image.manifest.bytes()] {
        staged.push(store.stage_bytes(bytes, Algorithm::Sha256).unwrap());
    }
    let mut desc = image.manifest.descriptor();
    desc.set_annotation(ANNOTATION_REF_NAME, name);
    Img {
        staged,
        manifest: desc.digest.clone(),
        desc,
        config: image.config_digest(),
        layers: image.layers.iter().map(Layer::digest).collect(),
    }
}

/// Points `name` at `desc` in the index, replacing an entry of the same name in place.
pub fn tag(index: &mut ImageIndex, name: &str, desc: &Descriptor) {
    let mut desc = desc.clone();
    desc.set_annotation(ANNOTATION_REF_NAME, name);
    match index
        .manifests
        .iter_mut()
        .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(name))
    {
        Some(slot) => *slot = desc,
        None => index.manifests.push(desc),
    }
}

/// Builds and commits an image under `name`.
pub fn commit_image(store: &Store, name: &str, layers: &[(u64, usize)]) -> Img {
    let mut img = image(store, name, layers);
    let staged = std::mem::take(&mut img.staged);
    let desc = img.desc.clone();
    store
        .commit(staged, |index| {
            tag(index, name, &desc);
            Ok(())
        })
        .unwrap();
    img
}

pub fn names(store: &Store) -> Vec<String> {
    store
        .read_index()
        .unwrap()
        .manifests
        .iter()
        .filter_map(|d| d.annotation(ANNOTATION_REF_NAME).map(str::to_string))
        .collect()
}

/// Files under a directory (recursively), as paths relative to it, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
