//! The blobs one image is made of: its manifest (or index and every child present),
//! configs and layers, with their sizes on disk.

use std::collections::BTreeMap;

use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{Descriptor, Digest};
use wharf_store::Store;

use crate::catalog::read_manifest;
use crate::error::Result;

/// Every blob reachable from `target` that the store holds, with its size. Children of an
/// index that were never fetched are skipped, not errors; a referrer's subject is not part
/// of the image ([`wharf_spec::walk::Policy`]).
pub fn blobs_of(store: &Store, target: &Descriptor) -> Result<BTreeMap<Digest, u64>> {
    let policy = Policy {
        foreign_layers: true, // kept when the store has them
        ..Policy::IMAGE
    };
    let mut out = BTreeMap::new();
    let mut walk = Walker::new(target.clone(), policy);
    while let Some(step) = walk.next() {
        match step {
            Step::Read(descriptor) => match store.blob_size(&descriptor.digest)? {
                None => walk.skip(&descriptor),
                Some(size) => {
                    out.insert(descriptor.digest.clone(), size);
                    let raw = read_manifest(store, &descriptor)?;
                    walk.manifest(&descriptor, raw);
                }
            },
            Step::Blob(blob) => {
                if let Some(size) = store.blob_size(&blob.digest)? {
                    out.insert(blob.digest, size);
                }
            }
            Step::Done(..) => {}
        }
    }
    Ok(out)
}
