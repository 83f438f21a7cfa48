//! Walking an OCI image layout's graph (`index.json` → indexes → manifests → config and
//! layers) over any source of blobs: a directory or an archive's staged members.
//! Every manifest and config is parsed and checked; every blob must be present.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use wharf_spec::descriptor::{ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME};
use wharf_spec::media_type::{self, Kind};
use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{
    Descriptor, Digest, ImageConfig, ImageIndex, Manifest, RawManifest, Reference,
    MAX_MANIFEST_SIZE,
};
use wharf_store::{StagedBlob, Store};

use super::members::Members;
use super::naming::Candidate;
use crate::error::{ImageError, Result};

/// Where a layout's blobs come from.
pub trait BlobSource {
    /// A manifest or config: read whole (capped), digest and size checked.
    fn read_small(&mut self, descriptor: &Descriptor) -> Result<Vec<u8>>;
    /// A layer or other blob: make sure it is staged or already in the store.
    fn require(&mut self, descriptor: &Descriptor, referenced_by: &Digest) -> Result<()>;
}

pub fn parse_index(path: &Path, bytes: &[u8]) -> Result<ImageIndex> {
    let index: ImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::archive(path, format!("`index.json` is malformed: {e}")))?;
    if index.schema_version != 2 {
        return Err(ImageError::archive(
            path,
            format!(
                "`index.json` has schemaVersion {}, expected 2",
                index.schema_version
            ),
        ));
    }
    Ok(index)
}

pub fn check_layout_file(path: &Path, bytes: &[u8]) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct LayoutFile {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let layout: LayoutFile = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::archive(path, format!("`oci-layout` is malformed: {e}")))?;
    if !layout.version.starts_with("1.") {
        return Err(ImageError::archive(
            path,
            format!(
                "unsupported OCI layout version `{}` (wharf reads 1.x)",
                layout.version
            ),
        ));
    }
    Ok(())
}

/// Whether an `index.json` entry is an image (a manifest or an index; schema1 too, to be
/// refused where it is met) rather than an artifact.
pub fn is_image_entry(entry: &Descriptor) -> bool {
    matches!(
        media_type::kind(&entry.media_type),
        Kind::Manifest | Kind::Index | Kind::Schema1
    )
}

/// Checks every entry's graph and returns the entries as images to name, with every
/// digest their graphs reach. A referrer's subject may live elsewhere: it is not required
/// ([`Policy::IMAGE`]); non-distributable layers are, when an image lists them.
pub fn walk_index(
    source: &mut dyn BlobSource,
    index: &ImageIndex,
) -> Result<(Vec<Candidate>, BTreeSet<Digest>)> {
    // Artifacts at the top of a layout are not images: leave them. A schema1 entry is
    // walked, and refused there like one met deeper.
    let roots: Vec<Descriptor> = index
        .manifests
        .iter()
        .filter(|entry| is_image_entry(entry))
        .cloned()
        .collect();
    let candidates = roots.iter().map(candidate_for).collect();
    let policy = Policy {
        foreign_layers: true,
        ..Policy::IMAGE
    };
    let mut reached = BTreeSet::new();
    // Configs read (and checked) with their manifest: not required a second time.
    let mut configs = BTreeSet::new();
    let mut walk = Walker::from_roots(roots, policy);
    while let Some(step) = walk.next() {
        match step {
            Step::Read(descriptor) => {
                reached.insert(descriptor.digest.clone());
                let raw = read_manifest(source, &descriptor, &mut configs)?;
                walk.manifest(&descriptor, raw);
            }
            Step::Blob(blob) => {
                reached.insert(blob.digest.clone());
                match media_type::kind(&blob.media_type) {
                    Kind::Schema1 => return Err(ImageError::schema1(&blob)),
                    _ if configs.contains(&blob.digest) => {}
                    _ => {
                        let parent = walk.parent().cloned().unwrap_or(blob.digest.clone());
                        source.require(&blob, &parent)?;
                    }
                }
            }
            Step::Done(..) => {}
        }
    }
    Ok((candidates, reached))
}

/// Reads and parses a manifest; for an image, reads its config too and checks that it
/// has a diff_id for every layer.
fn read_manifest(
    source: &mut dyn BlobSource,
    descriptor: &Descriptor,
    configs: &mut BTreeSet<Digest>,
) -> Result<RawManifest> {
    let raw = crate::catalog::parse_manifest(source.read_small(descriptor)?, descriptor)?;
    if let Manifest::Image(m) = raw.manifest() {
        if media_type::kind(&m.config.media_type) == Kind::Config
            && configs.insert(m.config.digest.clone())
        {
            let config = source.read_small(&m.config)?;
            let parsed = ImageConfig::parse(&config).map_err(|source| ImageError::Config {
                digest: m.config.digest.clone(),
                source,
            })?;
            if parsed.rootfs.diff_ids.len() != m.layers.len() {
                return Err(ImageError::Invalid(format!(
                    "manifest `{}` lists {} but its config has {}",
                    descriptor.digest,
                    crate::count::count(m.layers.len(), "layer"),
                    crate::count::count(parsed.rootfs.diff_ids.len(), "diff_id")
                )));
            }
        }
    }
    Ok(raw)
}

/// How an entry names itself: a full name (containerd's annotation, or a ref.name that is a
/// full reference) or only a tag (the OCI layout convention, e.g. `bookworm`).
fn candidate_for(entry: &Descriptor) -> Candidate {
    let mut target = entry.clone();
    target.annotations = None;
    let full = entry
        .annotation(ANNOTATION_CONTAINERD_IMAGE_NAME)
        .and_then(|n| Reference::parse_normalized(n).ok());
    let ref_name = entry.annotation(ANNOTATION_REF_NAME);
    let looks_like_tag = |n: &&str| !n.contains('/') && !n.contains(':') && !n.contains('@');
    let (names, tag_only) = match (full, ref_name) {
        (Some(name), _) => (vec![name.canonical()], None),
        (None, Some(n)) if looks_like_tag(&n) => (vec![], Some(n.to_string())),
        (None, Some(n)) => match Reference::parse_normalized(n) {
            Ok(name) if name.digest().is_none() => (vec![name.canonical()], None),
            _ => (vec![], None),
        },
        (None, None) => (vec![], None),
    };
    Candidate {
        target,
        names,
        tag_only,
        known_layers: Vec::new(),
    }
}

/// An OCI layout read out of a tar archive (OCI archive, or Docker ≥ 25's `docker save`).
pub fn from_members(
    store: &Store,
    path: &Path,
    members: Members,
) -> Result<(Vec<Candidate>, Vec<StagedBlob>)> {
    if let Some(layout) = members.small.get("oci-layout") {
        check_layout_file(path, layout)?;
    }
    let index = parse_index(path, &members.small["index.json"])?;
    let mut source = MemberSource {
        store,
        path,
        members: &members,
    };
    let (candidates, reached) = walk_index(&mut source, &index)?;
    Ok((candidates, members.into_staged_only(&reached)))
}

struct MemberSource<'a> {
    store: &'a Store,
    path: &'a Path,
    members: &'a Members,
}

impl MemberSource<'_> {
    fn missing(&self, descriptor: &Descriptor, referenced_by: Option<&Digest>) -> ImageError {
        let by = referenced_by.map_or(String::new(), |d| format!(" (referenced by `{d}`)"));
        ImageError::archive(
            self.path,
            format!(
                "blob `{}`{by} is missing from the archive",
                descriptor.digest
            ),
        )
    }
}

impl BlobSource for MemberSource<'_> {
    fn read_small(&mut self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if descriptor.size > MAX_MANIFEST_SIZE {
            return Err(ImageError::Invalid(format!(
                "`{}` is {} bytes, over the {MAX_MANIFEST_SIZE}-byte limit for manifests and configs",
                descriptor.digest, descriptor.size
            )));
        }
        let bytes = match self.members.staged(&descriptor.digest) {
            Some(staged) => read_staged(staged)?,
            None if self.store.blob_size(&descriptor.digest)?.is_some() => self
                .store
                .read_blob(&descriptor.digest, MAX_MANIFEST_SIZE)?,
            None => return Err(self.missing(descriptor, None)),
        };
        check_size(descriptor, bytes.len() as u64)?;
        Ok(bytes)
    }

    fn require(&mut self, descriptor: &Descriptor, referenced_by: &Digest) -> Result<()> {
        let size = match self.members.staged(&descriptor.digest) {
            Some(staged) => Some(staged.size()),
            None => self.store.blob_size(&descriptor.digest)?,
        };
        match size {
            Some(size) => check_size(descriptor, size),
            None => Err(self.missing(descriptor, Some(referenced_by))),
        }
    }
}

pub fn check_size(descriptor: &Descriptor, actual: u64) -> Result<()> {
    if descriptor.size != actual {
        return Err(ImageError::Invalid(format!(
            "blob `{}` is {actual} bytes but its descriptor says {}",
            descriptor.digest, descriptor.size
        )));
    }
    Ok(())
}

/// A staged blob was verified when it was written; reading it back is a small file read.
pub fn read_staged(staged: &StagedBlob) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let file = std::fs::File::open(staged.path()).map_err(ImageError::io(format!(
        "reading staged blob `{}`",
        staged.digest()
    )))?;
    file.take(MAX_MANIFEST_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(ImageError::io(format!(
            "reading staged blob `{}`",
            staged.digest()
        )))?;
    Ok(bytes)
}
