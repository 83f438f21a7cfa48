//! `wharf rmi` and `wharf image prune`: untag, and delete images nothing names any more.

use wharf_spec::{Digest, Reference};
use wharf_store::Store;

use crate::error::{ImageError, Result};
use crate::names;
use crate::{catalog, graph};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A name was removed (familiar form).
    Untagged(String),
    /// A blob was deleted from the store.
    Deleted(Digest),
}

/// Removes one image reference: a name is untagged; the image itself is deleted once
/// nothing names it. By ID, an image named in several repositories needs `force`.
pub fn remove(store: &Store, input: &str, force: bool) -> Result<Vec<Removal>> {
    let mut out = Vec::new();
    let (image_gone, own_blobs) = {
        let _guard = store.lock_shared()?;
        // A name is untagged without reading the image, so a broken image (a blob lost to
        // `fsck --repair`) can still be removed by name.
        let (target, by_name, all_names) = match named_entry(store, input)? {
            Some(entry) => (entry.target, entry.name, Vec::new()),
            None => {
                let found = catalog::find(store, input, None)?;
                // As Docker: by ID, names in one repository (`app:1`, `app:2`) go without
                // `force`.
                let mut repositories: Vec<String> = found.names.iter().map(|n| n.name()).collect();
                repositories.sort();
                repositories.dedup();
                if repositories.len() > 1 && !force {
                    return Err(ImageError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        found.resolved.id().short()
                    )));
                }
                (found.resolved.target, None, found.names)
            }
        };
        // Only the image's own blobs are reported as deleted, not debris gc also sweeps.
        let own_blobs = graph::blobs_of(store, &target).ok();
        let gone = store.update_index(|index| {
            match &by_name {
                Some(name) => {
                    names::remove_name(index, name);
                    out.push(Removal::Untagged(name.familiar()));
                }
                None => {
                    out.extend(all_names.iter().map(|n| Removal::Untagged(n.familiar())));
                    names::remove_image(index, &target.digest);
                }
            }
            Ok(!index.manifests.iter().any(|d| d.digest == target.digest))
        })?;
        (gone, own_blobs)
    };
    if image_gone {
        // The shared guard is released first: collection takes the store exclusively.
        let report = store.gc()?;
        out.extend(
            report
                .removed
                .into_iter()
                .filter(|d| own_blobs.as_ref().is_none_or(|own| own.contains_key(d)))
                .map(Removal::Deleted),
        );
    }
    Ok(out)
}

/// The `index.json` entry `input` names, when it is a name (not an ID or a digest).
fn named_entry(store: &Store, input: &str) -> Result<Option<catalog::Entry>> {
    let Ok(reference) = Reference::parse_normalized(input) else {
        return Ok(None);
    };
    if reference.digest().is_some() {
        return Ok(None);
    }
    let wanted = reference.canonical();
    Ok(catalog::entries(&store.read_index()?)
        .into_iter()
        .find(|e| e.name.as_ref() == Some(&wanted)))
}

#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// Dangling images (no name) that were removed.
    pub images: Vec<Digest>,
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    pub reclaimed_bytes: u64,
    /// Layer snapshots (by ChainID) no image uses any more, removed.
    pub snapshots: Vec<Digest>,
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
    let snapshots = crate::snapshots::prune(store)?;
    Ok(PruneReport {
        images,
        blobs: gc.removed,
        reclaimed_bytes: gc.reclaimed_bytes + snapshots.reclaimed_bytes,
        snapshots: snapshots.removed,
    })
}
