//! What images the store holds: `index.json` entries read as named images, resolved to
//! one platform's manifest and config, and looked up the ways Docker users expect
//! (name, full or short ID, `name@digest`).

use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{
    Descriptor, Digest, ImageConfig, ImageIndex, ImageManifest, Manifest, Platform, RawManifest,
    Reference, MAX_MANIFEST_SIZE,
};
use wharf_store::Store;

use crate::error::{ImageError, Result};

/// When an image was last given a name with `wharf tag` (Docker's `Metadata.LastTagTime`).
pub const ANNOTATION_LAST_TAG_TIME: &str = "dev.wharf.last-tag-time";

/// On an entry a pull wrote: the name came from a registry, so the image is known there by
/// its digest (Docker's `RepoDigests`). Names from archives, `tag` or builds lack it.
pub const ANNOTATION_PULLED: &str = "dev.wharf.pulled";

/// One `index.json` entry: a name (or none, for a dangling image) and what it points at.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Option<Reference>,
    pub target: Descriptor,
}

impl Entry {
    pub fn from_descriptor(target: &Descriptor) -> Entry {
        let name = target
            .annotation(ANNOTATION_REF_NAME)
            .and_then(|n| Reference::parse_normalized(n).ok());
        Entry {
            name,
            target: target.clone(),
        }
    }

    /// Whether a pull wrote this entry ([`ANNOTATION_PULLED`]).
    pub fn pulled(&self) -> bool {
        self.target.annotation(ANNOTATION_PULLED).is_some()
    }

    pub fn last_tag_time(&self) -> Option<&str> {
        self.target.annotation(ANNOTATION_LAST_TAG_TIME)
    }
}

pub fn entries(index: &ImageIndex) -> Vec<Entry> {
    index.manifests.iter().map(Entry::from_descriptor).collect()
}

/// An image narrowed to one platform: the manifest and config a container would use.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The `index.json` target (an index for a multi-platform image).
    pub target: Descriptor,
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config_descriptor: Descriptor,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
}

impl Resolved {
    /// Docker's image ID: the digest of the config bytes.
    pub fn id(&self) -> &Digest {
        &self.config_descriptor.digest
    }
}

pub fn read_manifest(store: &Store, descriptor: &Descriptor) -> Result<RawManifest> {
    let bytes = store.read_blob(&descriptor.digest, MAX_MANIFEST_SIZE)?;
    parse_manifest(bytes, descriptor)
}

/// Parses the bytes `descriptor` names as the manifest or index it says they are.
pub fn parse_manifest(bytes: Vec<u8>, descriptor: &Descriptor) -> Result<RawManifest> {
    RawManifest::parse_with(
        bytes,
        Some(&descriptor.media_type),
        descriptor.digest.algorithm(),
    )
    .map_err(|source| ImageError::Manifest {
        digest: descriptor.digest.clone(),
        source,
    })
}

/// Resolves a target to one image manifest: an index picks `platform` (the host's when
/// none is given) among the children present in the store.
pub fn resolve(
    store: &Store,
    target: &Descriptor,
    platform: Option<&Platform>,
) -> Result<Resolved> {
    let raw = read_manifest(store, target)?;
    let (manifest_descriptor, manifest) = match raw.manifest() {
        Manifest::Image(m) => (target.clone(), m.clone()),
        Manifest::Index(index) => {
            let child = pick_platform(store, &target.digest, index, platform)?;
            match read_manifest(store, &child)?.manifest() {
                Manifest::Image(m) => (child.clone(), m.clone()),
                Manifest::Index(_) => {
                    return Err(ImageError::Invalid(format!(
                        "`{}` is listed as an image manifest, but it is an index",
                        child.digest
                    )))
                }
            }
        }
    };
    let config_descriptor = manifest.config.clone();
    let config_bytes = store.read_blob(&config_descriptor.digest, MAX_MANIFEST_SIZE)?;
    let config = ImageConfig::parse(&config_bytes).map_err(|source| ImageError::Config {
        digest: config_descriptor.digest.clone(),
        source,
    })?;
    Ok(Resolved {
        target: target.clone(),
        manifest_descriptor,
        manifest,
        config_descriptor,
        config_bytes,
        config,
    })
}

/// The image manifest for `platform` among the children of `index` present in the store,
/// following entries that are indexes themselves (as a pull does) up to
/// `MAX_INDEX_DEPTH` indexes deep.
fn pick_platform(
    store: &Store,
    digest: &Digest,
    index: &ImageIndex,
    platform: Option<&Platform>,
) -> Result<Descriptor> {
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    let mut available = Vec::new();
    let mut seen = vec![digest.clone()];
    if let Some(found) = pick_in(
        store,
        index,
        platform,
        &wanted,
        1,
        &mut seen,
        &mut available,
    )? {
        return Ok(found);
    }
    Err(ImageError::PlatformNotFound {
        wanted: wanted.to_string(),
        available: available.join(", "),
    })
}

/// One level of [`pick_platform`]; `available` collects the platforms images were seen for.
fn pick_in(
    store: &Store,
    index: &ImageIndex,
    platform: Option<&Platform>,
    wanted: &Platform,
    depth: usize,
    seen: &mut Vec<Digest>,
    available: &mut Vec<String>,
) -> Result<Option<Descriptor>> {
    let of_kind = |kind: Kind| {
        index
            .manifests
            .iter()
            .filter(move |d| media_type::kind(&d.media_type) == kind)
    };
    let present = |d: &&Descriptor| matches!(store.blob_size(&d.digest), Ok(Some(_)));
    if let Some(found) = of_kind(Kind::Manifest)
        .filter(present)
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
    {
        return Ok(Some(found.clone()));
    }
    // An index written for one platform only (or without platforms) still has one image.
    if platform.is_none() && depth == 1 {
        let mut candidates = of_kind(Kind::Manifest).filter(present);
        if let (Some(only), None) = (candidates.next(), candidates.next()) {
            return Ok(Some(only.clone()));
        }
    }
    available.extend(of_kind(Kind::Manifest).map(|d| {
        d.platform
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into())
    }));
    // Those that may hold the platform first; the others too, so that the error lists
    // what they really hold.
    let (mut nested, others): (Vec<&Descriptor>, Vec<&Descriptor>) = of_kind(Kind::Index)
        .filter(present)
        .partition(|d| d.platform.as_ref().is_none_or(|p| wanted.matches(p)));
    nested.extend(others);
    for child in nested {
        if seen.contains(&child.digest) {
            continue;
        }
        if depth >= wharf_client::MAX_INDEX_DEPTH {
            return Err(ImageError::Invalid(format!(
                "index `{}` is nested more than {} indexes deep; wharf follows {}",
                child.digest,
                wharf_client::MAX_INDEX_DEPTH,
                wharf_client::MAX_INDEX_DEPTH
            )));
        }
        seen.push(child.digest.clone());
        if let Manifest::Index(inner) = read_manifest(store, child)?.manifest() {
            if let Some(found) =
                pick_in(store, inner, platform, wanted, depth + 1, seen, available)?
            {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// An image as users address it: the target and every name pointing at it.
#[derive(Debug, Clone)]
pub struct Found {
    pub names: Vec<Reference>,
    /// The names a pull wrote: the repositories a registry knows the image in.
    pub pulled_names: Vec<Reference>,
    /// The name the user typed, when they typed one.
    pub matched_name: Option<Reference>,
    pub resolved: Resolved,
}

/// Finds an image by name (`redis`, `redis:7`), `name@digest`, full ID or short ID prefix.
pub fn find(store: &Store, input: &str, platform: Option<&Platform>) -> Result<Found> {
    let index = store.read_index()?;
    let all = entries(&index);
    if let Ok(reference) = Reference::parse_normalized(input) {
        if let Some(found) = find_by_reference(store, &all, &reference, platform)? {
            return Ok(found);
        }
    }
    find_by_id(store, &all, input, platform)
}

fn find_by_reference(
    store: &Store,
    all: &[Entry],
    reference: &Reference,
    platform: Option<&Platform>,
) -> Result<Option<Found>> {
    if let Some(digest) = reference.digest() {
        // `name@digest`: the digest decides (a tag given beside it is ignored, as Docker
        // does), within that repository only: another repository's image is not this one.
        let same_repo = |e: &&Entry| {
            e.name
                .as_ref()
                .is_some_and(|n| n.name() == reference.name())
        };
        for entry in all.iter().filter(same_repo) {
            // A pull by an index's digest names one platform's manifest `name@index-digest`.
            let named_so = entry.name.as_ref().and_then(Reference::digest) == Some(digest);
            if &entry.target.digest == digest || named_so {
                return found_for(store, all, &entry.target, None, platform).map(Some);
            }
            if let Some(child) = child_with_digest(store, &entry.target, digest)? {
                let mut found = found_for(store, all, &entry.target, None, platform)?;
                found.resolved = resolve(store, &child, None)?;
                return Ok(Some(found));
            }
        }
        return Ok(None);
    }
    let wanted = reference.canonical();
    match all.iter().find(|e| e.name.as_ref() == Some(&wanted)) {
        Some(entry) => found_for(store, all, &entry.target, Some(wanted), platform).map(Some),
        None => Ok(None),
    }
}

fn child_with_digest(
    store: &Store,
    target: &Descriptor,
    digest: &Digest,
) -> Result<Option<Descriptor>> {
    if media_type::kind(&target.media_type) != Kind::Index {
        return Ok(None);
    }
    Ok(match read_manifest(store, target)?.manifest() {
        Manifest::Index(i) => i.manifests.iter().find(|d| &d.digest == digest).cloned(),
        Manifest::Image(_) => None,
    })
}

fn find_by_id(
    store: &Store,
    all: &[Entry],
    input: &str,
    platform: Option<&Platform>,
) -> Result<Found> {
    let not_found = || ImageError::NotFound(input.to_string());
    let hex = input
        .strip_prefix("sha256:")
        .or_else(|| input.strip_prefix("sha512:"))
        .unwrap_or(input);
    if hex.is_empty()
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(not_found());
    }
    // (target, image ID): one image reached through several targets (an index and a
    // docker-archive's manifest of the same config) is still one image, as in Docker.
    let mut matches: Vec<(Descriptor, Digest)> = Vec::new();
    for entry in all {
        if matches.iter().any(|(m, _)| m.digest == entry.target.digest) {
            continue;
        }
        let Ok(resolved) = resolve(store, &entry.target, platform) else {
            continue;
        };
        if resolved.id().hex().starts_with(hex) || entry.target.digest.hex().starts_with(hex) {
            matches.push((entry.target.clone(), resolved.id().clone()));
        }
    }
    let same_image = matches.windows(2).all(|w| w[0].1 == w[1].1);
    match matches.len() {
        0 => Err(not_found()),
        _ if same_image => found_for(store, all, &matches[0].0, None, platform),
        count => Err(ImageError::Ambiguous {
            input: input.to_string(),
            count,
        }),
    }
}

fn found_for(
    store: &Store,
    all: &[Entry],
    target: &Descriptor,
    matched_name: Option<Reference>,
    platform: Option<&Platform>,
) -> Result<Found> {
    let pulled_names = all
        .iter()
        .filter(|e| e.target.digest == target.digest && e.pulled())
        .filter_map(|e| e.name.clone())
        .collect();
    Ok(Found {
        names: names_of(all, &target.digest),
        pulled_names,
        matched_name,
        resolved: resolve(store, target, platform)?,
    })
}

/// Every name pointing at `digest`, in `index.json` order.
pub fn names_of(all: &[Entry], digest: &Digest) -> Vec<Reference> {
    all.iter()
        .filter(|e| &e.target.digest == digest)
        .filter_map(|e| e.name.clone())
        .collect()
}

/// The distinct images in the store, in `index.json` order, each with its names.
pub fn images(index: &ImageIndex) -> Vec<(Descriptor, Vec<Reference>)> {
    let all = entries(index);
    let mut out: Vec<(Descriptor, Vec<Reference>)> = Vec::new();
    for entry in &all {
        if out.iter().any(|(d, _)| d.digest == entry.target.digest) {
            continue;
        }
        out.push((entry.target.clone(), names_of(&all, &entry.target.digest)));
    }
    out
}
