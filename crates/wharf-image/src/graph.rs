//! The blobs one image is made of: its manifest (or index and every child present),
//! configs and layers, with their sizes on disk.

use std::collections::BTreeMap;

use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Descriptor, Digest};
use wharf_store::Store;

use crate::catalog::read_manifest;
use crate::error::Result;

/// Every blob reachable from `target` that the store holds, with its size. Children of an
/// index that were never fetched are skipped, not errors.
pub fn blobs_of(store: &Store, target: &Descriptor) -> Result<BTreeMap<Digest, u64>> {
    let mut out = BTreeMap::new();
    visit(store, target, &mut out)?;
    Ok(out)
}

fn visit(store: &Store, descriptor: &Descriptor, out: &mut BTreeMap<Digest, u64>) -> Result<()> {
    if out.contains_key(&descriptor.digest) {
        return Ok(());
    }
    let Some(size) = store.blob_size(&descriptor.digest)? else {
        return Ok(());
    };
    out.insert(descriptor.digest.clone(), size);
    if matches!(
        media_type::kind(&descriptor.media_type),
        Kind::Manifest | Kind::Index
    ) {
        let raw = read_manifest(store, descriptor)?;
        let subject = raw.manifest().subject().map(|s| s.digest.clone());
        for child in raw.manifest().children() {
            if Some(&child.digest) != subject.as_ref() {
                visit(store, child, out)?;
            }
        }
    }
    Ok(())
}
