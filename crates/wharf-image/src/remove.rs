//! `wharf rmi` and `wharf image prune`: untag, and delete images nothing names any more.

use wharf_spec::Digest;
use wharf_store::Store;

use crate::catalog;
use crate::error::{ImageError, Result};
use crate::names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A name was removed (familiar form).
    Untagged(String),
    /// A blob was deleted from the store.
    Deleted(Digest),
}

/// Removes one image reference: a name is untagged; the image itself is deleted once
/// nothing names it. By ID, an image with several names needs `force`.
pub fn remove(store: &Store, input: &str, force: bool) -> Result<Vec<Removal>> {
    let mut out = Vec::new();
    let image_gone = {
        let _guard = store.lock_shared()?;
        let found = catalog::find(store, input, None)?;
        let target = found.resolved.target.clone();
        let by_name = found.matched_name.clone();
        if by_name.is_none() && found.names.len() > 1 && !force {
            return Err(ImageError::Conflict(format!(
                "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                found.resolved.id().short()
            )));
        }
        store.update_index(|index| {
            match &by_name {
                Some(name) => {
                    names::remove_name(index, name);
                    out.push(Removal::Untagged(name.familiar()));
                }
                None => {
                    out.extend(found.names.iter().map(|n| Removal::Untagged(n.familiar())));
                    names::remove_image(index, &target.digest);
                }
            }
            Ok(!index.manifests.iter().any(|d| d.digest == target.digest))
        })?
    };
    if image_gone {
        // The shared guard is released first: collection takes the store exclusively.
        let report = store.gc()?;
        out.extend(report.removed.into_iter().map(Removal::Deleted));
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// Dangling images (no name) that were removed.
    pub images: Vec<Digest>,
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    pub reclaimed_bytes: u64,
}

/// Removes dangling images, then every blob nothing references.
pub fn prune(store: &Store) -> Result<PruneReport> {
    let images = {
        let _guard = store.lock_shared()?;
        store.update_index(|index| {
            let mut removed = Vec::new();
            index.manifests.retain(|d| {
                let dangling = d
                    .annotation(wharf_spec::descriptor::ANNOTATION_REF_NAME)
                    .is_none();
                if dangling {
                    removed.push(d.digest.clone());
                }
                !dangling
            });
            Ok(removed)
        })?
    };
    let gc = store.gc()?;
    Ok(PruneReport {
        images,
        blobs: gc.removed,
        reclaimed_bytes: gc.reclaimed_bytes,
    })
}
