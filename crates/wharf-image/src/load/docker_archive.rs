//! The legacy docker-archive (`docker save` before Docker 25, `skopeo copy docker-archive:`):
//! `manifest.json` lists each image's config file, layer tars and `RepoTags`. The archive
//! has no registry manifest, so wharf writes an OCI manifest for each image; its layers
//! keep the exact bytes of the archive (uncompressed tars stay uncompressed).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use wharf_spec::media_type::{self, Compression};
use wharf_spec::{
    Algorithm, Descriptor, Digest, ImageConfig, ImageManifest, RawManifest, Reference,
};
use wharf_store::{LayerInfo, StagedBlob, Store};

use super::layout::read_staged;
use super::members::{normalize, Members};
use super::naming::Candidate;
use crate::error::{ImageError, Result};

/// One image of `manifest.json`.
#[derive(Deserialize)]
pub(crate) struct Item {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// The images `manifest.json` lists (at least one).
pub(crate) fn parse_items(path: &Path, bytes: &[u8]) -> Result<Vec<Item>> {
    let items: Vec<Item> = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::archive(path, format!("`manifest.json` is malformed: {e}")))?;
    if items.is_empty() {
        return Err(ImageError::archive(path, "`manifest.json` lists no images"));
    }
    Ok(items)
}

/// The image's config, checked to name as many diff_ids as `item` lists layers.
pub(crate) fn parse_config(path: &Path, item: &Item, bytes: &[u8]) -> Result<ImageConfig> {
    let config = ImageConfig::parse(bytes).map_err(|source| ImageError::Config {
        digest: Digest::sha256_of(bytes),
        source,
    })?;
    if config.rootfs.diff_ids.len() != item.layers.len() {
        return Err(ImageError::archive(
            path,
            format!(
                "`manifest.json` lists {} for `{}` but its config has {}",
                crate::count::count(item.layers.len(), "layer"),
                item.config,
                crate::count::count(config.rootfs.diff_ids.len(), "diff_id")
            ),
        ));
    }
    Ok(config)
}

/// The OCI manifest wharf writes for an archive image (the archive has none): the same
/// bytes whether the image is loaded or copied.
pub(crate) fn manifest_for(config: &[u8], layers: Vec<Descriptor>) -> RawManifest {
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: Descriptor::new(
            media_type::OCI_CONFIG,
            Digest::sha256_of(config),
            config.len() as u64,
        ),
        layers,
        subject: None,
        annotations: None,
    };
    RawManifest::from_image(&manifest)
}

/// A compressed layer member, decompressed from `reader` and checked against the config's
/// diff_id `expected`: its media type and what it holds uncompressed.
pub(crate) fn check_compressed_layer(
    path: &Path,
    name: &str,
    expected: &Digest,
    reader: impl std::io::Read,
) -> Result<(&'static str, LayerInfo)> {
    let diff = wharf_layer::diff_id(std::io::BufReader::new(reader))
        .map_err(ImageError::io(format!("reading layer `{name}`")))?;
    if &diff.digest != expected {
        return Err(ImageError::archive(
            path,
            format!(
                "layer `{name}` does not match its image config: its content digest is `{}`, the config says `{expected}`",
                diff.digest
            ),
        ));
    }
    let media_type = match diff.compression {
        Compression::Gzip => media_type::OCI_LAYER_GZIP,
        Compression::Zstd => media_type::OCI_LAYER_ZSTD,
        Compression::None => media_type::OCI_LAYER_TAR,
    };
    Ok((
        media_type,
        LayerInfo {
            diff_id: diff.digest,
            size: diff.size,
        },
    ))
}

pub fn from_members(
    store: &Store,
    path: &Path,
    members: Members,
) -> Result<(Vec<Candidate>, Vec<StagedBlob>)> {
    let items = parse_items(path, &members.small["manifest.json"])?;
    let mut extra: Vec<StagedBlob> = Vec::new();
    let mut candidates = Vec::new();
    let mut used = BTreeSet::new();
    for item in &items {
        candidates.push(image_from_item(
            store, path, &members, item, &mut extra, &mut used,
        )?);
    }
    let mut staged = members.into_staged_only(&used);
    staged.extend(extra);
    Ok((candidates, staged))
}

fn image_from_item(
    store: &Store,
    path: &Path,
    members: &Members,
    item: &Item,
    extra: &mut Vec<StagedBlob>,
    used: &mut BTreeSet<Digest>,
) -> Result<Candidate> {
    let config_bytes = member_bytes(store, path, members, &item.config)?;
    let config = parse_config(path, item, &config_bytes)?;
    let mut layers = Vec::new();
    let mut known_layers = Vec::new();
    for (name, expected) in item.layers.iter().zip(&config.rootfs.diff_ids) {
        let (layer, info) = layer_descriptor(store, path, members, name, expected)?;
        known_layers.push((layer.digest.clone(), info));
        layers.push(layer);
    }
    stage_once(store, members, extra, &config_bytes)?;
    used.insert(Digest::sha256_of(&config_bytes));
    used.extend(layers.iter().map(|l| l.digest.clone()));
    let raw = manifest_for(&config_bytes, layers);
    stage_once(store, members, extra, raw.bytes())?;
    let mut names = Vec::new();
    for tag in item.repo_tags.iter().flatten() {
        let name = Reference::parse_normalized(tag).map_err(|e| {
            ImageError::archive(
                path,
                format!("`manifest.json` names the image `{tag}`: {e}"),
            )
        })?;
        names.push(name.canonical());
    }
    Ok(Candidate {
        target: raw.descriptor(),
        names,
        tag_only: None,
        known_layers,
    })
}

/// A layer member as a descriptor: uncompressed tars are their own diff_id; a compressed
/// one is decompressed once to check it against the config.
fn layer_descriptor(
    store: &Store,
    path: &Path,
    members: &Members,
    name: &str,
    expected: &Digest,
) -> Result<(Descriptor, LayerInfo)> {
    let normalized = normalize(name).unwrap_or_default();
    let digest = members
        .digest_of(&normalized)
        .ok_or_else(|| {
            ImageError::archive(
                path,
                format!("layer `{name}` named in `manifest.json` is missing from the archive"),
            )
        })?
        .clone();
    let size = match members.staged(&digest) {
        Some(staged) => staged.size(),
        None => store
            .blob_size(&digest)?
            .ok_or_else(|| ImageError::archive(path, format!("layer `{name}` is missing")))?,
    };
    if &digest == expected {
        let info = LayerInfo {
            diff_id: digest.clone(),
            size,
        };
        return Ok((
            Descriptor::new(media_type::OCI_LAYER_TAR, digest, size),
            info,
        ));
    }
    let reader: Box<dyn std::io::Read> = match members.staged(&digest) {
        Some(staged) => Box::new(
            std::fs::File::open(staged.path())
                .map_err(ImageError::io(format!("reading layer `{name}`")))?,
        ),
        None => Box::new(store.open_blob(&digest)?),
    };
    let (media_type, info) = check_compressed_layer(path, name, expected, reader)?;
    Ok((Descriptor::new(media_type, digest, size), info))
}

/// Bytes of a small member: kept in memory while streaming, or staged (Docker ≥ 25 keeps
/// configs under `blobs/`).
fn member_bytes(store: &Store, path: &Path, members: &Members, name: &str) -> Result<Vec<u8>> {
    let normalized = normalize(name).unwrap_or_default();
    let resolved = members.resolve(&normalized);
    if let Some(bytes) = members.small.get(resolved) {
        return Ok(bytes.clone());
    }
    match members.digest_of(&normalized) {
        Some(d) => match members.staged(d) {
            Some(staged) => read_staged(staged),
            None => Ok(store.read_blob(d, wharf_spec::MAX_MANIFEST_SIZE)?),
        },
        None => Err(ImageError::archive(
            path,
            format!("`{name}` named in `manifest.json` is missing from the archive"),
        )),
    }
}

fn stage_once(
    store: &Store,
    members: &Members,
    extra: &mut Vec<StagedBlob>,
    bytes: &[u8],
) -> Result<()> {
    let digest = Digest::sha256_of(bytes);
    let already = members.staged(&digest).is_some()
        || extra.iter().any(|s| s.digest() == &digest)
        || store.blob_size(&digest)?.is_some();
    if !already {
        extra.push(store.stage_bytes(bytes, Algorithm::Sha256)?);
    }
    Ok(())
}
