//! A file source copied into the user's store: the archive or layout is loaded into the
//! copy's staging store, and only the chosen image moves on into the user's store, under
//! the destination name. Other images in the archive, and the staging names, never
//! reach it (as `skopeo copy docker-archive:x.tar:a containers-storage:b` stores only `b`).

use std::io::{Seek, SeekFrom};

use wharf_spec::{Descriptor, Reference};
use wharf_store::{StagedBlob, Store};

use crate::error::{ImageError, Result};
use crate::graph::blobs_of;
use crate::ingest::{self, Origin};
use crate::names;

/// Publishes `target` (with every blob under it) from `staging` into `store`, named
/// `name`, in one commit: either the image and its name appear, or nothing does.
/// Every blob is re-hashed by the destination's ingest as it is copied.
pub fn transfer(
    staging: &Store,
    store: &Store,
    target: &Descriptor,
    name: &str,
) -> Result<Reference> {
    let name = Reference::parse_normalized(name)?;
    if name.digest().is_some() {
        return Err(ImageError::Invalid(format!(
            "cannot name an image in the store with a digest: `{}`",
            name.familiar()
        )));
    }
    let name = name.canonical();
    let _guard = store.lock_shared()?;
    let mut staged: Vec<StagedBlob> = Vec::new();
    let mut layer_infos = Vec::new();
    for (digest, size) in blobs_of(staging, target)? {
        if let Some(info) = staging.layer_info(&digest)? {
            layer_infos.push((digest.clone(), info));
        }
        let origin = Origin::Store(staging.root().to_path_buf());
        let ingested = ingest::into_store(store, &digest, size, &origin, |offset| {
            let mut from = staging.open_blob(&digest)?;
            from.seek(SeekFrom::Start(offset))
                .map_err(ImageError::io(format!(
                    "read blob `{digest}` from {origin}"
                )))?;
            Ok(from)
        })?;
        staged.extend(ingested.staged());
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    store.commit(staged, |index| {
        names::set_name(index, target, &name, Some(&now));
        Ok(())
    })?;
    for (digest, info) in &layer_infos {
        store.set_layer_info(digest, info)?;
    }
    Ok(name)
}
