//! Compressing an image's uncompressed layers (what a docker-archive holds) for a registry
//! or an OCI layout: each layer is streamed through the layer builder's encoder (gzip or
//! zstd on every core, [`LayerEncoder`]) into the store's verifying ingest, and a new
//! manifest names the compressed blobs. The config, and so the
//! diff_ids and the image ID, stay the same; the layer and manifest digests are new.

use std::io::{self, BufReader};

use wharf_layer::build::LayerEncoder;
use wharf_spec::media_type::{self, Compression, Kind};
use wharf_spec::{Algorithm, Descriptor, ImageManifest, RawManifest, Reference};
use wharf_store::{LayerInfo, StagedBlob, Store};

use crate::catalog;
use crate::error::{ImageError, Result};
use crate::ingest::{Mismatch, Origin};
use crate::names;

/// Compresses the uncompressed layers of the image `input` finds and names the result
/// `name`; returns the new manifest's descriptor (the old one when nothing needed it).
pub fn recompress(
    store: &Store,
    input: &str,
    compression: Compression,
    name: &Reference,
) -> Result<Descriptor> {
    let found = catalog::find(store, input, None)?;
    let manifest = &found.resolved.manifest;
    let needs = |l: &Descriptor| media_type::kind(&l.media_type) == Kind::Layer(Compression::None);
    if compression == Compression::None || !manifest.layers.iter().any(needs) {
        return Ok(found.resolved.manifest_descriptor.clone());
    }
    let mut staged: Vec<StagedBlob> = Vec::new();
    let mut infos: Vec<(wharf_spec::Digest, LayerInfo)> = Vec::new();
    let mut layers = Vec::new();
    for layer in &manifest.layers {
        if !needs(layer) {
            layers.push(layer.clone());
            continue;
        }
        let blob = compress(store, layer, compression)?;
        let media = match compression {
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
            _ => media_type::OCI_LAYER_GZIP,
        };
        infos.push((
            blob.digest().clone(),
            LayerInfo {
                diff_id: layer.digest.clone(),
                size: layer.size,
            },
        ));
        layers.push(Descriptor::new(media, blob.digest().clone(), blob.size()));
        staged.push(blob);
    }
    let new = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: manifest.config.clone(),
        layers,
        subject: None,
        annotations: manifest.annotations.clone(),
    };
    let raw = RawManifest::from_image(&new);
    staged.push(store.stage_bytes(raw.bytes(), Algorithm::Sha256)?);
    let target = raw.descriptor();
    let named = target.clone();
    let name = name.clone();
    store.commit(staged, move |index| {
        names::set_name(index, &named, &name, None);
        Ok(())
    })?;
    for (blob, info) in &infos {
        store.set_layer_info(blob, info)?;
    }
    Ok(target)
}

/// Streams the plain layer through the layer builder's encoder (parallel gzip, or zstd on
/// every core) into the store's ingest; the encoder's diff_id re-checks the source bytes.
fn compress(store: &Store, layer: &Descriptor, compression: Compression) -> Result<StagedBlob> {
    let context = || format!("compressing layer `{}`", layer.digest);
    let mut from = BufReader::with_capacity(1 << 20, store.open_blob(&layer.digest)?);
    let ingest = store.ingest_unknown(Algorithm::Sha256)?;
    let threads = wharf_layer::build::default_threads();
    let mut encoder =
        LayerEncoder::new(ingest, compression, None, threads).map_err(ImageError::io(context()))?;
    io::copy(&mut from, &mut encoder).map_err(ImageError::io(context()))?;
    let (ingest, diff_id, _) = encoder.finish().map_err(ImageError::io(context()))?;
    if diff_id != layer.digest {
        return Err(ImageError::CorruptBlob {
            digest: layer.digest.clone(),
            origin: Origin::Store(store.root().to_path_buf()),
            mismatch: Mismatch::Digest { actual: diff_id },
        });
    }
    Ok(ingest.finish()?)
}
