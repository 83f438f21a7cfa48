//! The descriptor graph walk shared by commit (strict: the first problem is an error),
//! gc and fsck (lenient: problems are collected).

use std::collections::BTreeMap;
use std::path::Path;

use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{Descriptor, Digest, RawManifest, MAX_MANIFEST_SIZE};

use crate::error::StoreError;
use crate::layout::{read_verified, BlobState, Store};
use crate::StagedBlob;

/// What `index.json` reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reachability {
    /// Reachable blobs that exist, with their sizes.
    pub present: BTreeMap<Digest, u64>,
    /// Reachable blobs that do not exist, each with who references it.
    pub missing: Vec<(Digest, String)>,
    /// Manifests that exist but cannot be read or parsed (corrupt, oversized, not a
    /// manifest): what they reference is unknown, so nothing may be judged unreachable.
    pub unreadable: Vec<(Digest, String)>,
}

/// Where the walk looks blobs up: the committed store, or the store plus the blobs a
/// commit is about to publish.
pub(crate) trait BlobSource {
    fn state(&self, digest: &Digest) -> Result<BlobState, StoreError>;
    fn read_manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError>;
}

impl BlobSource for Store {
    fn state(&self, digest: &Digest) -> Result<BlobState, StoreError> {
        self.blob_state(digest)
    }
    fn read_manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.read_blob(digest, MAX_MANIFEST_SIZE)
    }
}

pub(crate) struct WithStaged<'a> {
    pub(crate) store: &'a Store,
    pub(crate) staged: &'a [StagedBlob],
}

impl WithStaged<'_> {
    fn find(&self, digest: &Digest) -> Option<&StagedBlob> {
        self.staged
            .iter()
            .find(|b| &b.digest == digest && b.source.file().is_some())
    }
}

impl BlobSource for WithStaged<'_> {
    fn state(&self, digest: &Digest) -> Result<BlobState, StoreError> {
        match self.find(digest) {
            Some(b) => Ok(BlobState::Regular(b.size)),
            None => self.store.blob_state(digest),
        }
    }
    fn read_manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        match self.find(digest).and_then(|b| b.source.file()) {
            Some(file) => read_verified(
                file,
                Path::new(&format!("staged blob {digest}")),
                digest,
                MAX_MANIFEST_SIZE,
            ),
            None => self.store.read_blob(digest, MAX_MANIFEST_SIZE),
        }
    }
}

/// How an `index.json` entry is named in messages.
pub(crate) fn index_entry_name(d: &Descriptor) -> String {
    match d.annotation(ANNOTATION_REF_NAME) {
        Some(name) => format!("`index.json` entry `{name}`"),
        None => format!("`index.json` entry `{}`", d.digest),
    }
}

/// Blobs the image-spec allows to live elsewhere (Windows base layers): a missing one is
/// expected, not damage.
fn is_external(d: &Descriptor) -> bool {
    media_type::is_non_distributable(&d.media_type)
        && d.urls.as_ref().is_some_and(|u| !u.is_empty())
}

pub(crate) fn walk(
    source: &dyn BlobSource,
    roots: Vec<(Descriptor, String)>,
    strict: bool,
) -> Result<Reachability, StoreError> {
    let mut out = Reachability::default();
    // How each root and each manifest read is named when it references a blob.
    let mut names: BTreeMap<Digest, String> = BTreeMap::new();
    for (desc, name) in &roots {
        names
            .entry(desc.digest.clone())
            .or_insert_with(|| name.clone());
    }
    let roots = roots.into_iter().map(|(d, _)| d).collect();
    let mut walk = Walker::from_roots(roots, Policy::REACH);
    while let Some(step) = walk.next() {
        let (desc, is_manifest) = match step {
            Step::Read(d) => (d, true),
            Step::Blob(d) => (d, false),
            Step::Done(..) => continue,
        };
        let referenced_by = walk
            .parent()
            .or(Some(&desc.digest))
            .and_then(|d| names.get(d))
            .cloned()
            .unwrap_or_default();
        let size = match source.state(&desc.digest)? {
            BlobState::Regular(size) => size,
            // A symlink where a blob should be is never followed, so the blob is missing.
            BlobState::Absent | BlobState::NotRegular(_) => {
                walk.skip(&desc);
                // A referrer's subject may live elsewhere (the distribution-spec lets a
                // signature be pushed before its image): kept when present, not required.
                if is_external(&desc) || walk.via_subject() {
                    continue;
                }
                if strict {
                    return Err(StoreError::MissingBlob {
                        digest: desc.digest,
                        referenced_by,
                    });
                }
                out.missing.push((desc.digest, referenced_by));
                continue;
            }
        };
        if strict && size != desc.size {
            return Err(StoreError::SizeMismatch {
                digest: desc.digest,
                expected: desc.size,
                actual: size,
            });
        }
        out.present.insert(desc.digest.clone(), size);
        if !is_manifest {
            continue;
        }
        let noun = match media_type::kind(&desc.media_type) {
            Kind::Index => "index",
            _ => "manifest",
        };
        let parsed = source.read_manifest(&desc.digest).and_then(|bytes| {
            RawManifest::parse_with(bytes, Some(&desc.media_type), desc.digest.algorithm()).map_err(
                |e| StoreError::InvalidManifest {
                    digest: desc.digest.clone(),
                    referenced_by: referenced_by.clone(),
                    reason: e.to_string(),
                },
            )
        });
        match parsed {
            Ok(raw) => {
                names.insert(desc.digest.clone(), format!("{noun} `{}`", desc.digest));
                walk.manifest(&desc, raw);
            }
            Err(e) if strict => return Err(e),
            Err(e) => {
                walk.skip(&desc);
                out.unreadable.push((desc.digest, e.to_string()));
            }
        }
    }
    Ok(out)
}

impl Store {
    /// Walks everything reachable from `index.json`: manifests to their config, layers,
    /// children and subject. Missing blobs are reported, not fatal.
    pub fn reachable(&self) -> Result<Reachability, StoreError> {
        let index = self.read_index()?;
        let roots = index
            .manifests
            .iter()
            .map(|d| (d.clone(), index_entry_name(d)))
            .collect();
        walk(self, roots, false)
    }
}
