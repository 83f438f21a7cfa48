//! A tar file (plain, gzip or zstd) as a layer, its entries used as they are.
//!
//! Its bytes are checked to be a tar archive in the same pass that stores them: when it
//! is already compressed the way the layer should be, the file's own bytes become the
//! blob (as `crane append` does); otherwise it is decoded and re-encoded.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use wharf_spec::{Algorithm, HashingReader};

use super::walk::WalkStats;
use super::{BuildError, BuildOptions, BuiltLayer};
use crate::compression::{decompress, detect};
use crate::tar_end::tar_end;
use crate::Compression;

pub fn write_tarball<W: Write>(
    path: &Path,
    options: &BuildOptions,
    out: W,
) -> Result<(W, BuiltLayer), BuildError> {
    let file = File::open(path).map_err(|e| BuildError::source(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let found = detect(&mut reader).map_err(|e| BuildError::io("read", path, e))?;
    if found == options.compression {
        as_is(path, reader, found, out)
    } else {
        recompress(path, reader, options, out)
    }
}

/// Stores the file's bytes unchanged while decoding them to hash and check the tar.
fn as_is<R: Read, W: Write>(
    path: &Path,
    reader: R,
    compression: Compression,
    out: W,
) -> Result<(W, BuiltLayer), BuildError> {
    let mut tee = Tee {
        inner: reader,
        out,
        error: None,
    };
    let checked = decompress(&mut tee)
        .map_err(|e| BuildError::io("read", path, e))
        .and_then(|(_, decoded)| {
            let mut hashing = HashingReader::new(decoded, Algorithm::Sha256);
            let entries = check_tar(path, &mut hashing)?;
            let (diff_id, size) = hashing.finish();
            Ok((entries, diff_id, size))
        });
    // Bytes after the end of the compressed stream (or of the tar) are kept too.
    let drained = checked.and_then(|done| {
        io::copy(&mut tee, &mut io::sink())
            .map(|_| done)
            .map_err(|e| BuildError::io("read", path, e))
    });
    let (entries, diff_id, size) = write_error_first(&mut tee.error, drained)?;
    Ok((
        tee.out,
        BuiltLayer {
            diff_id,
            size,
            compression,
            entries,
            skipped: Vec::new(),
        },
    ))
}

fn recompress<R: Read, W: Write>(
    path: &Path,
    reader: R,
    options: &BuildOptions,
    out: W,
) -> Result<(W, BuiltLayer), BuildError> {
    let (_, decoded) = decompress(reader).map_err(|e| BuildError::io("read", path, e))?;
    let encoder = options.encoder(out)?;
    let mut tee = Tee {
        inner: decoded,
        out: encoder,
        error: None,
    };
    let checked = check_tar(path, &mut tee).and_then(|entries| {
        io::copy(&mut tee, &mut io::sink())
            .map(|_| entries)
            .map_err(|e| BuildError::io("read", path, e))
    });
    let entries = write_error_first(&mut tee.error, checked)?;
    let stats = WalkStats {
        entries,
        skipped: Vec::new(),
    };
    super::finish(tee.out, options.compression, stats)
}

/// Reads every entry header and body; a stream that is not a tar archive is an error
/// naming the file. Returns the number of entries.
fn check_tar<R: Read>(path: &Path, reader: R) -> Result<u64, BuildError> {
    let not_tar = |e: io::Error| BuildError::NotATar {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // A tar that stops after its last file's content is complete, as Go reads it.
    let (reader, tracker) = tar_end(reader);
    let mut archive = tar::Archive::new(reader);
    let mut entries = 0u64;
    for entry in archive.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        tracker.entry(&entry);
        io::copy(&mut entry, &mut io::sink()).map_err(not_tar)?;
        entries += 1;
    }
    if entries == 0 {
        return Err(BuildError::NotATar {
            path: path.to_path_buf(),
            reason: "it holds no entries".into(),
        });
    }
    tracker.entries_done();
    // The rest (end-of-archive blocks, padding) is part of the layer and of its digest.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(not_tar)?;
    Ok(entries)
}

/// A reader that copies every byte it yields into `out`. A write error is kept aside
/// (and the read fails) so it is reported as a write error, not as bad input.
struct Tee<R, W> {
    inner: R,
    out: W,
    error: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let kind = e.kind();
            self.error = Some(e);
            return Err(io::Error::new(kind, "writing the layer failed"));
        }
        Ok(n)
    }
}

/// A failed write into the layer is what went wrong, whatever the reading side made of it.
fn write_error_first<T>(
    kept: &mut Option<io::Error>,
    result: Result<T, BuildError>,
) -> Result<T, BuildError> {
    match kept.take() {
        Some(write) => Err(BuildError::Write(write)),
        None => result,
    }
}
