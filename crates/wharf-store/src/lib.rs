//! wharf-store: the local image store.
//!
//! The store root *is* an OCI image layout, readable as-is by `skopeo` and `umoci`:
//!
//! ```text
//! ROOT/
//!   oci-layout                       {"imageLayoutVersion":"1.0.0"}
//!   index.json                       the image index; entries named by `org.opencontainers.image.ref.name`
//!   blobs/<alg>/<hex>                committed, verified blobs
//!   .wharf/                          wharf's private state (other tools ignore it)
//!     store.lock                     operation lock: shared by load/pull/tag/rmi, exclusive for gc, fsck --repair
//!     index.lock                     held around every read-modify-write of index.json
//!     ingest/<alg>-<hex>.lock        the one writer of a digest (exists only while held)
//!     ingest/<alg>-<hex>.partial     bytes written so far; resumable after a crash
//!     ingest/<alg>-<hex>.verified    written and verified, not yet committed; shared-locked
//!                                    by every StagedBlob of it
//!     tmp/<pid>-<time>-<n>.tmp       unknown-digest ingests, staged bytes, index.json and cache
//!                                    temps; locked by their owner, so an unlocked one is debris
//!     layers/<alg>/<hex>.json        layer-info cache: {"diffId":"sha256:...","size":N[,"contentSize":N]}
//!     blob-info.json                 where blobs were seen in registries (mount hints), bounded
//! ```
//!
//! A known-digest blob moves `.partial` → `.verified` (rename) → `blobs/` (hard link, so
//! other holders of the verified file keep a valid path). The digest lock is held only
//! while writing: a second ingest of the same digest waits for
//! the writer to finish, then shares its verified file ([`IngestStart::Staged`]) rather
//! than waiting for a commit that may itself wait on blobs the second one holds.
//!
//! It knows nothing about HTTP or tar: callers stream bytes in through [`Ingest`] and
//! publish them with [`Store::commit`].
//!
//! # Architecture invariants
//!
//! - A blob is visible in `blobs/` only after every byte was hashed in the pass that wrote
//!   it and the digest matched: temp name, fsync, rename, fsync directory.
//! - Nothing whole in memory except manifests and configs (capped by `read_blob`'s `max`);
//!   streams go through ~1 MiB buffers.
//! - `kill -9` at any point leaves at worst unlocked partial/temp files, which gc and
//!   fsck remove ([`Store::clear_dead_debris`], run by each load, removes those nothing
//!   can resume). `index.json` is only ever replaced by rename, after the blobs it
//!   references are durable. Nothing committed is lost.
//! - All coordination is by `flock` (threads and processes alike); a dead process's locks
//!   vanish with it.
//! - Nothing under `blobs/` is ever followed if it is a symlink.

mod blob_info;
mod error;
mod fsck;
mod gc;
mod index;
mod ingest;
mod layer_info;
mod layout;
mod lock;
mod reach;

pub use blob_info::{BlobLocation, BlobLocations};
pub use error::StoreError;
pub use fsck::{CorruptBlob, FsckReport, Leftover, StrayFile, StrayKind};
pub use gc::GcReport;
pub use ingest::{Ingest, IngestStart, StagedBlob};
pub use layer_info::LayerInfo;
pub use layout::Store;
pub use lock::StoreGuard;
pub use reach::Reachability;
