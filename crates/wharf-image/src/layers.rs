//! Uncompressed sizes and diff_ids of layer blobs, computed by streaming the blob once
//! on first need and cached in the store (Docker reports uncompressed sizes).

use wharf_spec::{Descriptor, Digest};
use wharf_store::{LayerInfo, Store};

use crate::error::{ImageError, Result};

/// The diff_id and uncompressed size of a layer blob; decompresses it only the first time.
pub fn layer_info(store: &Store, layer: &Descriptor) -> Result<LayerInfo> {
    if let Some(info) = store.layer_info(&layer.digest)? {
        return Ok(info);
    }
    let file = store.open_blob(&layer.digest)?;
    let diff = wharf_layer::diff_id(std::io::BufReader::new(file))
        .map_err(ImageError::io(format!("reading layer `{}`", layer.digest)))?;
    let info = LayerInfo {
        diff_id: diff.digest,
        size: diff.size,
    };
    store.set_layer_info(&layer.digest, &info)?;
    Ok(info)
}

/// Docker's image `Size`: the sum of the uncompressed layer sizes.
pub fn image_size(store: &Store, layers: &[Descriptor]) -> Result<u64> {
    layers
        .iter()
        .map(|l| layer_info(store, l).map(|i| i.size))
        .sum()
}

/// Checks each layer's diff_id against the config, in order.
pub fn verify_diff_ids(store: &Store, layers: &[Descriptor], diff_ids: &[Digest]) -> Result<()> {
    for (layer, expected) in layers.iter().zip(diff_ids) {
        let info = layer_info(store, layer)?;
        if &info.diff_id != expected {
            return Err(ImageError::DiffIdMismatch {
                layer: layer.digest.clone(),
                expected: expected.clone(),
                actual: info.diff_id,
            });
        }
    }
    Ok(())
}
