//! `wharf layers`: what each layer of an image does and what the image wastes, read from
//! any copy-engine source (the store, a registry, an OCI layout or archive, a
//! docker-archive) as streams: nothing is pulled or written.
//!
//! Each layer is streamed once, on a blocking thread per layer ([`scan`]): its bytes are
//! checked against the layer's digest and the config's diff_id as they are read, and its
//! tar entries listed with their sizes and a content hash. The layers are then applied
//! in order on paths alone ([`merge`]).
//!
//! Definitions (the README says the same for users):
//! - *wasted bytes*: bytes of files a layer stores that a later layer hides — rewrites
//!   (identical or not), whiteouts, opaque directories. The final filesystem does not
//!   show them, yet every pull downloads them. (dive also counts the copy that is kept.)
//! - *efficiency*: dive's score: for every path, the least bytes any layer spends on it,
//!   summed, over all the bytes the layers spend on paths (a removal spends what it
//!   removes); 1.0 when nothing is stored twice or removed. Unlike dive, removing a
//!   directory (a whiteout or an opaque directory) spends each removed file's bytes on
//!   that file's path, so it counts as removing those files would.

mod diff;
mod files;
mod merge;
mod scan;
mod tree;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use wharf_spec::{Descriptor, Digest, ImageConfig, ImageManifest};

use crate::engine::stream::with_blob;
use crate::engine::{one_image, ImageSource, Select};
use crate::error::{ImageError, Result};

pub use diff::{diff, Change, ConfigChange, DiffOptions, Difference, FileChange, LayerSharing};
pub use files::{cat, list, FileEntry};
pub use merge::{Changes, RepeatedPath};
pub use tree::ImageTree;

/// Layers read at once (one blocking thread each).
const LAYERS_AT_ONCE: usize = 2;
/// Repeated paths listed in a report.
const REPEATED_LISTED: usize = 20;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    /// The image manifest's digest and the image ID (its config's digest).
    pub manifest: Digest,
    pub id: Digest,
    pub layers: Vec<LayerReport>,
    /// Bytes of regular files all layers hold.
    pub files_bytes: u64,
    /// Bytes of files a later layer hides (see the module docs).
    pub wasted_bytes: u64,
    pub efficiency: f64,
    /// Paths stored more than once, the most bytes first.
    pub repeated: Vec<RepeatedPath>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerReport {
    /// The history step that made the layer (`created_by`), when the config records one.
    pub created_by: Option<String>,
    /// The blob as distributed: its digest, media type and (compressed) size.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The uncompressed tar: its digest (diff_id) and size.
    pub diff_id: Digest,
    pub tar_size: u64,
    #[serde(flatten)]
    pub changes: Changes,
}

/// One platform's image read whole: its manifest, config and every layer's entries.
struct Read {
    manifest_digest: Digest,
    manifest: ImageManifest,
    config: ImageConfig,
    scans: Vec<scan::Scan>,
}

/// Reads the image `source` names (one platform, chosen by `select`): every layer
/// streamed once, checked against its digest and diff_id.
async fn read(source: &dyn ImageSource, select: &Select) -> Result<Read> {
    let image = one_image(source, select).await?;
    let (manifest_digest, manifest, config) = (image.top.digest, image.manifest, image.config);
    let diff_ids = &config.rootfs.diff_ids;
    let scans: Vec<scan::Scan> = stream::iter(manifest.layers.iter().zip(diff_ids))
        .map(|(layer, diff_id)| scan_layer(source, layer, diff_id))
        .buffered(LAYERS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(Read {
        manifest_digest,
        manifest,
        config,
        scans,
    })
}

/// Reads the image `source` names (one platform, chosen by `select`) and analyses it.
pub async fn analyze(source: &dyn ImageSource, select: &Select) -> Result<Analysis> {
    Ok(report(&read(source, select).await?).0)
}

/// The analysis of an image read whole, and its merged filesystem.
fn report(read: &Read) -> (Analysis, merge::Merged) {
    // The history steps that made layers, in order (steps marked empty made none).
    let mut steps = read
        .config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone());
    let mut merged = merge::Merged::default();
    let mut layers = Vec::new();
    for (layer, scanned) in read.manifest.layers.iter().zip(&read.scans) {
        layers.push(LayerReport {
            created_by: steps.next().flatten(),
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            size: layer.size,
            diff_id: scanned.diff_id.clone(),
            tar_size: scanned.tar_size,
            changes: merged.apply(scanned),
        });
    }
    let analysis = Analysis {
        manifest: read.manifest_digest.clone(),
        id: read.manifest.config.digest.clone(),
        files_bytes: layers.iter().map(|l| l.changes.files_bytes).sum(),
        wasted_bytes: layers.iter().map(|l| l.changes.hidden_bytes).sum(),
        efficiency: merged.efficiency(),
        repeated: merged.repeated(REPEATED_LISTED),
        layers,
    };
    (analysis, merged)
}

/// Streams one layer from `source` into a scan on a blocking thread: its digest checked
/// as the bytes arrive, its diff_id once they are all read.
async fn scan_layer(
    source: &dyn ImageSource,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<scan::Scan> {
    let scanned = with_layer(source, layer, |tar| scan::scan(tar)).await?;
    if &scanned.diff_id != diff_id {
        return Err(ImageError::DiffIdMismatch {
            layer: layer.digest.clone(),
            expected: diff_id.clone(),
            actual: scanned.diff_id,
        });
    }
    Ok(scanned)
}

/// Runs `read` on the uncompressed bytes of `layer`, streamed from `source` and checked
/// against its digest ([`with_blob`]); `read` must read to the end.
async fn with_layer<T: Send + 'static>(
    source: &dyn ImageSource,
    layer: &Descriptor,
    read: impl FnOnce(&mut dyn std::io::Read) -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let context = format!(
        "reading layer `{}` from {}",
        layer.digest,
        source.origin(&layer.digest)
    );
    with_blob(source, layer, move |chunks| {
        wharf_layer::decompress(chunks)
            .and_then(|(_, mut tar)| read(&mut tar))
            .map_err(ImageError::io(context))
    })
    .await
}
