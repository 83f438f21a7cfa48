//! An image archive read in place: each member's bytes are found once (where they start
//! in the file, how many there are) and then opened at any offset, so an archive source
//! serves blobs like a layout directory without copying them anywhere.
//!
//! A compressed archive (gzip or zstd, sniffed) cannot be read at an offset: it is
//! decompressed once into a temporary plain tar, which is indexed instead and removed
//! when the index goes. Links between members (Docker ≥ 25 writes its legacy layer paths
//! as symlinks into `blobs/`) resolve to the member they name, inside the archive only.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use wharf_client::UploadSource;
use wharf_spec::MAX_MANIFEST_SIZE;

use crate::error::{ImageError, Result};
use crate::load::members::{entry_error, entry_name, link_target};
use crate::load::oci_dir::open_nofollow;
use crate::push::store_source::file_stream;

/// Links followed from one name before giving up (a loop).
const MAX_LINK_HOPS: usize = 16;

pub struct TarIndex {
    /// The archive as the user named it, for messages.
    pub archive: PathBuf,
    /// The plain tar the spans point into: the archive, or its decompressed copy.
    plain: PathBuf,
    /// Regular members: where their bytes start, and how many there are.
    members: BTreeMap<String, (u64, u64)>,
    /// Symlinks and hard links: name → the member path they name.
    links: BTreeMap<String, String>,
    /// Holds the decompressed copy of a compressed archive until the index goes.
    _decompressed: Option<tempfile::TempPath>,
}

impl TarIndex {
    /// Indexes the archive at `path`. Blocking file work: call it off the async runtime.
    pub fn open(path: &Path) -> Result<TarIndex> {
        let cannot = |e: io::Error| ImageError::Io {
            context: format!("read `{}`", path.display()),
            source: e,
        };
        let file = open_nofollow(path).map_err(cannot)?;
        if file.metadata().map_err(cannot)?.len() == 0 {
            return Err(ImageError::archive(path, "the file is empty"));
        }
        let mut head = BufReader::new(file);
        let compression = wharf_layer::detect(&mut head).map_err(cannot)?;
        let (plain, decompressed) = if compression == wharf_layer::Compression::None {
            (path.to_path_buf(), None)
        } else {
            let copy = decompress_to_temp(path, head)?;
            (copy.to_path_buf(), Some(copy))
        };
        let mut index = TarIndex {
            archive: path.to_path_buf(),
            plain,
            members: BTreeMap::new(),
            links: BTreeMap::new(),
            _decompressed: decompressed,
        };
        index.read_headers()?;
        Ok(index)
    }

    /// Headers only: each member's data is skipped by seeking, so indexing reads a few
    /// blocks per member, not the archive; the blobs are read once, when copied.
    fn read_headers(&mut self) -> Result<()> {
        let path = self.archive.clone();
        let broken = |e: io::Error| {
            ImageError::archive(&path, format!("archive is truncated or corrupt: {e}"))
        };
        let file = open_nofollow(&self.plain).map_err(broken)?;
        let length = file.metadata().map_err(broken)?.len();
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut first = true;
        for entry in archive.entries_with_seek().map_err(broken)? {
            let entry = entry.map_err(|e| entry_error(&path, first, e))?;
            first = false;
            let name = entry_name(&path, &entry)?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = link_target(&path, &name, &entry)?;
                if name.starts_with("blobs/") {
                    // As `wharf load` reads archives: a blob is a file of its own.
                    return Err(ImageError::archive(
                        &path,
                        format!("archive member `{name}` is a link; blobs must be regular files"),
                    ));
                }
                self.links.insert(name, target);
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let (start, size) = (entry.raw_file_position(), entry.size());
                // Seeking past the end succeeds: a cut archive shows only here.
                if start.saturating_add(size) > length {
                    return Err(ImageError::archive(
                        &path,
                        format!(
                            "archive is truncated: member `{name}` has {} of its {size} bytes",
                            length.saturating_sub(start)
                        ),
                    ));
                }
                self.members.insert(name, (start, size));
            }
        }
        Ok(())
    }

    /// Where the member `name` (after links) starts and how long it is.
    pub fn span(&self, name: &str) -> Option<(u64, u64)> {
        let mut current = name;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(&span) = self.members.get(current) {
                return Some(span);
            }
            current = self.links.get(current)?;
        }
        None
    }

    pub fn contains(&self, name: &str) -> bool {
        self.span(name).is_some()
    }

    /// A member read whole, capped at the manifest size limit (documents, configs).
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (offset, size) = self.span(name).ok_or_else(|| {
            ImageError::archive(
                &self.archive,
                format!("`{name}` is missing from the archive"),
            )
        })?;
        if size > MAX_MANIFEST_SIZE {
            return Err(ImageError::archive(
                &self.archive,
                format!("`{name}` is over the {MAX_MANIFEST_SIZE}-byte limit"),
            ));
        }
        let failed =
            |e: io::Error| ImageError::archive(&self.archive, format!("cannot read `{name}`: {e}"));
        let mut bytes = Vec::with_capacity(size as usize);
        self.reader((offset, size))
            .map_err(failed)?
            .read_to_end(&mut bytes)
            .map_err(failed)?;
        if bytes.len() as u64 != size {
            return Err(ImageError::archive(
                &self.archive,
                format!("`{name}` is truncated"),
            ));
        }
        Ok(bytes)
    }

    /// A blocking reader of a member's bytes.
    pub fn reader(&self, (offset, size): (u64, u64)) -> io::Result<io::Take<File>> {
        let mut file = open_nofollow(&self.plain)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(file.take(size))
    }

    /// A member as a reopenable stream (an unknown member reads as empty: the sink's
    /// size check names it).
    pub fn stream(&self, name: &str) -> Box<dyn UploadSource> {
        Box::new(MemberStream {
            plain: self.plain.clone(),
            span: self.span(name).unwrap_or((0, 0)),
        })
    }
}

/// Decompresses the archive into a temporary file (the system's temp directory, as the
/// copy's other scratch space).
fn decompress_to_temp(path: &Path, head: BufReader<File>) -> Result<tempfile::TempPath> {
    let failed = |e: io::Error| ImageError::Io {
        context: format!("decompress `{}`", path.display()),
        source: e,
    };
    let (_, mut decoded) = wharf_layer::decompress(head).map_err(failed)?;
    let mut temp = tempfile::Builder::new()
        .prefix("wharf-archive-")
        .suffix(".tar")
        .tempfile()
        .map_err(failed)?;
    io::copy(&mut decoded, temp.as_file_mut())
        .map_err(|e| ImageError::archive(path, format!("archive is truncated or corrupt: {e}")))?;
    Ok(temp.into_temp_path())
}

struct MemberStream {
    plain: PathBuf,
    /// Where the member's bytes start, and how many there are.
    span: (u64, u64),
}

impl UploadSource for MemberStream {
    fn open(&self, offset: u64) -> wharf_client::OpenFuture<'_> {
        let (start, len) = self.span;
        let plain = self.plain.clone();
        file_stream(start + offset.min(len), len - offset.min(len), move || {
            open_nofollow(&plain)
        })
    }
}
