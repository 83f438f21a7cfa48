//! Storage: where bytes and facts live. Services call these; nothing here knows HTTP.
//!
//! - [`BlobStore`]: committed blobs by digest (`object_store`: the local filesystem by
//!   default; S3 slots in as another `ObjectStore`).
//! - [`UploadArea`]: the bytes of upload sessions in progress, as local files that are
//!   appended to, hashed as they arrive, and handed to the blob store once verified.
//! - [`Metadata`]: repositories, blob membership, manifests, tags and upload sessions in SQL
//!   ([`Backend`]: SQLite in the root, or PostgreSQL shared by replicas).

mod blobs;
mod browse;
mod meta;
mod sweep;
mod uploads;

pub use blobs::{BlobStore, ByteStream, ObjectBlobStore};
pub use browse::{BlobUse, TagRow};
pub use meta::{
    redact_url, Backend, ManifestRecord, Metadata, NewManifest, ReferrerRecord, UploadRecord,
};
pub use sweep::DeadBlob;
pub use uploads::{Appended, SessionLock, UploadArea};

/// Seconds since the Unix epoch, for `created_at` columns.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
