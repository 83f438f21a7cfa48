//! Applying layers to a directory, safely and exactly per the OCI image-spec `layer.md`.
//!
//! - [`entry`]: what a tar entry means (whiteouts by name, PAX records, cleaned paths).
//! - [`root`]: every path is resolved inside the target with `openat2(RESOLVE_IN_ROOT)`;
//!   nothing outside it is ever written, chmod'ed, chowned or created.
//! - [`applier`]: entries → files, with the layer rules (dir over dir keeps children,
//!   anything else replaces, whiteouts and opaque directories hide lower layers only).
//! - [`apply_tar`]: a layer stream (gzip, zstd or plain, by magic bytes), hashed while it
//!   is applied so the diff_id is checked in the same pass.
//! - [`tree`]: a snapshot directory (overlay-style whiteouts) applied onto a root.
//! - [`export`]: a directory tree written back out as one tar.
//!
//! `tar::Archive::unpack` is never used: it follows symlinks an earlier entry planted.

pub mod applier;
mod attrs;
mod copier;
pub mod entry;
pub mod export;
pub mod path;
pub mod root;
pub mod tree;

use std::io::{self, Read};

use wharf_spec::{Algorithm, Digest, HashingReader};

use crate::read_ahead;
use crate::tar_end::tar_end;

pub use applier::{Applier, ApplyOptions, Content, WhiteoutMode};
pub use entry::{Entry, EntryError, Kind, Meta};
pub use path::RelPath;
pub use root::Root;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("reading the layer: {0}")]
    Read(#[source] io::Error),
    #[error(transparent)]
    Invalid(#[from] EntryError),
    #[error("layer entry `{path}`: {reason}")]
    Entry { path: String, reason: String },
    #[error("layer entry `{path}`: cannot {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the layer's content digest is `{actual}`, the image config says `{expected}`")]
    DiffIdMismatch { expected: Digest, actual: Digest },
}

/// Something applied differently from what the layer asked, as Docker would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Not root: files belong to the user running wharf.
    OwnersSkipped,
    /// Not root: device nodes cannot be made.
    DeviceSkipped { path: String },
    XattrSkipped {
        path: String,
        name: String,
        reason: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::OwnersSkipped => {
                write!(f, "not running as root: file owners were not applied")
            }
            Warning::DeviceSkipped { path } => {
                write!(f, "not running as root: device node `{path}` was skipped")
            }
            Warning::XattrSkipped { path, name, reason } => {
                write!(f, "xattr `{name}` of `{path}` was not applied: {reason}")
            }
        }
    }
}

/// What applying one layer stream found.
#[derive(Debug, Clone)]
pub struct Applied {
    pub diff_id: Digest,
    pub size: u64,
    pub entries: u64,
}

/// Applies one layer stream (compressed or not) with `applier`, hashing the decompressed
/// bytes in the same pass; with `expected`, a different diff_id is an error.
///
/// The stream is decompressed and hashed on a thread of its own, ahead of the entries
/// being applied here. A tar that ends without its two zero blocks, or without the
/// padding after its last file (as `umoci insert` ≤ 0.4.7 wrote them), is accepted, as
/// Docker does; the diff_id covers the bytes as they are.
pub fn apply_tar<R: Read + Send>(
    reader: R,
    applier: &mut Applier,
    expected: Option<&Digest>,
) -> Result<Applied, ApplyError> {
    std::thread::scope(|scope| {
        let (pipe, producer) = read_ahead::pipe();
        let decoder = scope.spawn(move || -> io::Result<(Digest, u64)> {
            let (_, decoded) = crate::decompress(reader)?;
            let mut hashing = HashingReader::new(decoded, Algorithm::Sha256);
            producer.fill_from(&mut hashing)?;
            Ok(hashing.finish())
        });
        let entries = apply_entries(pipe, applier)?;
        let (diff_id, size) = decoder
            .join()
            .map_err(|_| ApplyError::Read(io::Error::other("the layer decoder panicked")))?
            .map_err(ApplyError::Read)?;
        if let Some(expected) = expected {
            if &diff_id != expected {
                return Err(ApplyError::DiffIdMismatch {
                    expected: expected.clone(),
                    actual: diff_id,
                });
            }
        }
        Ok(Applied {
            diff_id,
            size,
            entries,
        })
    })
}

/// Applies the entries of the tar `stream` and reads it to its end; the count applied.
fn apply_entries(stream: read_ahead::Pipe, applier: &mut Applier) -> Result<u64, ApplyError> {
    let (stream, tracker) = tar_end(stream);
    let mut archive = tar::Archive::new(stream);
    let mut entries = 0;
    for item in archive.entries().map_err(ApplyError::Read)? {
        let mut item = item.map_err(ApplyError::Read)?;
        tracker.entry(&item);
        let Some(entry) = entry::from_tar(&mut item)? else {
            continue;
        };
        entries += 1;
        let content = if entry.kind == Kind::File {
            Content::Reader(&mut item)
        } else {
            Content::None
        };
        applier.apply(&entry, content)?;
    }
    tracker.entries_done();
    // The padding after the end-of-archive blocks is part of the diff_id too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(ApplyError::Read)?;
    Ok(entries)
}
