//! What a pull reports while it works; the binary turns these into Docker's lines.

use wharf_spec::{Digest, Reference};

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullEvent {
    /// Asking the registry what `reference` names.
    Resolving {
        reference: Reference,
    },
    /// A layer the store already holds: nothing to transfer.
    LayerAlreadyExists(Digest),
    /// A layer to download, queued for a download slot.
    LayerWaiting(Digest),
    /// `done` of `total` bytes are in the store's partial file (a resumed layer starts
    /// above zero).
    LayerDownloading {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// All bytes arrived; the digest is being checked.
    LayerVerifying(Digest),
    /// The layer's digest matched; it waits, staged, for the commit.
    LayerDownloaded(Digest),
    /// The image was committed: the layer is part of it.
    LayerComplete(Digest),
    /// The digest the registry gave for the reference.
    Digest(Digest),
    Status {
        up_to_date: bool,
    },
}
