//! What a pull has to do: whether the store is already up to date, which manifests and
//! configs the reference resolves to, and which blobs are missing.

use bytes::Bytes;
use wharf_client::{Client, ClientError};
use wharf_spec::media_type::{self, Kind};
use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{
    Descriptor, Digest, ImageConfig, ImageManifest, Manifest, Platform, RawManifest, Reference,
};
use wharf_store::{StagedBlob, Store};

use super::fetch::blocking;
use super::record::ANNOTATION_INDEX_DIGEST;
use super::PullOptions;
use crate::catalog::{self, Entry};
use crate::error::{ImageError, Result};

/// The resolved reference: the top manifest or index and the images to pull from it.
pub(super) struct Plan {
    /// What the reference names (an index or a manifest), as the registry described it.
    pub top: Descriptor,
    /// The index, when the reference names one.
    pub index: Option<RawManifest>,
    pub all_platforms: bool,
    pub images: Vec<PlannedImage>,
}

pub(super) struct PlannedImage {
    /// The manifest's descriptor; from an index, with the index entry's platform.
    pub descriptor: Descriptor,
    pub manifest: RawManifest,
    pub parsed: ImageManifest,
}

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

/// Fetches the manifest (and, for an index, the platform's manifests). The configs come
/// later, with [`stage_documents`], while the layers download.
pub(super) async fn resolve(
    client: &Client,
    reference: &Reference,
    options: &PullOptions,
) -> Result<Plan> {
    let top = client.resolve(reference).await?;
    let mut images = Vec::new();
    let index = match top.index() {
        None => {
            images.push(planned(top.descriptor.clone(), top.manifest.clone())?);
            None
        }
        Some(_) if !options.all_platforms => {
            // Follows nested indexes to the platform's image manifest.
            let wanted = options.platform.clone().unwrap_or_else(Platform::host);
            let image = client.select_platform_nested(&top, &wanted).await?;
            images.push(planned(image.descriptor, image.manifest)?);
            Some(top.manifest.clone())
        }
        Some(index) => {
            for descriptor in index.manifests.clone() {
                if media_type::kind(&descriptor.media_type) != Kind::Manifest {
                    return Err(ImageError::Invalid(format!(
                        "index `{}` lists `{}` of type `{}`; `--all-platforms` pulls image manifests only (pull one platform with `--platform`)",
                        top.descriptor.digest, descriptor.digest, descriptor.media_type
                    )));
                }
                let fetched = client.fetch_manifest(reference, &descriptor).await?;
                images.push(planned(descriptor, fetched.manifest)?);
            }
            Some(top.manifest.clone())
        }
    };
    Ok(Plan {
        top: top.descriptor,
        index,
        all_platforms: options.all_platforms,
        images,
    })
}

fn planned(descriptor: Descriptor, manifest: RawManifest) -> Result<PlannedImage> {
    let parsed = match manifest.manifest() {
        Manifest::Image(m) => m.clone(),
        Manifest::Index(_) => {
            return Err(ImageError::Invalid(format!(
                "`{}`: an index entry for a platform points at another index",
                descriptor.digest
            )))
        }
    };
    Ok(PlannedImage {
        descriptor,
        manifest,
        parsed,
    })
}

/// An image config must describe one diff_id per layer; other artifacts' configs are
/// not image configs and are taken as they are.
fn check_config(manifest: &ImageManifest, config: &[u8]) -> Result<()> {
    if media_type::kind(&manifest.config.media_type) != Kind::Config {
        return Ok(());
    }
    let parsed = ImageConfig::parse(config).map_err(|source| ImageError::Config {
        digest: manifest.config.digest.clone(),
        source,
    })?;
    let (diff_ids, layers) = (parsed.rootfs.diff_ids.len(), manifest.layers.len());
    if diff_ids != layers {
        return Err(ImageError::Invalid(format!(
            "image config `{}` lists {}, but the manifest has {}",
            manifest.config.digest,
            crate::count::count(diff_ids, "layer diff_id"),
            crate::count::count(layers, "layer")
        )));
    }
    Ok(())
}

/// The layers to download (each once, in manifest order) and those already stored.
pub(super) async fn missing_blobs(
    store: &Store,
    plan: &Plan,
) -> Result<(Vec<Descriptor>, Vec<Digest>)> {
    let mut layers: Vec<Descriptor> = Vec::new();
    for image in &plan.images {
        for layer in &image.parsed.layers {
            if !layers.iter().any(|l| l.digest == layer.digest) {
                layers.push(layer.clone());
            }
        }
    }
    blocking(store, move |store| {
        let mut missing = Vec::new();
        let mut present = Vec::new();
        for layer in layers {
            match store.blob_size(&layer.digest)? {
                Some(size) if size == layer.size => present.push(layer.digest),
                _ => missing.push(layer),
            }
        }
        Ok((missing, present))
    })
    .await?
}

/// A config or manifest to stage: its exact bytes and digest.
pub(super) type Document = (Bytes, Digest);

/// Fetches and checks every config, and lists the exact bytes of each config and manifest
/// (and the index, when all of its platforms are pulled) to stage. Runs beside the layer
/// downloads, so a config request no longer delays the first layer request by a round
/// trip; nothing is written here, so a pull killed meanwhile leaves no temp files.
pub(super) async fn fetch_documents(
    client: &Client,
    reference: &Reference,
    plan: &Plan,
) -> Result<Vec<Document>> {
    let mut documents: Vec<Document> = Vec::new();
    for image in &plan.images {
        // Configs are small (the client refuses more than 4 MiB) and needed whole to check.
        let config = client
            .fetch_blob_bytes(reference, &image.parsed.config)
            .await?;
        check_config(&image.parsed, &config)?;
        documents.push((config, image.parsed.config.digest.clone()));
        documents.push((
            Bytes::copy_from_slice(image.manifest.bytes()),
            image.descriptor.digest.clone(),
        ));
    }
    if let (true, Some(index)) = (plan.all_platforms, &plan.index) {
        documents.push((
            Bytes::copy_from_slice(index.bytes()),
            plan.top.digest.clone(),
        ));
    }
    Ok(documents)
}

/// Stages the documents [`fetch_documents`] returned.
pub(super) async fn stage_documents(
    store: &Store,
    documents: Vec<Document>,
) -> Result<Vec<StagedBlob>> {
    blocking(store, move |store| {
        documents
            .iter()
            .map(|(bytes, digest)| Ok(store.stage_bytes(bytes, digest.algorithm())?))
            .collect::<Result<Vec<_>>>()
    })
    .await?
}
