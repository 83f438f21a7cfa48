//! Errors of image operations: each names the image, blob or file at fault.

use std::path::PathBuf;

use wharf_spec::{ConfigError, Digest, ManifestError, ReferenceError};
use wharf_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Publishing a file (an archive, a layout's `index.json` or blob) failed.
    #[error(transparent)]
    Fs(#[from] wharf_fs::FsError),
    #[error(transparent)]
    Registry(#[from] wharf_client::ClientError),
    /// A new layer could not be built (`append`).
    #[error(transparent)]
    Build(#[from] wharf_layer::build::BuildError),
    #[error("manifest `{digest}`: {source}")]
    Manifest {
        digest: Digest,
        #[source]
        source: ManifestError,
    },
    #[error("image config `{digest}`: {source}")]
    Config {
        digest: Digest,
        #[source]
        source: ConfigError,
    },
    #[error("No such image: `{0}`")]
    NotFound(String),
    #[error("`{input}` is ambiguous: it matches {count} images")]
    Ambiguous { input: String, count: usize },
    #[error("`{path}`: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A layer could not be applied (unpack, snapshots): which layer, and why.
    #[error("layer `{layer}`: {source}")]
    Layer {
        layer: Digest,
        #[source]
        source: wharf_layer::apply::ApplyError,
    },
    #[error("layer `{layer}` does not match the image config: its content digest is `{actual}`, the config says `{expected}`")]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// A blob whose bytes did not hash to its digest (or had another size), wherever they
    /// came from: the one wording of [`crate::ingest`].
    #[error("blob `{digest}` from {origin} {mismatch}")]
    CorruptBlob {
        digest: Digest,
        origin: crate::ingest::Origin,
        mismatch: crate::ingest::Mismatch,
    },
    /// Fewer bytes arrived than the blob has; what did arrive is kept to resume from.
    #[error("blob `{digest}` from {origin} is truncated: {got} of its {want} bytes arrived")]
    TruncatedBlob {
        digest: Digest,
        origin: crate::ingest::Origin,
        got: u64,
        want: u64,
    },
    #[error("no image for platform `{wanted}`; the index has: {available}")]
    PlatformNotFound { wanted: String, available: String },
    #[error("conflict: {0}")]
    Conflict(String),
    /// One of wharf's own worker tasks or threads failed (a panic): a bug in wharf, not
    /// bad input; the operation stops and publishes nothing.
    #[error("internal error: the {task} task failed: {source}")]
    Internal {
        task: &'static str,
        #[source]
        source: TaskFailure,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ImageError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
        let context = context.into();
        move |source| ImageError::Io { context, source }
    }

    /// A Docker schema1 manifest met in a graph: refused, naming it.
    pub fn schema1(descriptor: &wharf_spec::Descriptor) -> ImageError {
        ImageError::Manifest {
            digest: descriptor.digest.clone(),
            source: ManifestError::Schema1(descriptor.media_type.clone()),
        }
    }

    pub fn archive(path: impl Into<PathBuf>, reason: impl Into<String>) -> ImageError {
        ImageError::Archive {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// How a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    /// A task on the async runtime's blocking pool.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// A thread of our own, with what its panic said.
    #[error("it panicked: {0}")]
    Panic(String),
}

impl TaskFailure {
    /// From a thread's panic payload (`JoinHandle::join`'s error).
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> TaskFailure {
        let said = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        TaskFailure::Panic(said)
    }
}

impl ImageError {
    /// For `map_err` on a failed worker: `.map_err(ImageError::internal("store"))`.
    pub fn internal<E: Into<TaskFailure>>(task: &'static str) -> impl FnOnce(E) -> ImageError {
        move |e| ImageError::Internal {
            task,
            source: e.into(),
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
