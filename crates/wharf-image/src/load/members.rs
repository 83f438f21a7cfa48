//! One streaming pass over an archive's tar members: blobs are staged in the store as
//! they arrive (hashed in the same pass), small JSON documents are kept in memory, links
//! are remembered so later lookups can follow them inside the archive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Component, Path};

use wharf_spec::{Algorithm, Digest, MAX_MANIFEST_SIZE};
use wharf_store::{StagedBlob, Store};

use crate::error::{ImageError, Result};
use crate::ingest::{self, copy, Ingested, Origin};

/// Members are named by their normalized archive path (`blobs/sha256/…`, `abc/layer.tar`).
pub struct Members {
    /// Files under `blobs/<alg>/<hex>`, staged under the digest their name promises.
    pub blobs: BTreeMap<Digest, StagedBlob>,
    /// Blobs named by digest that the store already had.
    pub present: BTreeMap<Digest, u64>,
    /// Which digest a `blobs/` member or other large file turned out to be.
    pub by_name: BTreeMap<String, Digest>,
    /// Other large files (legacy layer tars), staged under the digest computed on the way.
    pub files: BTreeMap<Digest, StagedBlob>,
    /// Small JSON documents (`index.json`, `manifest.json`, legacy configs).
    pub small: BTreeMap<String, Vec<u8>>,
    /// Symlinks and hardlinks: name → archive path they resolve to.
    pub links: BTreeMap<String, String>,
}

impl Members {
    /// Follows links (bounded) to the member a name finally refers to.
    pub fn resolve<'a>(&'a self, name: &'a str) -> &'a str {
        let mut current = name;
        for _ in 0..16 {
            match self.links.get(current) {
                Some(next) => current = next,
                None => break,
            }
        }
        current
    }

    /// The digest of the large member `name` (after links), if it was staged or present.
    pub fn digest_of(&self, name: &str) -> Option<&Digest> {
        self.by_name.get(self.resolve(name))
    }

    /// A staged blob from this archive, whichever way it was named.
    pub fn staged(&self, digest: &Digest) -> Option<&StagedBlob> {
        self.blobs.get(digest).or_else(|| self.files.get(digest))
    }

    /// The staged blobs the images use; the rest (`VERSION` files, blobs no manifest
    /// names) are dropped, so a load adds nothing unreferenced to the store.
    pub fn into_staged_only(self, used: &BTreeSet<Digest>) -> Vec<StagedBlob> {
        self.blobs
            .into_iter()
            .chain(self.files)
            .filter(|(digest, _)| used.contains(digest))
            .map(|(_, blob)| blob)
            .collect()
    }
}

pub fn read<R: Read>(store: &Store, path: &Path, reader: R) -> Result<Members> {
    let mut members = Members {
        blobs: BTreeMap::new(),
        present: BTreeMap::new(),
        by_name: BTreeMap::new(),
        files: BTreeMap::new(),
        small: BTreeMap::new(),
        links: BTreeMap::new(),
    };
    let broken =
        |e: io::Error| ImageError::archive(path, format!("archive is truncated or corrupt: {e}"));
    let mut archive = tar::Archive::new(reader);
    let mut first = true;
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(|e| entry_error(path, first, e))?;
        first = false;
        let name = entry_name(path, &entry)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || name.is_empty() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let resolved = link_target(path, &name, &entry)?;
            if name.starts_with("blobs/") {
                return Err(ImageError::archive(
                    path,
                    format!("archive member `{name}` is a link; blobs must be regular files"),
                ));
            }
            members.links.insert(name, resolved);
            continue;
        }
        if !kind.is_file() && kind != tar::EntryType::Continuous {
            continue;
        }
        let size = entry.size();
        if let Some(digest) = blob_name(&name)
            .transpose()
            .map_err(|reason| ImageError::archive(path, reason))?
        {
            stage_named(store, path, &mut members, &name, digest, size, &mut entry)?;
        } else if is_small_document(&name) && size <= MAX_MANIFEST_SIZE {
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes).map_err(broken)?;
            check_complete(path, &name, bytes.len() as u64, size)?;
            members.small.insert(name, bytes);
        } else {
            let mut ingest = store.ingest_unknown(Algorithm::Sha256)?;
            let copied = copy(&mut entry, &mut ingest).map_err(broken)?;
            check_complete(path, &name, copied, size)?;
            let staged = ingest.finish()?;
            members.by_name.insert(name, staged.digest().clone());
            let digest = staged.digest().clone();
            members.files.entry(digest).or_insert(staged);
        }
    }
    Ok(members)
}

/// A broken member header: the first one means the file is not a tar at all.
pub(crate) fn entry_error(path: &Path, first: bool, e: io::Error) -> ImageError {
    if first {
        ImageError::archive(
            path,
            format!("not an image archive: not a tar file, plain or compressed ({e})"),
        )
    } else {
        ImageError::archive(path, format!("archive is truncated or corrupt: {e}"))
    }
}

/// A member's normalized name; an absolute path or one with `..` is refused, named.
pub(crate) fn entry_name<R: Read>(path: &Path, entry: &tar::Entry<R>) -> Result<String> {
    let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    normalize(&raw).ok_or_else(|| {
        ImageError::archive(
            path,
            format!("archive member `{raw}` has an unsafe path (absolute or with `..`)"),
        )
    })
}

/// The member a link member `name` names: a symlink relative to its directory, a hard
/// link from the top; refused when it would leave the archive.
pub(crate) fn link_target<R: Read>(
    path: &Path,
    name: &str,
    entry: &tar::Entry<R>,
) -> Result<String> {
    let target = entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let base = if entry.header().entry_type().is_symlink() {
        parent(name)
    } else {
        ""
    };
    join_inside(base, &target).ok_or_else(|| {
        ImageError::archive(
            path,
            format!("archive member `{name}` links to `{target}`, outside the archive"),
        )
    })
}

fn stage_named(
    store: &Store,
    path: &Path,
    members: &mut Members,
    name: &str,
    digest: Digest,
    size: u64,
    entry: &mut impl Read,
) -> Result<()> {
    members.by_name.insert(name.to_string(), digest.clone());
    if members.blobs.contains_key(&digest) || members.present.contains_key(&digest) {
        return Ok(()); // a duplicate member: the tar reader skips its bytes
    }
    let origin = Origin::Member {
        archive: path.to_path_buf(),
        name: name.to_string(),
    };
    let ingested = ingest::into_store(store, &digest, size, &origin, |offset| {
        // A partial ingest left by an interrupted load: its bytes are already hashed,
        // so skip them in the stream instead of writing them again.
        let mut reader = MemberReader(entry);
        let skipped = io::copy(&mut (&mut reader).take(offset), &mut io::sink())
            .map_err(ImageError::io(format!("read {origin}")))?;
        if skipped != offset {
            return Err(ImageError::TruncatedBlob {
                digest: digest.clone(),
                origin: origin.clone(),
                got: skipped,
                want: size,
            });
        }
        Ok(reader)
    })?;
    match ingested {
        Ingested::Present(size) => {
            members.present.insert(digest, size);
        }
        // Written now, or shared from another load that verified the same bytes.
        Ingested::Staged(blob) => {
            members.blobs.insert(digest, blob);
        }
    }
    Ok(())
}

/// A member's reader whose errors say what they mean here: the archive ends early or is
/// damaged.
struct MemberReader<R>(R);

impl<R: Read> Read for MemberReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("archive is truncated or corrupt: {e}")))
    }
}

fn check_complete(path: &Path, name: &str, got: u64, want: u64) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(ImageError::archive(
        path,
        format!("archive is truncated: member `{name}` has {got} of its {want} bytes"),
    ))
}

fn is_small_document(name: &str) -> bool {
    matches!(name, "oci-layout" | "repositories")
        || name.ends_with(".json")
        || name.ends_with("/json")
}

/// `blobs/<alg>/<hex>` → the digest it promises; other names → None.
fn blob_name(name: &str) -> Option<std::result::Result<Digest, String>> {
    let rest = name.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Some(
        Digest::parse(&format!("{alg}:{hex}"))
            .map_err(|e| format!("archive member `{name}` is not named by a valid digest: {e}")),
    )
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// `./a//b/` → `a/b`; None for absolute paths and any `..` component.
pub fn normalize(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Resolves a link target against the directory holding the link, lexically; None when
/// the result would leave the archive (absolute, or `..` above the top).
fn join_inside(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_resolve_inside_the_archive_only() {
        assert_eq!(
            join_inside("b", "../a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(
            join_inside("", "a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(join_inside("b", "../../etc/passwd"), None);
        assert_eq!(join_inside("b", "/etc/passwd"), None);
    }

    use super::*;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(
            normalize("./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(normalize("manifest.json").as_deref(), Some("manifest.json"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../etc"), None);
        assert_eq!(normalize("a/../b"), None);
    }

    #[test]
    fn blob_names_must_be_digests() {
        assert!(blob_name("index.json").is_none());
        assert!(blob_name("blobs/sha256/xyz").unwrap().is_err());
        let hex = "a".repeat(64);
        assert!(blob_name(&format!("blobs/sha256/{hex}")).unwrap().is_ok());
    }
}
