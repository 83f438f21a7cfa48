//! The store's error type: every message is one line naming the file or digest at fault.

use std::io;
use std::path::PathBuf;

use wharf_spec::Digest;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} `{}`: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob `{0}` is not in the store")]
    BlobNotFound(Digest),
    #[error("digest mismatch: expected `{expected}`, but the content hashes to `{actual}`")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for blob `{digest}`: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error(
        "blob `{digest}` is {size} bytes, over the {max}-byte limit for reading it into memory"
    )]
    TooLarge { digest: Digest, size: u64, max: u64 },
    #[error("blob `{digest}` is corrupt: its content hashes to `{actual}`")]
    CorruptBlob { digest: Digest, actual: Digest },
    #[error("`{}` is malformed: {reason}", path.display())]
    CorruptIndex { path: PathBuf, reason: String },
    #[error("blob `{digest}` referenced by {referenced_by} is not in the store")]
    MissingBlob {
        digest: Digest,
        referenced_by: String,
    },
    #[error("manifest `{digest}` referenced by {referenced_by} cannot be parsed: {reason}")]
    InvalidManifest {
        digest: Digest,
        referenced_by: String,
        reason: String,
    },
    #[error("`{}` is not a supported OCI image layout: {reason}", path.display())]
    UnsupportedLayout { path: PathBuf, reason: String },
    #[error("`{}` is not a regular file (wharf never follows symlinks or opens special files in the store)", .0.display())]
    NotARegularFile(PathBuf),
    #[error(
        "refusing to collect garbage: cannot tell what manifest `{digest}` references ({reason})"
    )]
    GcUnsafe { digest: Digest, reason: String },
    /// An `update` closure passed to [`crate::Store::commit`] refused the change.
    #[error("{0}")]
    Update(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a caller's reason for rejecting an index update (e.g. "no such tag").
    pub fn update(reason: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Update(reason.into())
    }
}

impl From<wharf_fs::FsError> for StoreError {
    fn from(e: wharf_fs::FsError) -> Self {
        StoreError::Io {
            op: e.action,
            path: e.path,
            source: e.source,
        }
    }
}

/// `map_err` helper: attaches what was being done and to which path.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { op, path, source }
}
