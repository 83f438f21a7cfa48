//! `wharf unpack` and `wharf export`: an image's merged root filesystem, as a directory or
//! as one tar.
//!
//! Layers are applied in order onto a staging directory that is renamed into place. As
//! root, the bottom layers that pay for one come from shared snapshots
//! ([`crate::snapshots`], extracted once per ChainID and copied or linked from): those
//! another stored image shares, those already snapshotted, or with `--snapshots`/`--link`
//! all of them ([`snapshots::worth_keeping`]). Every other layer — and every layer
//! without root (no overlay whiteouts) — is extracted straight onto the staging
//! directory, its diff_id checked in the same pass: a one-off unpack writes each file once.

mod streamed;
mod target;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use wharf_layer::apply::{self, Applier, ApplyOptions, Root, WhiteoutMode};
use wharf_spec::{Digest, Platform};
use wharf_store::Store;

use crate::catalog::{self, Resolved};
use crate::error::{ImageError, Result};
use crate::snapshots;

pub use streamed::{unpack_streamed, Keep};
pub use target::Staging;

#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    pub platform: Option<Platform>,
    /// Hard link files from the snapshots instead of copying them: much faster, but the
    /// files share their inode with the store, so they must not be modified in place.
    /// Implies `snapshots`.
    pub link: bool,
    /// Keep a snapshot of every layer (for later unpacks, or an overlay mount of the
    /// image's `LowerDir`), not only of the layers other stored images share.
    pub snapshots: bool,
}

#[derive(Debug, Clone)]
pub struct UnpackReport {
    pub id: Digest,
    pub layers: usize,
    /// Layers extracted by this run (the others came from existing snapshots).
    pub extracted: usize,
    pub reused: usize,
    pub warnings: Vec<String>,
}

/// Unpacks image `input` into `dir` (new or empty).
pub fn unpack(
    store: &Store,
    input: &str,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport> {
    let _guard = store.lock_shared()?;
    let found = catalog::find(store, input, options.platform.as_ref())?;
    let staging = Staging::beside(dir)?;
    let report = materialize(store, &found.resolved, &staging.path, options)?;
    staging.commit()?;
    Ok(report)
}

/// Writes image `input`'s merged filesystem to `out` as one tar.
pub fn export<W: Write>(
    store: &Store,
    input: &str,
    platform: Option<&Platform>,
    out: W,
) -> Result<(W, UnpackReport)> {
    let _guard = store.lock_shared()?;
    let found = catalog::find(store, input, platform)?;
    let tree = TmpTree::create(store, &format!("export-{}", found.resolved.id().hex()))?;
    let report = tree.materialize(store, &found.resolved)?;
    let path = &tree.path;
    let root = Root::open(path).map_err(ImageError::io(format!("open `{}`", path.display())))?;
    let (out, _) =
        apply::export::write_tree(&root, out).map_err(ImageError::io("write the export tar"))?;
    drop(tree);
    Ok((out, report))
}

/// A private, read-only merged tree in the store's `.wharf/tmp` (for `export`, and the
/// lower tree `commit` diffs against), removed on drop; gc removes one a crash left.
pub(crate) struct TmpTree {
    pub path: PathBuf,
}

impl TmpTree {
    /// An empty directory `.wharf/tmp/<pid>-<purpose>`. The caller holds the store's
    /// shared lock, so gc does not sweep it meanwhile.
    pub(crate) fn create(store: &Store, purpose: &str) -> Result<TmpTree> {
        let n = std::process::id();
        let path = store
            .root()
            .join(".wharf")
            .join("tmp")
            .join(format!("{n}-{purpose}"));
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_dir_all(&path)
                .map_err(ImageError::io(format!("remove `{}`", path.display())))?;
        }
        fs::create_dir_all(&path)
            .map_err(ImageError::io(format!("create `{}`", path.display())))?;
        Ok(TmpTree { path })
    }

    /// Fills the (empty) tree with `image`'s merged filesystem. Nothing writes to this
    /// tree afterwards, so files are hard links from the snapshots: safe and fast.
    pub(crate) fn materialize(&self, store: &Store, image: &Resolved) -> Result<UnpackReport> {
        let linked = UnpackOptions {
            link: true,
            ..UnpackOptions::default()
        };
        materialize(store, image, &self.path, &linked)
    }
}

impl Drop for TmpTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Builds the merged filesystem of `image` in the empty directory `into`.
fn materialize(
    store: &Store,
    image: &Resolved,
    into: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport> {
    let link = options.link;
    let layers = &image.manifest.layers;
    let diff_ids = &image.config.rootfs.diff_ids;
    if layers.len() != diff_ids.len() {
        return Err(ImageError::Invalid(format!(
            "image `{}` has {} but its config lists {}",
            image.id(),
            crate::count::count(layers.len(), "layer"),
            crate::count::count(diff_ids.len(), "diff_id")
        )));
    }
    let root = Root::open(into).map_err(ImageError::io(format!("open `{}`", into.display())))?;
    let mut apply_options = ApplyOptions::for_this_process(WhiteoutMode::Apply);
    apply_options.link_files = link;
    let privileged = apply_options.privileged;
    let mut applier = Applier::new(root, apply_options);
    let mut report = UnpackReport {
        id: image.id().clone(),
        layers: layers.len(),
        extracted: layers.len(),
        reused: 0,
        warnings: Vec::new(),
    };
    // Snapshots (root only: they hold overlay whiteouts) for the bottom layers that pay.
    let kept = match (privileged, link || options.snapshots) {
        (false, _) => 0,
        (true, true) => layers.len(),
        (true, false) => snapshots::worth_keeping(store, diff_ids)?,
    };
    if kept > 0 {
        let ensured = snapshots::ensure(store, &layers[..kept], &diff_ids[..kept])?;
        report.extracted = ensured.created + (layers.len() - kept);
        report.reused = ensured.reused;
        report.warnings = ensured.warnings;
        for dir in &ensured.dirs {
            applier.begin_layer().map_err(applied)?;
            let snapshot = Root::open(dir)
                .map_err(ImageError::io(format!("open snapshot `{}`", dir.display())))?;
            apply::tree::apply_snapshot(&snapshot, &mut applier)
                .map_err(|e| ImageError::Invalid(format!("snapshot `{}`: {e}", dir.display())))?;
        }
    }
    for (layer, diff_id) in layers.iter().zip(diff_ids).skip(kept) {
        applier.begin_layer().map_err(applied)?;
        snapshots::apply_stored_layer(store, &mut applier, layer, diff_id)?;
    }
    let warnings = applier.finish().map_err(applied)?;
    report
        .warnings
        .extend(warnings.iter().map(ToString::to_string));
    Ok(report)
}

/// A failure found while finishing a layer (copies on worker threads, directory times):
/// the error names the entry.
fn applied(e: apply::ApplyError) -> ImageError {
    ImageError::Invalid(e.to_string())
}
