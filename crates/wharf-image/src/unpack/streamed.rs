//! `wharf unpack --no-store SOURCE DIR`: an image from any copy-engine source (a registry,
//! an OCI layout or archive, a docker-archive) written as a directory in one pipeline per
//! layer — download, verify, inflate, apply — with nothing stored. Each file is written
//! once, straight into the staging directory beside DIR, which becomes DIR only when every
//! layer's digest and diff_id checked out; a failure leaves no DIR.

use std::path::Path;

use super::{applied, Staging, UnpackReport};
use crate::engine::stream::with_blob;
use crate::engine::{one_image, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::snapshots::layer_error;
use wharf_layer::apply::{self, Applier, ApplyOptions, Root, WhiteoutMode};

/// Unpacks the image `source` names (one platform, chosen by `select`) into `dir` (new
/// or empty).
pub async fn unpack_streamed(
    source: &dyn ImageSource,
    select: &Select,
    dir: &Path,
) -> Result<UnpackReport> {
    let (_, manifest, config) = one_image(source, select).await?;
    let staging = Staging::beside(dir)?;
    let root = Root::open(&staging.path)
        .map_err(ImageError::io(format!("open `{}`", staging.path.display())))?;
    let mut applier = Applier::new(root, ApplyOptions::for_this_process(WhiteoutMode::Apply));
    for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        let (digest, diff_id) = (layer.digest.clone(), diff_id.clone());
        // The applier goes to the layer's blocking thread and comes back with it.
        applier = with_blob(source, layer, move |chunks| {
            applier.begin_layer().map_err(applied)?;
            apply::apply_tar(chunks, &mut applier, Some(&diff_id))
                .map_err(|e| layer_error(&digest, e))?;
            Ok(applier)
        })
        .await?;
    }
    let warnings = tokio::task::spawn_blocking(move || applier.finish())
        .await
        .map_err(ImageError::internal("finishing the unpack"))?
        .map_err(applied)?;
    staging.commit()?;
    Ok(UnpackReport {
        id: manifest.config.digest.clone(),
        layers: manifest.layers.len(),
        extracted: manifest.layers.len(),
        reused: 0,
        warnings: warnings.iter().map(ToString::to_string).collect(),
    })
}
