//! Whether a pull has anything to do: the store already up to date with what the
//! reference names, or holding the image a digest names under another name.

use wharf_client::{Client, ClientError};
use wharf_spec::media_type::{self, Kind};
use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{Descriptor, Digest, Manifest, Platform, Reference};
use wharf_store::Store;

use super::record::ANNOTATION_INDEX_DIGEST;
use super::PullOptions;
use crate::catalog::{self, Entry};
use crate::error::Result;
use crate::store_task::blocking;

/// The digest `reference` names now: its own digest, else one `HEAD`. `None` when the
/// registry will not say with a `HEAD` (the full `GET` then decides).
pub(super) async fn head(client: &Client, reference: &Reference) -> Result<Option<Digest>> {
    if let Some(digest) = reference.digest() {
        return Ok(Some(digest.clone()));
    }
    match client.head_manifest(reference).await {
        Ok(descriptor) => Ok(Some(descriptor.digest)),
        Err(e @ (ClientError::Unauthorized { .. } | ClientError::Denied { .. })) => Err(e.into()),
        Err(e) if e.is_not_found() => Err(e.into()),
        // Some registries answer `HEAD` badly; the `GET` gives the real answer or error.
        Err(_) => Ok(None),
    }
}

/// What the store names `reference` now, if anything. When nothing, a pull has nothing
/// to be up to date with, and the `HEAD` that would tell is a round trip saved.
pub(super) async fn named_entry(store: &Store, reference: &Reference) -> Result<Option<Entry>> {
    let key = reference.to_string();
    blocking(store, move |store| {
        let index = store.read_index()?;
        Ok(catalog::entries(&index)
            .into_iter()
            .find(|e| e.name.as_ref().map(Reference::to_string).as_deref() == Some(key.as_str())))
    })
    .await?
}

/// Whether `entry` (what the store names the reference) is `digest` (for the platform
/// asked for), with every blob present.
pub(super) async fn is_up_to_date(
    store: &Store,
    entry: Entry,
    digest: &Digest,
    options: &PullOptions,
) -> Result<bool> {
    let digest = digest.clone();
    let options = options.clone();
    blocking(store, move |store| {
        if !entry_matches(&entry, &digest, &options) || !has_platform(store, &entry, &options)? {
            return Ok(false);
        }
        is_complete(store, &entry.target)
    })
    .await?
}

/// For a pull by digest: an image the store already holds completely, under any name,
/// that `digest` names (for the platform asked for). Returns the entry's target and, when
/// `digest` is an index's and the target one of its manifests, the index digest.
pub(super) async fn stored_image(
    store: &Store,
    digest: &Digest,
    options: &PullOptions,
) -> Result<Option<(Descriptor, Option<String>)>> {
    let digest = digest.clone();
    let options = options.clone();
    blocking(store, move |store| {
        let index = store.read_index()?;
        for entry in catalog::entries(&index) {
            if entry_matches(&entry, &digest, &options)
                && has_platform(store, &entry, &options)?
                && is_complete(store, &entry.target)?
            {
                let index_digest = (entry.target.digest != digest).then(|| digest.to_string());
                return Ok(Some((entry.target, index_digest)));
            }
        }
        Ok(None)
    })
    .await?
}

fn entry_matches(entry: &Entry, digest: &Digest, options: &PullOptions) -> bool {
    let target = &entry.target;
    if &target.digest == digest {
        // The index itself is named only by `--all-platforms`, so it has every platform.
        return true;
    }
    let digest = digest.to_string();
    if options.all_platforms || target.annotation(ANNOTATION_INDEX_DIGEST) != Some(digest.as_str())
    {
        return false;
    }
    let wanted = options.platform.clone().unwrap_or_else(Platform::host);
    target.platform.as_ref().is_some_and(|p| wanted.matches(p))
}

/// A named index (`--all-platforms`) is up to date for `--platform P` only if it has P.
fn has_platform(store: &Store, entry: &Entry, options: &PullOptions) -> Result<bool> {
    let (Some(wanted), Kind::Index) = (
        &options.platform,
        media_type::kind(&entry.target.media_type),
    ) else {
        return Ok(true);
    };
    Ok(
        match catalog::read_manifest(store, &entry.target)?.manifest() {
            Manifest::Index(index) => wharf_client::select_platform(index, wanted).is_some(),
            Manifest::Image(_) => false,
        },
    )
}

/// Every blob of the image under `target` is in the store (as a pull fetches it: not a
/// referrer's subject, not foreign layers).
fn is_complete(store: &Store, target: &Descriptor) -> Result<bool> {
    let mut walk = Walker::new(target.clone(), Policy::IMAGE);
    while let Some(step) = walk.next() {
        let descriptor = match &step {
            Step::Read(d) | Step::Blob(d) => d,
            Step::Done(..) => continue,
        };
        if store.blob_size(&descriptor.digest)? != Some(descriptor.size) {
            return Ok(false);
        }
        if let Step::Read(d) = step {
            let raw = catalog::read_manifest(store, &d)?;
            walk.manifest(&d, raw);
        }
    }
    Ok(true)
}
