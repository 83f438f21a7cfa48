//! Uncompressed sizes, content sizes and diff_ids of layer blobs, computed by streaming
//! the blob once on first need and cached in the store.

use std::io::Read;

use tar::EntryType;
use wharf_spec::{Algorithm, Descriptor, Digest, HashingReader};
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

/// Docker's image `Size`: the sum of the layers' content sizes ([`content_size`]).
pub fn image_size(store: &Store, layers: &[Descriptor]) -> Result<u64> {
    layers.iter().map(|l| content_size(store, l)).sum()
}
/// Docker's size of a layer: the bytes its files hold once extracted, not its tar's
/// bytes. The Engine (overlay2, fuse-overlayfs) reports the size of the layer's diff
/// directory: the `lstat` size of every entry but directories, a hard-linked inode once.
/// From the tar: regular files' sizes, a symlink's target length, nothing for hard links
/// (their inode is counted with the file they link to), directories, devices, FIFOs and
/// whiteouts. Computed by streaming the blob once, then cached with the layer's info.
pub fn content_size(store: &Store, layer: &Descriptor) -> Result<u64> {
    if let Some(size) = store.layer_content_size(&layer.digest)? {
        return Ok(size);
    }
    let file = store.open_blob(&layer.digest)?;
    let (info, size) =
        scan(file).map_err(ImageError::io(format!("reading layer `{}`", layer.digest)))?;
    store.set_layer_info_with_content_size(&layer.digest, &info, size)?;
    Ok(size)
}

/// The diff_id, tar size and content size of a layer blob, in one pass.
fn scan(blob: impl Read) -> std::io::Result<(LayerInfo, u64)> {
    let (_, decoded) = wharf_layer::decompress(blob)?;
    let mut hashing = HashingReader::new(decoded, Algorithm::Sha256);
    let content = tar_content_size(&mut hashing)?;
    // The end-of-archive blocks (and whatever follows) are part of the diff_id.
    std::io::copy(&mut hashing, &mut std::io::sink())?;
    let (diff_id, size) = hashing.finish();
    Ok((LayerInfo { diff_id, size }, content))
}

/// The content size of the entries of a tar stream. A stream that stops being a tar
/// (a layer whose last entry lacks its padding) counts the entries read until then:
/// whether the layer is acceptable is for loading and unpacking to say, not for sizes.
fn tar_content_size(tar: impl Read) -> std::io::Result<u64> {
    let mut archive = tar::Archive::new(tar);
    let mut size = 0;
    let Ok(entries) = archive.entries() else {
        return Ok(0);
    };
    for entry in entries {
        let Ok(entry) = entry else { break };
        size += match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => entry.size(),
            EntryType::Symlink => entry
                .link_name_bytes()
                .map_or(0, |target| target.len() as u64),
            _ => 0,
        };
    }
    Ok(size)
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

#[cfg(test)]
mod tests {
    use tar::{Builder, EntryType, Header};

    fn add(b: &mut Builder<Vec<u8>>, kind: EntryType, path: &str, data: &[u8], link: &str) {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    }

    /// What the Docker Engine measured for the same entries (see the interop test).
    #[test]
    fn content_counts_files_once_and_symlink_targets() {
        let mut b = Builder::new(Vec::new());
        add(&mut b, EntryType::Directory, "d/", b"", "");
        add(&mut b, EntryType::Regular, "d/a", &[1; 1000], "");
        add(&mut b, EntryType::Link, "d/hard", b"", "d/a");
        add(
            &mut b,
            EntryType::Symlink,
            "d/sym",
            b"",
            "0123456789abcdefghij",
        );
        add(&mut b, EntryType::Regular, ".wh.gone", b"", "");
        let tar = b.into_inner().unwrap();
        let (info, content) = super::scan(tar.as_slice()).unwrap();
        assert_eq!(content, 1020);
        assert_eq!(info.size, tar.len() as u64);
        assert_eq!(info.diff_id, wharf_spec::Digest::sha256_of(&tar));
        // Cut inside the last header, end blocks gone: the entries before still count.
        let cut = &tar[..tar.len() - 1024 - 100];
        assert_eq!(super::scan(cut).unwrap().1, 1020);
    }
}
