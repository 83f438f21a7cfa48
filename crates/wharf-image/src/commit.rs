//! `wharf commit BASE DIR -t NEW`: what changed from BASE's filesystem to DIR, as one new
//! layer on top of BASE (added and changed paths as entries, deleted ones as `.wh.`
//! whiteouts), like `docker commit` of a container whose root is DIR.
//!
//! BASE's filesystem is merged into a private tree in `.wharf/tmp` (hard links from the
//! layer snapshots, so it costs no copy) and diffed against DIR while the layer streams
//! into the store's staging area. The layer, config and manifest are then published with
//! the name in one commit, as `append` does: a failure at any point leaves the store as
//! it was.

use std::path::Path;

use wharf_layer::build::{self, diff, LayerSource};
use wharf_spec::{Algorithm, Descriptor, Reference};
use wharf_store::{LayerInfo, Store};

use crate::append::NewLayer;
use crate::catalog;
use crate::compose::{Composed, Draft, SCRATCH};
use crate::error::Result;
use crate::unpack::TmpTree;

/// The same choices as `append`: platform, layer compression and normalization,
/// `SOURCE_DATE_EPOCH`.
pub type CommitOptions = crate::append::AppendOptions;

#[derive(Debug, Clone)]
pub struct Committed {
    pub image: Composed,
    pub layer: NewLayer,
    /// Tar entries in the new layer (changed paths and whiteouts); 0 when DIR is BASE's
    /// filesystem as it was (the layer is then empty, as `docker commit` makes it).
    pub entries: u64,
}

/// What the history says made the layer: DIR's last component only, so the image does
/// not depend on where DIR lives on the host.
fn created_by(dir: &Path) -> String {
    let name = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.to_string_lossy().into_owned());
    format!("wharf commit {name}")
}

pub fn commit(
    store: &Store,
    base: &str,
    dir: &Path,
    name: &Reference,
    options: &CommitOptions,
) -> Result<Committed> {
    let source = LayerSource::Directory {
        path: dir.to_path_buf(),
        dest: String::new(),
    };
    build::check_source(&source)?;
    let _guard = store.lock_shared()?;
    let (mut draft, lower) = if base == SCRATCH {
        let draft = Draft::from_base(store, base, options.platform.as_ref())?;
        (draft, TmpTree::create(store, "commit-scratch")?)
    } else {
        let found = catalog::find(store, base, options.platform.as_ref())?;
        let draft = Draft::of(store, &found.resolved)?;
        let lower = TmpTree::create(store, &format!("commit-{}", found.resolved.id().hex()))?;
        // Warnings (e.g. owners that cannot be set without root) hold as much for a DIR
        // unpacked the same way, so they make no difference between the two trees:
        // logged, not shown.
        let report = lower.materialize(store, &found.resolved)?;
        for warning in &report.warnings {
            tracing::debug!(%warning, "while merging the base image for commit");
        }
        (draft, lower)
    };
    let (created, layer_options) = options.prepare(&mut draft);

    let ingest = store.ingest_unknown(Algorithm::Sha256)?;
    let (ingest, built) = diff::diff_layer(&lower.path, dir, &layer_options, ingest)?;
    let blob = ingest.finish()?;
    drop(lower);
    let descriptor = Descriptor::new(
        draft.layer_media_type(built.compression),
        blob.digest().clone(),
        blob.size(),
    );
    draft.push_layer(&descriptor, &built.diff_id);
    draft.push_history(&created, &created_by(dir), false);
    let info = (
        blob.digest().clone(),
        LayerInfo {
            diff_id: built.diff_id.clone(),
            size: built.size,
        },
    );
    let image = draft.publish(store, vec![blob], &[info], name)?;
    Ok(Committed {
        image,
        layer: NewLayer {
            source,
            descriptor,
            diff_id: built.diff_id,
            skipped: built.skipped,
        },
        entries: built.entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_names_only_the_last_component() {
        assert_eq!(
            created_by(Path::new("/srv/builds/rootfs")),
            "wharf commit rootfs"
        );
        assert_eq!(
            created_by(Path::new("/srv/builds/rootfs/")),
            "wharf commit rootfs"
        );
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            created_by(Path::new(".")),
            format!(
                "wharf commit {}",
                here.file_name().unwrap().to_string_lossy()
            )
        );
    }
}
