//! `wharf system df`: how much disk each image uses, how much of it is shared with other
//! images (a base layer stored once), and what the store would reclaim.

use std::collections::BTreeMap;

use serde::Serialize;
use wharf_spec::{Digest, Reference};
use wharf_store::Store;

use crate::catalog;
use crate::error::Result;
use crate::graph::blobs_of;

#[derive(Debug, Clone, Serialize)]
pub struct ImageUsage {
    pub names: Vec<Reference>,
    /// Image ID (config digest), when the image resolves for this platform.
    pub id: Option<Digest>,
    pub target: Digest,
    pub created: Option<String>,
    /// Bytes on disk of every blob the image is made of.
    pub size: u64,
    /// Of `size`, bytes in blobs other images use too.
    pub shared_size: u64,
    /// Of `size`, bytes only this image uses: what removing it frees.
    pub unique_size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub images: Vec<ImageUsage>,
    /// Bytes of distinct blobs that images use (each shared blob counted once).
    pub images_size: u64,
    /// What the images would take if nothing were shared.
    pub size_without_sharing: u64,
    /// Bytes of dangling images' unique blobs and of blobs nothing references.
    pub reclaimable: u64,
    pub dangling_images: usize,
    /// Layer snapshots made by `wharf unpack`, and their bytes on disk.
    pub snapshots: usize,
    pub snapshots_size: u64,
}

pub fn usage(store: &Store) -> Result<Usage> {
    let index = store.read_index()?;
    let images = catalog::images(&index);
    let mut per_image = Vec::new();
    let mut users: BTreeMap<Digest, (u64, usize)> = BTreeMap::new();
    for (target, _) in &images {
        let blobs = blobs_of(store, target)?;
        for (digest, size) in &blobs {
            users.entry(digest.clone()).or_insert((*size, 0)).1 += 1;
        }
        per_image.push(blobs);
    }
    let mut out = Vec::new();
    let mut reclaimable = 0;
    let mut dangling_images = 0;
    for ((target, names), blobs) in images.iter().zip(&per_image) {
        let size: u64 = blobs.values().sum();
        let shared_size: u64 = blobs
            .iter()
            .filter(|(d, _)| users[*d].1 > 1)
            .map(|(_, s)| s)
            .sum();
        let resolved = catalog::resolve(store, target, None).ok();
        if names.is_empty() {
            dangling_images += 1;
            reclaimable += size - shared_size;
        }
        out.push(ImageUsage {
            names: names.clone(),
            id: resolved.as_ref().map(|r| r.id().clone()),
            target: target.digest.clone(),
            created: resolved.and_then(|r| r.config.created),
            size,
            shared_size,
            unique_size: size - shared_size,
        });
    }
    let images_size = users.values().map(|(s, _)| s).sum();
    let size_without_sharing = out.iter().map(|i| i.size).sum();
    let reachable = store.reachable()?;
    let on_disk: u64 = store.list_blobs()?.values().sum();
    reclaimable += on_disk.saturating_sub(reachable.present.values().sum::<u64>());
    let (snapshots, snapshots_size) = crate::snapshots::usage(store)?;
    Ok(Usage {
        snapshots,
        snapshots_size,
        images: out,
        images_size,
        size_without_sharing,
        reclaimable,
        dangling_images,
    })
}
