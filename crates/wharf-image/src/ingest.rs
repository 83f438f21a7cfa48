//! One blob into the store, from wherever its bytes come from: a registry, a file of an
//! OCI layout, a member of an archive, another store. Every path that writes a blob into
//! the store goes through [`start`] and [`finish`] (or [`into_store`], which joins them
//! around a reader), so a partial left by an interrupted run resumes the same way
//! everywhere and a digest or size mismatch reads the same whatever the source
//! ([`ImageError::CorruptBlob`], naming the [`Origin`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use wharf_spec::Digest;
use wharf_store::{Ingest, IngestStart, StagedBlob, Store, StoreError};

use crate::error::{ImageError, Result};

/// Where a blob's bytes come from, as errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A registry (its domain).
    Registry(String),
    /// A file: a blob of an OCI layout directory.
    File(PathBuf),
    /// A member of an archive.
    Member { archive: PathBuf, name: String },
    /// Another store (the staging store of a copy).
    Store(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Registry(domain) => write!(f, "registry `{domain}`"),
            Origin::File(path) => write!(f, "file `{}`", path.display()),
            Origin::Member { archive, name } => {
                write!(f, "member `{name}` of archive `{}`", archive.display())
            }
            Origin::Store(root) => write!(f, "store `{}`", root.display()),
        }
    }
}

/// How a blob's bytes differ from what names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Digest { actual: Digest },
    Size { expected: u64, actual: u64 },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Digest { actual } => {
                write!(
                    f,
                    "does not match its digest: the content hashes to `{actual}`"
                )
            }
            Mismatch::Size { expected, actual } => write!(
                f,
                "does not match its size: {actual} bytes arrived, the descriptor says {expected}"
            ),
        }
    }
}

/// Where [`start`] leaves a blob.
pub enum Started {
    /// The store has it already (its size).
    Present(u64),
    /// Another run verified the same bytes: shared, nothing to write.
    Staged(StagedBlob),
    /// Bytes to write from the writer's offset: 0, or the end of a partial left by an
    /// interrupted run, whose bytes are hashed already.
    Write(Ingest),
}

/// Where a blob ends.
pub enum Ingested {
    Present(u64),
    Staged(StagedBlob),
}

impl Ingested {
    /// The staged blob to commit, if this run wrote or shared one.
    pub fn staged(self) -> Option<StagedBlob> {
        match self {
            Ingested::Present(_) => None,
            Ingested::Staged(blob) => Some(blob),
        }
    }
}

/// Begins writing the blob `digest` of `size` bytes into the store. A partial longer than
/// the blob cannot be a prefix of it and starts again from 0.
pub fn start(store: &Store, digest: &Digest, size: u64) -> Result<Started> {
    Ok(match store.ingest(digest, Some(size))? {
        IngestStart::Exists(size) => Started::Present(size),
        IngestStart::Staged(staged) => Started::Staged(staged),
        IngestStart::Writer(mut ingest) => {
            if ingest.offset() > size {
                ingest.restart()?;
            }
            Started::Write(ingest)
        }
    })
}

/// Verifies what was written and stages it. On a mismatch the store has deleted the
/// partial (its bytes can only mismatch again) and the error names `origin`.
pub fn finish(ingest: Ingest, digest: &Digest, origin: &Origin) -> Result<StagedBlob> {
    ingest.finish().map_err(|e| corrupt(e, digest, origin))
}

/// A store error, as [`ImageError::CorruptBlob`] when it says the bytes were wrong.
pub fn corrupt(error: StoreError, digest: &Digest, origin: &Origin) -> ImageError {
    let mismatch = match error {
        StoreError::DigestMismatch { actual, .. } => Mismatch::Digest { actual },
        StoreError::SizeMismatch {
            expected, actual, ..
        } => Mismatch::Size { expected, actual },
        other => return other.into(),
    };
    ImageError::CorruptBlob {
        digest: digest.clone(),
        origin: origin.clone(),
        mismatch,
    }
}

/// Checks bytes read whole (a manifest, a config) against their digest, with the same
/// error as a streamed blob.
pub fn check_bytes(bytes: &[u8], digest: &Digest, origin: &Origin) -> Result<()> {
    let actual = Digest::of_bytes(digest.algorithm(), bytes);
    if actual == *digest {
        return Ok(());
    }
    Err(ImageError::CorruptBlob {
        digest: digest.clone(),
        origin: origin.clone(),
        mismatch: Mismatch::Digest { actual },
    })
}

/// Writes the blob `digest` of `size` bytes into the store from `open(offset)`, a reader of the blob's bytes from
/// `offset` on (the end of a partial, or 0), hashing every byte on the way.
pub fn into_store<R: Read>(
    store: &Store,
    digest: &Digest,
    size: u64,
    origin: &Origin,
    open: impl FnOnce(u64) -> Result<R>,
) -> Result<Ingested> {
    let mut ingest = match start(store, digest, size)? {
        Started::Present(size) => return Ok(Ingested::Present(size)),
        Started::Staged(staged) => return Ok(Ingested::Staged(staged)),
        Started::Write(ingest) => ingest,
    };
    let offset = ingest.offset();
    let mut reader = open(offset)?;
    copy(&mut reader, &mut ingest).map_err(ImageError::io(format!(
        "read blob `{}` from {origin}",
        digest
    )))?;
    finish_written(ingest, digest, size, origin).map(Ingested::Staged)
}

/// [`finish`] for a writer that has had all the bytes its source gave: fewer than `size`
/// is not a mismatch but a prefix, kept for a later run to resume
/// ([`ImageError::TruncatedBlob`]).
pub fn finish_written(
    ingest: Ingest,
    digest: &Digest,
    size: u64,
    origin: &Origin,
) -> Result<StagedBlob> {
    let got = ingest.written();
    if got < size {
        return Err(ImageError::TruncatedBlob {
            digest: digest.clone(),
            origin: origin.clone(),
            got,
            want: size,
        });
    }
    finish(ingest, digest, origin)
}

/// Copies with a large buffer: the store hashes and writes in the same pass.
pub fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_spec::{media_type, Descriptor};

    fn blob(bytes: &[u8]) -> Descriptor {
        Descriptor::new(
            media_type::OCI_LAYER_TAR,
            Digest::sha256_of(bytes),
            bytes.len() as u64,
        )
    }

    fn origin() -> Origin {
        Origin::Member {
            archive: "a.tar".into(),
            name: "blobs/sha256/x".into(),
        }
    }

    #[test]
    fn a_blob_is_written_verified_and_then_present() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bytes = b"some layer bytes".repeat(1000);
        let d = blob(&bytes);
        let got = into_store(&store, &d.digest, d.size, &origin(), |at| {
            Ok(&bytes[at as usize..])
        })
        .unwrap();
        let staged = got.staged().expect("written");
        store.commit(vec![staged], |_| Ok(())).unwrap();
        let again = into_store(&store, &d.digest, d.size, &origin(), |_| -> Result<&[u8]> {
            panic!("a present blob is not read")
        })
        .unwrap();
        assert!(matches!(again, Ingested::Present(n) if n == bytes.len() as u64));
    }

    #[test]
    fn a_prefix_is_kept_and_the_next_run_reads_only_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bytes = b"0123456789".repeat(100);
        let d = blob(&bytes);
        let err = into_store(&store, &d.digest, d.size, &origin(), |_| Ok(&bytes[..300]))
            .err()
            .expect("a short read fails");
        assert_eq!(
            err.to_string(),
            format!(
                "blob `{}` from member `blobs/sha256/x` of archive `a.tar` is truncated: 300 of its 1000 bytes arrived",
                d.digest
            )
        );
        let mut asked = None;
        into_store(&store, &d.digest, d.size, &origin(), |at| {
            asked = Some(at);
            Ok(&bytes[at as usize..])
        })
        .unwrap();
        assert_eq!(asked, Some(300));
    }

    #[test]
    fn wrong_bytes_name_the_origin_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = blob(b"the right bytes");
        let wrong = b"the wrong bytes";
        let err = into_store(
            &store,
            &d.digest,
            d.size,
            &Origin::File("/l/blobs/x".into()),
            |_| Ok(&wrong[..]),
        )
        .err()
        .expect("a mismatch fails");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "blob `{}` from file `/l/blobs/x` does not match its digest: the content hashes to",
                d.digest
            )),
            "{text}"
        );
        assert!(
            text.contains(&Digest::sha256_of(wrong).to_string()),
            "{text}"
        );
        // Nothing of it stays to be resumed: the next run reads from 0.
        let mut asked = None;
        into_store(&store, &d.digest, d.size, &origin(), |at| {
            asked = Some(at);
            Ok(&b"the right bytes"[at as usize..])
        })
        .unwrap();
        assert_eq!(asked, Some(0));
    }

    #[test]
    fn bytes_read_whole_get_the_same_error() {
        let d = Digest::sha256_of(b"config");
        let err = check_bytes(b"other", &d, &Origin::Registry("r.io".into())).unwrap_err();
        assert!(err.to_string().starts_with(&format!(
            "blob `{d}` from registry `r.io` does not match its digest: the content hashes to"
        )));
        check_bytes(b"config", &d, &Origin::Registry("r.io".into())).unwrap();
    }
}
