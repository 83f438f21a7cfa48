//! Editing the names in `index.json`: one entry per name, a name points at exactly one
//! image, and an image that loses its last name stays as a dangling entry (Docker's
//! `<none>:<none>`) until `wharf image prune` removes it.

use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{Descriptor, Digest, ImageIndex, Reference};

use crate::catalog::{ANNOTATION_LAST_TAG_TIME, ANNOTATION_PULLED};
use crate::pull::ANNOTATION_INDEX_DIGEST;

fn entry_name(d: &Descriptor) -> Option<&str> {
    d.annotation(ANNOTATION_REF_NAME)
}

/// Points `name` at `target`, moving it off whatever it named before.
pub fn set_name(
    index: &mut ImageIndex,
    target: &Descriptor,
    name: &Reference,
    tagged_at: Option<&str>,
) {
    let key = name.canonical().to_string();
    let displaced: Vec<Descriptor> = index
        .manifests
        .iter()
        .filter(|d| entry_name(d) == Some(key.as_str()) && d.digest != target.digest)
        .cloned()
        .collect();
    index.manifests.retain(|d| {
        let same_name = entry_name(d) == Some(key.as_str());
        let dangling_copy = entry_name(d).is_none() && d.digest == target.digest;
        !same_name && !dangling_copy
    });
    let mut entry = target.clone();
    entry.annotations = None;
    entry.set_annotation(ANNOTATION_REF_NAME, key);
    if let Some(at) = tagged_at {
        entry.set_annotation(ANNOTATION_LAST_TAG_TIME, at);
    }
    index.manifests.push(entry);
    for old in &displaced {
        add_unnamed(index, old);
    }
}

/// Points `name` at `target` as a pull does: marked pulled (so `RepoDigests` shows the
/// name), with no tag time (Docker records none for a pull), and, for one platform of an
/// index, the index's digest.
pub fn set_pulled_name(
    index: &mut ImageIndex,
    target: &Descriptor,
    name: &Reference,
    index_digest: Option<String>,
) {
    set_name(index, target, name, None);
    let key = name.canonical().to_string();
    if let Some(entry) = index
        .manifests
        .iter_mut()
        .find(|d| entry_name(d) == Some(key.as_str()))
    {
        entry.set_annotation(ANNOTATION_PULLED, "true");
        if let Some(index_digest) = index_digest {
            entry.set_annotation(ANNOTATION_INDEX_DIGEST, index_digest);
        }
    }
}

/// Removes the entry for `name` and returns it.
pub fn remove_name(index: &mut ImageIndex, name: &Reference) -> Option<Descriptor> {
    let key = name.canonical().to_string();
    let pos = index
        .manifests
        .iter()
        .position(|d| entry_name(d) == Some(key.as_str()))?;
    Some(index.manifests.remove(pos))
}

/// Adds an unnamed entry for `target` unless some entry already points at it.
pub fn add_unnamed(index: &mut ImageIndex, target: &Descriptor) {
    if index.manifests.iter().any(|d| d.digest == target.digest) {
        return;
    }
    let mut entry = target.clone();
    entry.annotations = None;
    index.manifests.push(entry);
}

/// Removes every entry, named or not, that points at `digest`.
pub fn remove_image(index: &mut ImageIndex, digest: &Digest) -> Vec<Descriptor> {
    let (removed, kept) = index.manifests.drain(..).partition(|d| &d.digest == digest);
    index.manifests = kept;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_spec::media_type::OCI_MANIFEST;

    fn desc(byte: u8) -> Descriptor {
        Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[byte]), 10)
    }

    fn r(s: &str) -> Reference {
        Reference::parse_normalized(s).unwrap()
    }

    #[test]
    fn a_name_moves_and_the_old_image_stays_dangling() {
        let mut index = ImageIndex::empty();
        set_name(&mut index, &desc(1), &r("app:1"), None);
        set_name(&mut index, &desc(2), &r("app:1"), None);
        assert_eq!(index.manifests.len(), 2);
        let named: Vec<_> = index
            .manifests
            .iter()
            .filter_map(|d| entry_name(d))
            .collect();
        assert_eq!(named, vec!["docker.io/library/app:1"]);
        let dangling = index
            .manifests
            .iter()
            .find(|d| entry_name(d).is_none())
            .unwrap();
        assert_eq!(dangling.digest, desc(1).digest);
    }

    #[test]
    fn naming_a_dangling_image_replaces_its_unnamed_entry() {
        let mut index = ImageIndex::empty();
        add_unnamed(&mut index, &desc(1));
        add_unnamed(&mut index, &desc(1));
        assert_eq!(index.manifests.len(), 1);
        set_name(
            &mut index,
            &desc(1),
            &r("app"),
            Some("2026-01-01T00:00:00Z"),
        );
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(
            entry_name(&index.manifests[0]),
            Some("docker.io/library/app:latest")
        );
        assert_eq!(
            index.manifests[0].annotation(ANNOTATION_LAST_TAG_TIME),
            Some("2026-01-01T00:00:00Z")
        );
    }
}
