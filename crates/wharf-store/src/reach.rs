//! The descriptor graph walk shared by commit (strict: the first problem is an error),
//! gc and fsck (lenient: problems are collected).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::media_type::{self, Kind};
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
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<(Descriptor, String)> = roots.into();
    while let Some((desc, referenced_by)) = queue.pop_front() {
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        let size = match source.state(&desc.digest)? {
            BlobState::Regular(size) => size,
            // A symlink where a blob should be is never followed, so the blob is missing.
            BlobState::Absent | BlobState::NotRegular(_) => {
                if is_external(&desc) {
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
        let noun = match media_type::kind(&desc.media_type) {
            Kind::Manifest => "manifest",
            Kind::Index => "index",
            _ => continue,
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
                let child_of = format!("{noun} `{}`", desc.digest);
                for child in raw.manifest().children() {
                    queue.push_back((child.clone(), child_of.clone()));
                }
            }
            Err(e) if strict => return Err(e),
            Err(e) => out.unreadable.push((desc.digest, e.to_string())),
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
