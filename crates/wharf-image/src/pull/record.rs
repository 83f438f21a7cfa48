//! Naming the pulled image, in the same commit that publishes its blobs.
//!
//! The `index.json` entry a pull writes is named by what was pulled — `name:tag`, or
//! `name@digest` for a pull by digest (Docker's `<none>` tag: `wharf images` lists it
//! unless a tag of the repository names the image, `name@digest` finds it), is marked
//! pulled (so `RepoDigests` shows its name), and points at:
//! - the image manifest, for a single-platform image or one platform of an index (with
//!   the platform from the index entry, and the index digest in an annotation, so the
//!   next pull of the same tag knows it is up to date with one `HEAD`);
//! - the index itself with `--all-platforms`, when every platform's blobs are present.
//!
//! An entry must never reach a blob the store lacks, which is why a one-platform pull does
//! not name the index.

use wharf_spec::{Descriptor, Reference};
use wharf_store::{StagedBlob, Store};

use super::fetch::blocking;
use super::plan::Plan;
use crate::catalog::ANNOTATION_PULLED;
use crate::error::Result;
use crate::names;
use wharf_spec::descriptor::ANNOTATION_REF_NAME;

/// On an entry for one platform of an index: the index's digest.
pub const ANNOTATION_INDEX_DIGEST: &str = "dev.wharf.index-digest";

/// Publishes `staged` and names the image; returns the image manifests pulled.
pub(super) async fn commit(
    store: &Store,
    reference: &Reference,
    plan: &Plan,
    staged: Vec<StagedBlob>,
) -> Result<Vec<Descriptor>> {
    let images: Vec<Descriptor> = plan.images.iter().map(|i| i.descriptor.clone()).collect();
    let (target, index_digest) = match (&plan.index, plan.all_platforms) {
        (Some(_), true) => (plan.top.clone(), None),
        (Some(_), false) => match images.first() {
            Some(image) => (image.clone(), Some(plan.top.digest.to_string())),
            None => (plan.top.clone(), None),
        },
        (None, _) => (plan.top.clone(), None),
    };
    let name = reference.clone();
    let commit = blocking(store, move |store| {
        store.commit(staged, |index| {
            set_name(index, &target, &name, index_digest);
            Ok(())
        })
    });
    // Where these blobs live, so a push to another repository there can mount them. That
    // is true of the registry whether or not our commit succeeds, so the hint is written
    // beside the commit (on another blocking thread), not after it.
    let seen = plan.images.iter().flat_map(|i| {
        std::iter::once(&i.parsed.config)
            .chain(&i.parsed.layers)
            .map(|d| d.digest.clone())
    });
    let remember = crate::push::remember_pulled(store, reference, seen.collect());
    let (committed, ()) = futures_util::future::join(commit, remember).await;
    committed??;
    Ok(images)
}

/// Names an image the store already holds completely (a pull by digest with nothing to
/// download): `target` is an existing entry's, `index_digest` as in [`commit`].
pub(super) async fn name(
    store: &Store,
    reference: &Reference,
    target: Descriptor,
    index_digest: Option<String>,
) -> Result<()> {
    let name = reference.clone();
    blocking(store, move |store| {
        store.commit(Vec::new(), |index| {
            set_name(index, &target, &name, index_digest);
            Ok(())
        })
    })
    .await??;
    Ok(())
}

fn set_name(
    index: &mut wharf_spec::ImageIndex,
    target: &Descriptor,
    name: &Reference,
    index_digest: Option<String>,
) {
    names::set_name(index, target, name, None);
    let key = name.canonical().to_string();
    if let Some(entry) = index
        .manifests
        .iter_mut()
        .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(key.as_str()))
    {
        entry.set_annotation(ANNOTATION_PULLED, "true");
        if let Some(index_digest) = index_digest {
            entry.set_annotation(ANNOTATION_INDEX_DIGEST, index_digest);
        }
    }
}
