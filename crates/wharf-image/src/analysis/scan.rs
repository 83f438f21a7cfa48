//! One layer read as a stream: every tar entry's path, kind and size, and a fast hash of
//! each file's content (to tell an identical rewrite from a change), while the bytes are
//! hashed for the layer's diff_id. Nothing is written anywhere.

use std::io::{self, Read};

use wharf_spec::{Algorithm, Digest, HashingReader};
use xxhash_rust::xxh3::Xxh3;

/// The prefix of an OCI whiteout entry's name, and the name that makes a directory opaque.
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    /// A hard link: it shares its target's content and stores none of its own.
    HardLink,
    /// A symlink, device, FIFO…: no content.
    Other,
    /// Removes this path from the layers below.
    Whiteout,
    /// Hides everything the layers below hold under this directory.
    Opaque,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Normalized (`a/b`, no `./`, no trailing `/`); for a whiteout the path it removes,
    /// for an opaque marker its directory.
    pub path: String,
    pub kind: Kind,
    /// Content bytes (regular files only).
    pub size: u64,
    /// xxh3-128 of the content (regular files only).
    pub content: u128,
    pub meta: Meta,
}

/// What `wharf diff` compares besides content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// A symlink's target, or the path a hard link names.
    pub link: Option<String>,
    /// Extended attributes (`SCHILY.xattr.*` PAX records), sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Debug)]
pub(crate) struct Scan {
    pub entries: Vec<Entry>,
    /// The uncompressed tar's digest and size.
    pub diff_id: Digest,
    pub tar_size: u64,
}

/// Reads the uncompressed layer `tar` to its end.
pub(crate) fn scan(tar: impl Read) -> io::Result<Scan> {
    let mut hashing = HashingReader::new(tar, Algorithm::Sha256);
    let mut entries = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = normalize(&raw);
            if path.is_empty() {
                continue; // `./`, the root itself
            }
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) => (parent.to_string(), name.to_string()),
                None => (String::new(), path.clone()),
            };
            let kind = entry.header().entry_type();
            let meta = meta_of(&mut entry)?;
            let scanned = if name == OPAQUE {
                Entry::marker(parent, Kind::Opaque)
            } else if let Some(removed) = name.strip_prefix(WHITEOUT_PREFIX) {
                Entry::marker(join(&parent, removed), Kind::Whiteout)
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let (size, content) = hash_content(&mut entry)?;
                Entry {
                    path,
                    kind: Kind::File,
                    size,
                    content,
                    meta,
                }
            } else {
                let kind = if kind.is_dir() {
                    Kind::Dir
                } else if kind.is_hard_link() {
                    Kind::HardLink
                } else {
                    Kind::Other
                };
                Entry {
                    meta,
                    ..Entry::marker(path, kind)
                }
            };
            entries.push(scanned);
        }
    }
    // Whatever follows the end-of-archive blocks is part of the layer's bytes too.
    io::copy(&mut hashing, &mut io::sink())?;
    let (diff_id, tar_size) = hashing.finish();
    Ok(Scan {
        entries,
        diff_id,
        tar_size,
    })
}

impl Entry {
    fn marker(path: String, kind: Kind) -> Entry {
        Entry {
            path,
            kind,
            size: 0,
            content: 0,
            meta: Meta::default(),
        }
    }
}

/// The header's metadata and the entry's PAX xattrs (read before its content).
fn meta_of<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<Meta> {
    let header = entry.header();
    let link = entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let link = match header.entry_type() {
        tar::EntryType::Link => link.map(|l| normalize(&l)),
        _ => link,
    };
    let mut meta = Meta {
        mode: header.mode().unwrap_or(0) & 0o7777,
        uid: header.uid().unwrap_or(0),
        gid: header.gid().unwrap_or(0),
        mtime: header.mtime().unwrap_or(0),
        link,
        xattrs: Vec::new(),
    };
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            if let Ok(key) = extension.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    meta.xattrs
                        .push((name.to_string(), extension.value_bytes().to_vec()));
                }
            }
        }
    }
    meta.xattrs.sort();
    Ok(meta)
}

fn hash_content(reader: &mut impl Read) -> io::Result<(u64, u128)> {
    let mut hasher = Xxh3::new();
    let mut buf = [0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.digest128()))
}

/// `./a//b/` → `a/b`; `..` components are dropped with the name before them, as an
/// extraction that refuses to leave its root would place the entry.
pub(crate) fn normalize(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_inside_the_root() {
        assert_eq!(normalize("./usr//bin/"), "usr/bin");
        assert_eq!(normalize("/etc/passwd"), "etc/passwd");
        assert_eq!(normalize("a/../../b"), "b");
        assert_eq!(normalize("./"), "");
    }
}
