//! Building layers: a directory or a tar file → a compressed layer blob, streamed into
//! the caller's writer (the store's ingest, which hashes the compressed bytes) while the
//! diff_id is computed from the uncompressed bytes in the same pass.
//!
//! Reproducible: the same tree, options and wharf version give the same bytes — entries
//! sorted, mtimes clamped to `SOURCE_DATE_EPOCH` when given, owners normalized on request,
//! no host user names, gzip members of a fixed size ([`pgzip`]) and zstd in its
//! thread-count-independent mode.

pub mod diff;
pub mod encode;
pub mod pgzip;
mod tar_out;
mod tarball;
mod walk;
mod xattr;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use wharf_spec::Digest;

pub use encode::{default_threads, LayerEncoder};
pub use tar_out::{Entry, EntryKind};

use crate::Compression;

/// What a layer is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSource {
    /// A directory whose contents become the layer, under `dest` (relative, `/`-separated,
    /// no `..`; empty for the layer's root).
    Directory { path: PathBuf, dest: String },
    /// A tar archive (plain, gzip or zstd) whose entries are the layer as they are.
    Tarball { path: PathBuf },
}

/// How entries from a directory are normalized (tar files are used as they are).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalize {
    /// mtimes later than this (seconds since the epoch) are set to it.
    pub source_date_epoch: Option<u64>,
    /// Every entry's owner, instead of the files' own (`--owner 0:0`).
    pub owner: Option<(u64, u64)>,
}

impl Normalize {
    fn mtime(&self, mtime: i64) -> u64 {
        let mtime = mtime.max(0) as u64;
        self.source_date_epoch.map_or(mtime, |max| mtime.min(max))
    }
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub compression: Compression,
    /// gzip 0–9, zstd 1–22; `None`: 6 and 3.
    pub level: Option<i32>,
    pub normalize: Normalize,
    /// Compression threads; `None`: every core. The output does not depend on it.
    pub threads: Option<usize>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            compression: Compression::Gzip,
            level: None,
            normalize: Normalize::default(),
            threads: None,
        }
    }
}

impl BuildOptions {
    fn threads(&self) -> usize {
        self.threads.unwrap_or_else(default_threads).max(1)
    }
}

/// A layer written: what goes into the config (`diff_id`) and the manifest
/// (`compression`; the blob's digest and size are the writer's to know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    pub diff_id: Digest,
    /// Uncompressed size.
    pub size: u64,
    /// How the blob is compressed (a tar file stored as-is keeps its own).
    pub compression: Compression,
    pub entries: u64,
    /// Paths left out because tar cannot hold them (sockets).
    pub skipped: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("`{0}` does not exist")]
    NotFound(PathBuf),
    #[error("`{0}` is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot {op} `{path}`: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` changed while the layer was being built: {reason}")]
    Changed { path: PathBuf, reason: String },
    #[error("`{path}` is not a tar archive: {reason}")]
    NotATar { path: PathBuf, reason: String },
    #[error("cannot write the layer: {0}")]
    Write(#[source] io::Error),
}

impl BuildError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> BuildError {
        BuildError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Opening a source the user named: a missing one gets its own message.
    fn source(path: &Path, source: io::Error) -> BuildError {
        if source.kind() == io::ErrorKind::NotFound {
            BuildError::NotFound(path.to_path_buf())
        } else {
            BuildError::io("open", path, source)
        }
    }
}

/// Writes the layer made from `source` into `out`, compressed as `options` say; returns
/// `out` (to finish the ingest) and what the config and manifest need.
pub fn build_layer<W: Write>(
    source: &LayerSource,
    options: &BuildOptions,
    out: W,
) -> Result<(W, BuiltLayer), BuildError> {
    match source {
        LayerSource::Directory { path, dest } => directory_layer(path, dest, options, out),
        LayerSource::Tarball { path } => tarball::write_tarball(path, options, out),
    }
}

fn directory_layer<W: Write>(
    path: &Path,
    dest: &str,
    options: &BuildOptions,
    out: W,
) -> Result<(W, BuiltLayer), BuildError> {
    let mut encoder = options.encoder(out)?;
    let stats = walk::write_tree(path, dest.as_bytes(), &options.normalize, &mut encoder)?;
    tar_out::write_end(&mut encoder).map_err(BuildError::Write)?;
    finish(encoder, options.compression, stats)
}

impl BuildOptions {
    fn encoder<W: Write>(&self, out: W) -> Result<LayerEncoder<W>, BuildError> {
        LayerEncoder::new(out, self.compression, self.level, self.threads())
            .map_err(BuildError::Write)
    }
}

/// Flushes the compressor and says what was built.
fn finish<W: Write>(
    encoder: LayerEncoder<W>,
    compression: Compression,
    stats: walk::WalkStats,
) -> Result<(W, BuiltLayer), BuildError> {
    let (out, diff_id, size) = encoder.finish().map_err(BuildError::Write)?;
    Ok((
        out,
        BuiltLayer {
            diff_id,
            size,
            compression,
            entries: stats.entries,
            skipped: stats.skipped,
        },
    ))
}

/// Checks that a source exists and is of the kind it claims, before anything is
/// written (so bad input fails before a single byte is staged).
pub fn check_source(source: &LayerSource) -> Result<(), BuildError> {
    let path = match source {
        LayerSource::Directory { path, .. } | LayerSource::Tarball { path } => path,
    };
    let meta = std::fs::metadata(path).map_err(|e| BuildError::source(path, e))?;
    match source {
        LayerSource::Directory { .. } if !meta.is_dir() => {
            Err(BuildError::NotADirectory(path.clone()))
        }
        LayerSource::Tarball { .. } if !meta.is_file() => Err(BuildError::NotATar {
            path: path.clone(),
            reason: "it is not a regular file".into(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
