//! Integration tests for wharf-store, on a real filesystem in temp directories.
//!
//! Fixtures are made by the helpers below, never checked in. Tests that need a second
//! process re-run this very binary with `WHARF_STORE_CHILD` set (see `process.rs`).

mod commit;
mod gc_fsck;
mod ingest;
mod interop;
mod layout;
mod process;

use std::io::Write;

use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{
    media_type, Algorithm, Descriptor, Digest, ImageIndex, ImageManifest, RawManifest,
};
use wharf_store::{IngestStart, StagedBlob, Store};

/// A fresh store in a temp directory (kept alive by the returned guard).
pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

/// Deterministic, seed-dependent bytes (xorshift), so distinct seeds give distinct blobs.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
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

pub fn layer_bytes(seed: u64, len: usize) -> Vec<u8> {
    data(seed, len)
}

/// Builds an image: layers from `seeds` (uncompressed "tars" of arbitrary bytes, so their
/// digests are their diff_ids), a real OCI config, and a manifest.
pub fn image(store: &Store, name: &str, layers: &[(u64, usize)]) -> Img {
    let mut staged = Vec::new();
    let mut layer_descs = Vec::new();
    for &(seed, len) in layers {
        let bytes = layer_bytes(seed, len);
        let blob = put(store, &bytes);
        layer_descs.push(Descriptor::new(
            media_type::OCI_LAYER_TAR,
            blob.digest().clone(),
            blob.size(),
        ));
        staged.push(blob);
    }
    let diff_ids: Vec<String> = layer_descs
        .iter()
        .map(|d| format!("\"{}\"", d.digest))
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"name":"{name}"}}}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_blob = store
        .stage_bytes(config.as_bytes(), Algorithm::Sha256)
        .unwrap();
    let config_desc = Descriptor::new(
        media_type::OCI_CONFIG,
        config_blob.digest().clone(),
        config_blob.size(),
    );
    staged.push(config_blob);
    let manifest = RawManifest::from_image(&ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: config_desc.clone(),
        layers: layer_descs.clone(),
        subject: None,
        annotations: None,
    });
    let manifest_blob = store
        .stage_bytes(manifest.bytes(), Algorithm::Sha256)
        .unwrap();
    staged.push(manifest_blob);
    let mut desc = manifest.descriptor();
    desc.set_annotation(ANNOTATION_REF_NAME, name);
    Img {
        staged,
        manifest: desc.digest.clone(),
        desc,
        config: config_desc.digest,
        layers: layer_descs.into_iter().map(|d| d.digest).collect(),
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
